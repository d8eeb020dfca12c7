//! Shared by the integration tests: a throwaway csirtd installation (config,
//! store, Maildir, file outbox) and helpers that drive the real binary.
#![allow(dead_code)]

pub mod browser;
pub mod dkim;
pub mod dns;
pub mod gpg;
pub mod http;
pub mod mutt;
pub mod servers;
pub mod web;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_csirtd");

pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        Env::with_extra("")
    }

    /// `extra` is appended to the TOML (e.g. a `[limits]` table).
    pub fn with_extra(extra: &str) -> Env {
        Env::with_outbox(
            r#"[outbox]
transport = "file"
initial_backoff_secs = 1
max_backoff_secs = 2
[outbox.file]
dir = "outbox""#,
            extra,
        )
    }

    /// An installation whose outbox delivers over SMTP to `127.0.0.1:port`.
    /// `tls` is "implicit", "starttls" or "none"; `auth` is (user, password),
    /// the password written to a file for `password_file`. Backoff as in
    /// `new()` (1 s, at most 2 s); `extra` is appended to the TOML.
    pub fn with_outbox_smtp(
        port: u16,
        tls: &str,
        ca_file: Option<&Path>,
        auth: Option<(&str, &str)>,
        extra: &str,
    ) -> Env {
        let env = Env::with_outbox("", "");
        let mut smtp = format!(
            "[outbox]\ntransport = \"smtp\"\ninitial_backoff_secs = 1\nmax_backoff_secs = 2\n\
             [outbox.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"{tls}\"\ntimeout_secs = 10"
        );
        if let Some(ca) = ca_file {
            smtp.push_str(&format!(
                "\nca_file = {}",
                toml_str(&ca.display().to_string())
            ));
        }
        if let Some((user, password)) = auth {
            let file = env.path("smtp-password");
            std::fs::write(&file, format!("{password}\n")).expect("write password file");
            smtp.push_str(&format!(
                "\nuser = {}\npassword_file = {}",
                toml_str(user),
                toml_str(&file.display().to_string())
            ));
        }
        env.write_config(&smtp, extra);
        env
    }

    /// `outbox` is the whole `[outbox]` section (with its sub-tables).
    pub fn with_outbox(outbox: &str, extra: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("csirtd.toml");
        let env = Env { dir, config };
        env.write_config(outbox, extra);
        env
    }

    fn write_config(&self, outbox: &str, extra: &str) {
        let text = format!(
            r#"
[team]
name = "CERT Example"
address = "cert@cert.example"
tag = "CERT-EX"
domain = "cert.example"
aliases = ["abuse@cert.example"]

[store]
path = "store"

[intake.maildir]
path = "maildir"
poll_interval_ms = 50

{outbox}
{extra}
"#
        );
        std::fs::write(&self.config, text).expect("write config");
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(&self.config).env_remove("RUST_LOG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run csirtd")
    }

    /// Runs and insists on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "csirtd {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `csirtd ingest` with one message on its standard input
    /// (closed), its output piped.
    pub fn spawn_ingest(&self, raw: &[u8]) -> std::process::Child {
        use std::io::Write;
        let mut child = self
            .cmd()
            .arg("ingest")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ingest");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(raw)
            .expect("write stdin");
        child
    }

    /// Pipes one message into `csirtd ingest`; returns (exit code, stdout, stderr).
    pub fn ingest_full(&self, raw: &[u8]) -> (i32, String, String) {
        let out = self
            .spawn_ingest(raw)
            .wait_with_output()
            .expect("wait ingest");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn ingest(&self, raw: &[u8]) -> (i32, String) {
        let (code, out, err) = self.ingest_full(raw);
        (
            code,
            if code == 0 {
                out
            } else {
                format!("{out} / stderr: {err}")
            },
        )
    }

    /// Ingests and returns (ticket id, outcome word), insisting on exit 0.
    pub fn ingest_ok(&self, raw: &[u8]) -> (String, String) {
        let (code, line) = self.ingest(raw);
        assert_eq!(code, 0, "ingest failed: {line}");
        let mut parts = line.split_whitespace();
        let id = parts.next().expect("ticket id").to_string();
        let word = parts.next().expect("outcome").to_string();
        (id, word)
    }

    pub fn ticket(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["ticket", "show", id, "--json"])).expect("ticket json")
    }

    pub fn tickets(&self) -> Vec<Value> {
        // Every ticket, oldest first (the list's own default is one page,
        // newest first).
        let all = [
            "ticket", "list", "--json", "--sort", "id", "--limit", "100000",
        ];
        serde_json::from_str(&self.ok(&all)).expect("ticket list json")
    }

    pub fn outbox(&self) -> Vec<Value> {
        serde_json::from_str(&self.ok(&["outbox", "list", "--json"])).expect("outbox json")
    }

    /// The `.eml` files the file transport wrote.
    pub fn sent_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.path("outbox"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Drops a message into the Maildir the way an MDA does (tmp/ then rename to new/).
    pub fn deliver(&self, name: &str, raw: &[u8]) {
        let md = self.path("maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(md.join(sub)).expect("maildir");
        }
        std::fs::write(md.join("tmp").join(name), raw).expect("write tmp");
        std::fs::rename(md.join("tmp").join(name), md.join("new").join(name))
            .expect("rename to new");
    }

    pub fn count_in(&self, sub: &str) -> usize {
        std::fs::read_dir(self.path("maildir").join(sub))
            .map(|rd| rd.count())
            .unwrap_or(0)
    }
}

/// A plain report. `extra` are whole header lines ending in CRLF.
pub fn mail(
    from: &str,
    subject: &str,
    message_id: Option<&str>,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    let mid = message_id
        .map(|m| format!("Message-ID: <{m}>\r\n"))
        .unwrap_or_default();
    format!(
        "From: {from}\r\nTo: cert@cert.example\r\nSubject: {subject}\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n{mid}{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn event_kinds(ticket: &Value) -> Vec<String> {
    ticket["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["kind"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub fn wait_until(timeout: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    f()
}

/// `[auth]` reading the test MTA's `Authentication-Results` and the
/// Shadowserver feeds (the corpus's shadowserver.org and the fixtures'
/// shadowserver.example), trusted on a DKIM pass: what an installation
/// that groups Shadowserver reports declares.
pub const FEEDS: &str = r#"
[auth]
mode = "trusted-results"
authserv_id = "mx.cert.example"

[[feeds]]
name = "shadowserver"
sender = "shadowserver.org"
dkim_domain = "shadowserver.org"
formats = ["shadowserver"]

[[feeds]]
name = "shadowserver-test"
sender = "shadowserver.example"
dkim_domain = "shadowserver.example"
formats = ["shadowserver"]
"#;

/// `raw` as the receiving MTA hands it over after a DKIM pass for the
/// feeds of [`FEEDS`]: its results on top.
pub fn from_feed(raw: &[u8]) -> Vec<u8> {
    let mut out = b"Authentication-Results: mx.cert.example;\r\n\tdkim=pass header.d=shadowserver.org header.s=s1;\r\n\tdkim=pass header.d=shadowserver.example header.s=s1\r\n".to_vec();
    out.extend_from_slice(raw);
    out
}

/// A constituency that asked to be notified: the university's network
/// 192.0.2.0/24, contact noc@uni.example.
pub const UNIVERSITY: &str = r#"
[[constituencies]]
name = "university"
networks = ["192.0.2.0/24"]
contact = "noc@uni.example"
notify_constituent = true
"#;

/// A TOML basic string.
pub fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A `csirtd` child process that is killed (SIGKILL) and reaped when dropped,
/// so that a failing test does not leave a daemon holding the store lock.
/// Its standard output and error go to files in the test's directory.
pub struct Daemon {
    pub child: std::process::Child,
    pub stderr_path: PathBuf,
    pub stdout_path: PathBuf,
}

static DAEMON_SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Daemon {
    /// Spawns `csirtd --config … <args>` (e.g. `["run"]`).
    pub fn start(env: &Env, args: &[&str]) -> Daemon {
        let n = DAEMON_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stdout_path = env.path(&format!("daemon-{n}.out"));
        let stderr_path = env.path(&format!("daemon-{n}.log"));
        let child = env
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).expect("daemon stdout file"))
            .stderr(std::fs::File::create(&stderr_path).expect("daemon stderr file"))
            .spawn()
            .expect("spawn csirtd");
        Daemon {
            child,
            stderr_path,
            stdout_path,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; false on timeout or if the daemon exited first.
    pub fn wait_for_log(&mut self, needle: &str, timeout: std::time::Duration) -> bool {
        wait_until(timeout, || {
            self.log().contains(needle) || matches!(self.child.try_wait(), Ok(Some(_)))
        }) && self.log().contains(needle)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of our own, not yet reaped, child.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(
            rc,
            0,
            "kill({}, {sig}) failed: {}",
            self.pid(),
            std::io::Error::last_os_error()
        );
    }

    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Exit status, or None if still running after `timeout`.
    pub fn wait_timeout(
        &mut self,
        timeout: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let end = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= end {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Waits for the exit and insists on status 0, showing the log otherwise.
    pub fn expect_success(&mut self, timeout: std::time::Duration) {
        let status = self.wait_timeout(timeout);
        assert!(
            status.is_some_and(|s| s.success()),
            "csirtd did not exit 0 within {timeout:?}: {status:?}\n--- log ---\n{}",
            self.log()
        );
    }

    /// SIGKILL and reap (`Child::kill` then `wait`).
    pub fn kill(&mut self) -> std::process::ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("wait for killed csirtd")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs csirtd to completion, killing it after `timeout`; returns the exit code.
pub fn run_with_timeout(
    env: &Env,
    args: &[&str],
    timeout: std::time::Duration,
) -> (Option<i32>, String) {
    let mut d = Daemon::start(env, args);
    let status = d.wait_timeout(timeout);
    let log = d.log();
    (status.and_then(|s| s.code()), log)
}

/// Adds `key = value` lines to the `[store]` table of the environment's
/// configuration (e.g. `group_commit = 32`), replacing earlier additions.
pub fn set_store_options(env: &Env, lines: &str) {
    let text = std::fs::read_to_string(&env.config).expect("read config");
    let start = text.find("[store]\n").expect("[store] table") + "[store]\n".len();
    let end = start + text[start..].find("\n\n").expect("end of [store] table");
    let body: Vec<&str> = text[start..end]
        .lines()
        .filter(|l| l.starts_with("path ="))
        .collect();
    let new = format!(
        "{}{}\n{}{}",
        &text[..start],
        body.join("\n"),
        lines.trim_end(),
        &text[end..]
    );
    std::fs::write(&env.config, new).expect("write config");
}

/// The names of the `.eml` files in the outbox directory.
pub fn sent_names(env: &Env) -> Vec<String> {
    env.sent_files()
        .iter()
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect()
}

/// The value of the first header `name` (case-insensitive) in raw mail text,
/// unfolded; None if absent.
pub fn header(text: &str, name: &str) -> Option<String> {
    let head = text.split("\r\n\r\n").next().unwrap_or(text);
    let mut lines = head.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        let Some((n, v)) = line.split_once(':') else {
            continue;
        };
        if n.eq_ignore_ascii_case(name) {
            let mut value = v.trim().to_string();
            while let Some(next) = lines.peek() {
                if next.starts_with(' ') || next.starts_with('\t') {
                    value.push(' ');
                    value.push_str(next.trim());
                    lines.next();
                } else {
                    break;
                }
            }
            return Some(value);
        }
    }
    None
}

/// The flags of a ticket as `ticket show --json` or `ticket list --json` gives it.
pub fn ticket_flags(t: &Value) -> Vec<String> {
    t["flags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}
