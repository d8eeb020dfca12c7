//! A real mail client as the handler: mutt, driven through a pseudo
//! terminal (its batch mode does not sign), composes a reply from a draft,
//! signs it PGP/MIME with gpg (GPGME) and "sends" it to a capture script.
//! `None` when mutt or python3 is missing: callers then build the mail
//! with gpg, as a client would.

use std::path::Path;
use std::process::Command;

/// Answers mutt's To and Subject prompts, then `y` (send) in the compose menu.
const DRIVER: &str = r#"
import os, pty, select, sys, time
rc, draft = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "vt100"
    os.execvp("mutt", ["mutt", "-n", "-F", rc, "-H", draft])
def drain(t):
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                if not os.read(fd, 65536):
                    return
            except OSError:
                return
for key, wait in [(b"", 3), (b"\r", 1), (b"\r", 2), (b"y", 5)]:
    if key:
        os.write(fd, key)
    drain(wait)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The signed mail mutt sends for `draft` (headers and body, LF), signing
/// as `signer` with the keys in `gnupg_home`.
pub fn signed_reply(gnupg_home: &Path, signer: &str, draft: &str) -> Option<Vec<u8>> {
    if !have("mutt") || !have("python3") {
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let d = dir.path();
    let sent = d.join("sent.eml");
    let capture = d.join("capture.sh");
    std::fs::write(&capture, format!("#!/bin/sh\ncat > '{}'\n", sent.display())).ok()?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&capture, std::fs::Permissions::from_mode(0o755)).ok()?;
    let rc = d.join("muttrc");
    std::fs::write(
        &rc,
        format!(
            "set crypt_use_gpgme = yes\nset crypt_autosign = yes\nset pgp_sign_as = \"{signer}\"\n\
             set sendmail = \"{}\"\nset use_from = yes\nset editor = \"true\"\nset folder = \"{d}\"\n\
             set spoolfile = \"{d}/spool\"\nset record = \"\"\nset send_charset = \"utf-8\"\n\
             set crypt_protected_headers_write = no\n",
            capture.display(),
            d = d.display()
        ),
    )
    .ok()?;
    let draft_file = d.join("draft");
    std::fs::write(&draft_file, draft).ok()?;
    let driver = d.join("drive.py");
    std::fs::write(&driver, DRIVER).ok()?;
    let status = Command::new("timeout")
        .args(["30", "python3"])
        .arg(&driver)
        .arg(&rc)
        .arg(&draft_file)
        .env("GNUPGHOME", gnupg_home)
        .env("HOME", d)
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let raw = std::fs::read(&sent).ok()?;
    String::from_utf8_lossy(&raw)
        .contains("multipart/signed")
        .then_some(raw)
}
