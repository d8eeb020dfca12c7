//! Real DKIM keys and signatures for tests, from Debian's OpenDKIM:
//! `opendkim-genkey` makes the key pair and its TXT record, and the
//! `opendkim` filter itself signs in its test mode (`-t`), which runs the
//! milter code on a file and prints the header it would insert.
//! (`opendkim-testmsg` can only sign rsa-sha1, which verifiers refuse.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct DkimKey {
    pub domain: String,
    pub selector: String,
    pub private: PathBuf,
    /// The contents of the TXT record (the quoted strings genkey wrote).
    pub txt: String,
}

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed: run scripts/prereqs.sh --test (Debian packages opendkim, opendkim-tools)");
}

impl DkimKey {
    /// A new 2048-bit RSA key in `dir`.
    pub fn generate(dir: &Path, domain: &str, selector: &str) -> DkimKey {
        let kdir = dir.join(format!("key-{domain}-{selector}-{}", next()));
        std::fs::create_dir_all(&kdir).expect("key dir");
        let out = Command::new(tool("opendkim-genkey"))
            .args(["-b", "2048", "-d", domain, "-s", selector, "-D"])
            .arg(&kdir)
            .output()
            .expect("run opendkim-genkey");
        assert!(
            out.status.success(),
            "opendkim-genkey: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let txt_file = std::fs::read_to_string(kdir.join(format!("{selector}.txt")))
            .expect("read genkey's .txt");
        let open = txt_file.find('(').expect("( in genkey txt");
        let close = txt_file.rfind(')').expect(") in genkey txt");
        DkimKey {
            domain: domain.to_string(),
            selector: selector.to_string(),
            private: kdir.join(format!("{selector}.private")),
            txt: txt_file[open + 1..close]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// The record for a zone file, with an absolute owner name.
    pub fn zone_record(&self) -> String {
        format!(
            "{}._domainkey.{}. IN TXT {}",
            self.selector, self.domain, self.txt
        )
    }

    /// `message` (CRLF) signed by this key for mail whose From domain is
    /// `from_domain` (which may differ from the key's domain: a third
    /// party signing). relaxed/simple, rsa-sha256.
    pub fn sign(&self, from_domain: &str, message: &[u8]) -> Vec<u8> {
        let dir = self
            .private
            .parent()
            .expect("key dir")
            .join(format!("sign-{}", next()));
        std::fs::create_dir_all(&dir).expect("sign dir");
        std::fs::write(
            dir.join("keytable"),
            format!(
                "k {}:{}:{}\n",
                self.domain,
                self.selector,
                self.private.display()
            ),
        )
        .expect("keytable");
        std::fs::write(dir.join("signingtable"), format!("{from_domain} k\n"))
            .expect("signingtable");
        let conf = format!(
            "KeyTable file:{d}/keytable\nSigningTable file:{d}/signingtable\nMode s\n\
             Canonicalization relaxed/simple\nSignatureAlgorithm rsa-sha256\nSyslog no\n\
             RequireSafeKeys no\n",
            d = dir.display()
        );
        std::fs::write(dir.join("opendkim.conf"), conf).expect("opendkim.conf");
        let msg = dir.join("message.eml");
        std::fs::write(&msg, message).expect("message");
        let out = Command::new(tool("opendkim"))
            .arg("-x")
            .arg(dir.join("opendkim.conf"))
            .arg("-t")
            .arg(&msg)
            .stdin(Stdio::null())
            .output()
            .expect("run opendkim -t");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(at) = stdout.find("DKIM-Signature:") else {
            panic!(
                "opendkim did not sign (status {}):\nstdout: {stdout}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let mut lines = stdout[at..].lines().map(|l| l.trim_end_matches('\r'));
        let mut header: Vec<&str> = lines.next().into_iter().collect();
        header.extend(lines.take_while(|l| l.starts_with([' ', '\t'])));
        let mut signed = header.join("\r\n").into_bytes();
        signed.extend_from_slice(b"\r\n");
        signed.extend_from_slice(message);
        signed
    }
}

fn next() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
