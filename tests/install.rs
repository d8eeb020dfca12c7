//! The Debian package (issue 15): `scripts/deb.sh` packages the debug
//! build that the tests already have (no release build here: CI has a time
//! limit), `dpkg -i` installs it on this machine, and the installed files
//! are used as an operator would: `csirtd --version`, `check-config` on the
//! shipped configuration as the `csirtd` user, an `ingest`, the man pages,
//! the completions, the unit. `dpkg --purge` then removes it.
//!
//! Needs root and dpkg (skipped otherwise, with the reason); needs
//! cargo-deb (`scripts/prereqs.sh --test` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_csirtd");
const CONFIG: &str = "/etc/csirtd/csirtd.toml";

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{shown}: {e}"))
}

fn ok(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{shown} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn dpkg_installed(package: &str) -> bool {
    run(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .stdout
        .starts_with(b"install ok installed")
}

fn user_exists(name: &str) -> bool {
    run(Command::new("getent").args(["passwd", name]))
        .status
        .success()
}

/// Undoes the installation however the test ends: purge, and the user and
/// state directory only when this test made them.
struct Installed {
    made_user: bool,
    made_state: bool,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run(Command::new("dpkg").args(["--purge", "csirtd"]));
        if self.made_state {
            let _ = std::fs::remove_dir_all("/var/lib/csirtd");
        }
        if self.made_user {
            let _ = run(Command::new("userdel").arg("csirtd"));
            let _ = run(Command::new("groupdel").arg("csirtd"));
        }
    }
}

#[test]
fn deb_installs_configures_and_purges() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: the .deb test is skipped (it installs with dpkg -i; CI runs as root)");
        return;
    }
    if !have("dpkg") {
        eprintln!("dpkg not found: the .deb test is skipped (it needs Debian or Ubuntu)");
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let has_cargo_deb = Command::new(&cargo)
        .args(["deb", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_cargo_deb,
        "cargo-deb is not installed: run scripts/prereqs.sh --test"
    );
    // Never replace an installation this test did not make.
    assert!(
        !dpkg_installed("csirtd") && !Path::new("/etc/csirtd").exists(),
        "csirtd is already installed here (dpkg -s csirtd, /etc/csirtd): \
         the .deb test would replace it; remove it first (dpkg --purge csirtd)"
    );

    let started = Instant::now();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    // BIN is <target dir>/debug/csirtd: deb.sh finds it from there.
    let target_dir = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("target dir");
    let out_dir = tempfile::tempdir().expect("tempdir");
    ok(Command::new(repo.join("scripts/deb.sh"))
        .args(["--profile", "dev", "--no-build", "--fast", "--quiet"])
        .arg("--output")
        .arg(out_dir.path())
        .env("CARGO_TARGET_DIR", target_dir)
        .env("CARGO", &cargo)
        .current_dir(repo));
    let deb: PathBuf = std::fs::read_dir(out_dir.path())
        .expect("read output dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("scripts/deb.sh wrote no .deb");
    let built = started.elapsed();

    let listing = ok(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for f in [
        "./usr/bin/csirtd",
        "./etc/csirtd/csirtd.toml",
        "./etc/csirtd/ack.txt",
        "./usr/share/doc/csirtd/examples/csirtd.example.toml",
        "./usr/lib/systemd/system/csirtd.service",
        "./usr/share/man/man1/csirtd.1.gz",
        "./usr/share/man/man1/csirtd-outbox-retry.1.gz",
        "./usr/share/bash-completion/completions/csirtd",
        "./usr/share/zsh/vendor-completions/_csirtd",
        "./usr/share/fish/vendor_completions.d/csirtd.fish",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(f)),
            "{f} is not in the package:\n{listing}"
        );
    }
    assert!(
        !listing.contains("csirtd-generate"),
        "the hidden generate command got a man page:\n{listing}"
    );
    let control = ok(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Depends"));
    for lib in ["libnettle", "libgmp", "libc6"] {
        assert!(control.contains(lib), "Depends lacks {lib}: {control}");
    }

    let guard = Installed {
        made_user: !user_exists("csirtd"),
        made_state: !Path::new("/var/lib/csirtd").exists(),
    };
    let install = || {
        ok(Command::new("dpkg")
            .arg("-i")
            .arg(&deb)
            .env("DEBIAN_FRONTEND", "noninteractive"));
    };
    install();
    // Again, as an upgrade or a reinstall runs postinst: it must not fail
    // on the user and directory it made the first time.
    install();
    let installed = started.elapsed();

    // The same binary, stripped: the same version line, with a commit.
    let version = ok(Command::new("/usr/bin/csirtd").arg("--version"));
    assert_eq!(version, ok(Command::new(BIN).arg("--version")));
    let re = regex::Regex::new(
        r"^csirtd \d+\.\d+\.\d+ \(([0-9a-f]{7,}(-dirty)? \d{4}-\d\d-\d\d|unknown commit)\)\n$",
    )
    .expect("regex");
    assert!(re.is_match(&version), "--version said {version:?}");

    // The user and its state directory.
    let passwd = ok(Command::new("getent").args(["passwd", "csirtd"]));
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    assert_eq!(fields.get(5), Some(&"/var/lib/csirtd"), "{passwd}");
    assert_eq!(fields.get(6), Some(&"/usr/sbin/nologin"), "{passwd}");
    assert_eq!(passwd.lines().count(), 1, "{passwd}");
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::metadata("/var/lib/csirtd").expect("/var/lib/csirtd");
        let uid: u32 = fields[2].parse().expect("uid");
        assert_eq!(meta.uid(), uid, "/var/lib/csirtd is not owned by csirtd");
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o700,
            "/var/lib/csirtd holds the store and mail: only csirtd may read it"
        );
    }

    // The shipped configuration passes check-config as the service's user
    // would run it, and as root.
    let as_csirtd = |args: &[&str]| {
        let mut c = Command::new("runuser");
        c.args(["-u", "csirtd", "--", "/usr/bin/csirtd", "--config", CONFIG])
            .args(args)
            .current_dir("/");
        c
    };
    let summary = ok(&mut as_csirtd(&["check-config"]));
    assert!(summary.contains("CERT-EX"), "check-config said:\n{summary}");
    ok(Command::new("/usr/bin/csirtd").args(["--config", CONFIG, "check-config"]));

    // The annotated example with every key is read by the installed binary:
    // what it refuses is only what a site has to provide (its password
    // files, keys), named by key, never a syntax or unknown-key error.
    let example = run(Command::new("/usr/bin/csirtd").args([
        "--config",
        "/usr/share/doc/csirtd/examples/csirtd.example.toml",
        "check-config",
    ]));
    let said = String::from_utf8_lossy(&example.stderr);
    assert_eq!(example.status.code(), Some(78), "{said}");
    assert!(
        said.contains("password_file") && said.contains("does not exist"),
        "the shipped example failed for another reason than a site's files: {said}"
    );

    // It works as installed: a report piped in by the service's user
    // becomes a ticket in /var/lib/csirtd/store.
    let mut ingest = as_csirtd(&["ingest"]);
    let mut child = ingest
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ingest");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(
                b"From: reporter@example.org\r\nTo: cert@cert.example\r\n\
                  Subject: phishing at 192.0.2.7\r\nMessage-ID: <deb-test@example.org>\r\n\r\n\
                  Please look at 192.0.2.7.\r\n",
            )
            .expect("write report");
    }
    let out = child.wait_with_output().expect("ingest");
    assert!(
        out.status.success(),
        "ingest as csirtd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tickets = ok(&mut as_csirtd(&["ticket", "list"]));
    assert!(
        tickets.contains("phishing at 192.0.2.7"),
        "ticket list:\n{tickets}"
    );

    // Man pages where man finds them, completions where the shells look.
    if have("man") {
        let page = ok(Command::new("man").args(["-w", "csirtd"]));
        assert_eq!(page.trim(), "/usr/share/man/man1/csirtd.1.gz");
        ok(Command::new("man").args(["-w", "csirtd-outbox-retry"]));
    }
    assert!(Path::new("/usr/share/man/man1/csirtd-check-config.1.gz").is_file());
    for (file, marker) in [
        (
            "/usr/share/bash-completion/completions/csirtd",
            "complete -F _csirtd",
        ),
        (
            "/usr/share/zsh/vendor-completions/_csirtd",
            "#compdef csirtd",
        ),
        (
            "/usr/share/fish/vendor_completions.d/csirtd.fish",
            "complete -c csirtd",
        ),
    ] {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.contains(marker), "{file} lacks {marker:?}");
        assert!(
            text.contains("check-config"),
            "{file} lacks the subcommands"
        );
    }

    // The unit is installed, runs the packaged binary, and is not enabled.
    let unit = std::fs::read_to_string("/usr/lib/systemd/system/csirtd.service").expect("unit");
    assert!(unit.contains("ExecStart=/usr/bin/csirtd --config /etc/csirtd/csirtd.toml"));
    assert!(!Path::new("/etc/systemd/system/multi-user.target.wants/csirtd.service").exists());

    let conffiles = ok(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "csirtd"]));
    assert!(conffiles.contains("/etc/csirtd/csirtd.toml"), "{conffiles}");
    assert!(conffiles.contains("/etc/csirtd/ack.txt"), "{conffiles}");

    // Purge removes the package and its conffiles; the data and the user
    // that owns it stay (incident records are not package state).
    ok(Command::new("dpkg").args(["--purge", "csirtd"]));
    assert!(!dpkg_installed("csirtd"));
    assert!(!Path::new("/usr/bin/csirtd").exists());
    assert!(!Path::new(CONFIG).exists());
    assert!(!Path::new("/usr/lib/systemd/system/csirtd.service").exists());
    assert!(Path::new("/var/lib/csirtd/store").is_dir());
    assert!(user_exists("csirtd"));
    drop(guard);
    eprintln!(
        "deb test: package built in {:.1} s, installed twice by {:.1} s, all done in {:.1} s",
        built.as_secs_f64(),
        installed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
