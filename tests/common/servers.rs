//! A private Dovecot (IMAP, IMAPS, LMTP) and Postfix (SMTP, SMTPS, submission
//! with AUTH) for one test, started as ordinary background processes on
//! loopback high ports, with everything under one scratch directory in /tmp.
//! Follows /work/shared/notes/test-servers.md (Debian 12, Dovecot 2.3,
//! Postfix 3.7). No system service or file under /etc is touched.
//!
//! ```text
//! let servers = MailServers::start();          // ~1 s; stopped again on drop
//! servers.submit("x@bank.example", "cert@cert.example", &raw);
//! servers.append("cert", "INBOX", &raw);
//! let acks = servers.wait_for_messages("reporter", "INBOX", 1, Duration::from_secs(10));
//! ```
//!
//! Mail for any domain is accepted by Postfix and delivered over LMTP into
//! Dovecot, where the local part names the mailbox (`Reporter+x@any.example`
//! lands in `reporter`'s INBOX). Only the users in [`USERS`] exist: Postfix
//! rejects every other recipient at RCPT time with `550 5.1.1`, and nothing is
//! ever relayed off the machine. Declare the `MailServers` before the csirtd
//! `Daemon` of a test, so that the daemon is dropped (killed) first.
//!
//! Needs root (Postfix refuses to run otherwise) and the Debian packages that
//! `scripts/prereqs.sh --test` installs. Set `CSIRTD_KEEP_SERVERS=1` to keep
//! the scratch directory (configs, logs, Maildirs) after the test.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The Dovecot users; each has the password [`PASSWORD`].
pub const USERS: [&str; 3] = ["cert", "reporter", "handler"];
/// An address of a known user that Postfix refuses for now (450) at RCPT.
pub const TEMPFAIL_RECIPIENT: &str = "reporter+busy@bank.example";
/// The recipient limit of [`MailServers::few_rcpt_smtp_port`].
pub const FEW_RECIPIENTS: usize = 3;
pub const PASSWORD: &str = "secret";

/// Mailboxes that every user has from the first login on (besides INBOX).
pub const AUTO_MAILBOXES: [&str; 2] = ["processed", "quarantine"];

/// How long `start`, `start_postfix` and `start_dovecot` wait for the greetings.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// After SIGTERM, how long before the remaining processes get SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the processes of a server may outlive its master before they
/// get a SIGTERM of their own.
const ORPHAN_GRACE: Duration = Duration::from_millis(500);

const PREREQS: &str = "run `scripts/prereqs.sh --test` (as root) to install \
Dovecot, Postfix and OpenSSL for the mail server tests";

pub struct MailServers {
    /// The scratch directory (absolute, mode 755, short for unix socket paths).
    pub dir: PathBuf,
    /// Dovecot IMAP without TLS (STARTTLS is offered; plaintext login allowed).
    pub imap_port: u16,
    /// Dovecot IMAP with implicit TLS.
    pub imaps_port: u16,
    /// Dovecot LMTP (what Postfix delivers to).
    pub lmtp_port: u16,
    /// Postfix SMTP; STARTTLS offered (`smtpd_tls_security_level = may`), no AUTH.
    pub smtp_port: u16,
    /// Postfix SMTP with implicit TLS (`smtpd_tls_wrappermode`), no AUTH.
    pub smtps_port: u16,
    /// Postfix SMTP that answers RCPT only after 5 s (`smtpd_client_restrictions
    /// = sleep 5`), for client timeouts; no TLS, no AUTH.
    pub slow_smtp_port: u16,
    /// Postfix SMTP that does not offer STARTTLS (as after a downgrade attack
    /// that strips it), no AUTH.
    pub no_starttls_port: u16,
    /// Postfix SMTP that accepts like `smtp_port` (the same smtpd, cleanup
    /// and durable queue file before its 250) but puts what it accepted on
    /// hold instead of delivering it into Dovecot: for benchmarks that time
    /// until the relay's 250, without the relay's own delivery work
    /// competing for the same two cores. No TLS, no AUTH.
    pub holding_smtp_port: u16,
    /// Postfix SMTP that takes at most [`FEW_RECIPIENTS`] RCPTs per
    /// transaction (`smtpd_recipient_limit`; the rest get 452 4.5.3), and
    /// does not offer PIPELINING, so a client speaks to it one command at
    /// a time. Postfix 3.7 does not notice MAIL and RCPT sent ahead here;
    /// the scripted servers in src/outbox/smtp/tests.rs check that.
    pub few_rcpt_smtp_port: u16,
    /// Postfix submission: STARTTLS required, then AUTH (PLAIN/LOGIN against
    /// the Dovecot users) required before any recipient is accepted.
    pub submission_port: u16,
    /// The self-signed server certificate (CA:FALSE, SAN localhost and
    /// 127.0.0.1), usable as the only trusted root of a rustls client.
    pub cert: PathBuf,
    pub key: PathBuf,
    dovecot_master: Option<i32>,
    postfix_master: Option<i32>,
    /// The processes seen in each server after its start, so that a stop also
    /// catches children that were reparented when their master died.
    dovecot_procs: Vec<i32>,
    postfix_procs: Vec<i32>,
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// (uid, gid) of a system account, from /etc/passwd.
fn account(name: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() > 3 && f[0] == name {
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        } else {
            None
        }
    })
}

fn group_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/group")
        .map(|t| t.lines().any(|l| l.split(':').next() == Some(name)))
        .unwrap_or(false)
}

/// Panics with a useful message when the servers cannot run here.
fn check_prerequisites() {
    if find_program("dovecot").is_none() {
        panic!("Dovecot is not installed (no `dovecot` in PATH): {PREREQS}");
    }
    if !Path::new("/usr/sbin/postfix").is_file() {
        panic!("Postfix is not installed (no /usr/sbin/postfix): {PREREQS}");
    }
    if find_program("openssl").is_none() {
        panic!("`openssl` is not installed: {PREREQS}");
    }
    // Debian's layout; elsewhere the start itself tells what is missing.
    if Path::new("/usr/lib/dovecot").is_dir() {
        for (bin, package) in [("imap", "dovecot-imapd"), ("lmtp", "dovecot-lmtpd")] {
            if !Path::new("/usr/lib/dovecot").join(bin).is_file() {
                panic!("Dovecot's {bin} server ({package}) is not installed: {PREREQS}");
            }
        }
    }
    for user in ["dovecot", "dovenull", "postfix", "mail"] {
        if account(user).is_none() {
            panic!("the system account `{user}` is missing: {PREREQS}");
        }
    }
    if !group_exists("postdrop") {
        panic!("the group `postdrop` is missing: {PREREQS}");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!(
            "the mail server tests need root: Postfix refuses to run as another user \
             (run `cargo test` as root, e.g. in the CI container)"
        );
    }
}

/// Ports handed out in this process, so that two servers started by
/// concurrent tests never share one.
static USED_PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// `n` distinct free loopback ports, found by binding port 0 (all held until
/// every one is picked).
fn free_ports(n: usize) -> Vec<u16> {
    let mut used = USED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < n {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let p = l.local_addr().expect("local addr").port();
        if used.insert(p) {
            ports.push(p);
        }
        held.push(l);
    }
    ports
}

/// Writes a self-signed certificate that rustls accepts as a trusted end
/// entity (`CA:FALSE`, SAN `localhost` and `127.0.0.1`): `<dir>/<name>.pem`
/// and `<dir>/<name>.key`. Returns (certificate, key).
pub fn generate_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let openssl =
        find_program("openssl").unwrap_or_else(|| panic!("`openssl` is not installed: {PREREQS}"));
    std::fs::create_dir_all(dir).expect("create certificate directory");
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let out = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-days", "3650", "-subj"])
        // Not CN=localhost: a system trust store may hold a root of that name
        // (this sandbox's egress proxy CA does), and path building would try it.
        .arg(format!("/O=csirtd tests/CN=csirtd test {name}"))
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "keyUsage=critical,digitalSignature"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

// ---------------------------------------------------------------------------
// Processes, read from /proc (no ps/pgrep, no kill by name).

/// (state, ppid, pgrp) of a process; None when it does not exist.
fn proc_stat(pid: i32) -> Option<(char, i32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// Running and not a zombie.
fn alive(pid: i32) -> bool {
    matches!(proc_stat(pid), Some((s, _, _)) if s != 'Z' && s != 'X')
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The live processes that belong to a server master: itself, its
/// descendants, and (when it leads its own process group, as both masters
/// do) the members of its group.
fn family(master: i32) -> Vec<i32> {
    let stats: Vec<(i32, (char, i32, i32))> = all_pids()
        .into_iter()
        .filter_map(|p| Some((p, proc_stat(p)?)))
        .filter(|(_, (s, _, _))| *s != 'Z' && *s != 'X')
        .collect();
    let leads_group = stats
        .iter()
        .any(|(p, (_, _, g))| *p == master && *g == master);
    let mut members: BTreeSet<i32> = BTreeSet::new();
    if stats.iter().any(|(p, _)| *p == master) {
        members.insert(master);
    }
    if leads_group {
        members.extend(stats.iter().filter(|(_, s)| s.2 == master).map(|(p, _)| *p));
    }
    loop {
        let before = members.len();
        let children: Vec<i32> = stats
            .iter()
            .filter(|(_, s)| members.contains(&s.1))
            .map(|(p, _)| *p)
            .collect();
        members.extend(children);
        if members.len() == before {
            break;
        }
    }
    // Never ourselves, whatever the process tree says.
    members.remove(&(std::process::id() as i32));
    members.into_iter().collect()
}

fn signal(pid: i32, sig: i32) {
    if pid > 1 && pid != std::process::id() as i32 {
        // SAFETY: kill(2) with a positive pid of a server process.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Waits until none of `pids` is alive; after `timeout`, SIGKILLs each
/// survivor by PID and waits a little more. Returns the PIDs that had to be
/// killed.
fn wait_gone(pids: &[i32], timeout: Duration) -> Vec<i32> {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if !pids.iter().any(|p| alive(*p)) {
            return Vec::new();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let survivors: Vec<i32> = pids
        .iter()
        .copied()
        .filter(|p| alive(*p))
        .collect::<BTreeSet<i32>>()
        .into_iter()
        .collect();
    for p in &survivors {
        let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        eprintln!(
            "servers: SIGKILL to {p} ({}, state {:?}) after {timeout:?}",
            cmdline.trim(),
            proc_stat(*p).map(|s| s.0)
        );
    }
    for p in &survivors {
        signal(*p, libc::SIGKILL);
    }
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end && survivors.iter().any(|p| alive(*p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    survivors
}

/// SIGTERM to a server's master, then waits for it and its processes.
///
/// A child that outlives its master by [`ORPHAN_GRACE`] gets SIGTERM of its
/// own: Dovecot's auth process (and with it log and stats) keeps serving a
/// client that is still connected, such as a Postfix smtpd that once asked
/// it for SASL mechanisms, and would otherwise linger for minutes. Whatever
/// is left after [`STOP_TIMEOUT`] in all gets SIGKILL, PID by PID.
fn stop_server(name: &str, master: i32, pids: &[i32]) {
    let start = Instant::now();
    signal(master, libc::SIGTERM);
    let mut killed = wait_gone(&[master], STOP_TIMEOUT);
    let end = start + STOP_TIMEOUT;
    let grace = (Instant::now() + ORPHAN_GRACE).min(end);
    while Instant::now() < grace && pids.iter().any(|p| alive(*p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let orphans: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    for p in &orphans {
        signal(*p, libc::SIGTERM);
    }
    killed.extend(wait_gone(
        &orphans,
        end.saturating_duration_since(Instant::now()),
    ));
    if !killed.is_empty() {
        eprintln!("servers: {name} did not stop within {STOP_TIMEOUT:?}; SIGKILLed {killed:?}");
    }
}

/// A process's start time (field 22 of /proc/PID/stat), which tells it
/// apart from a later process that reuses its PID.
fn start_time(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Stops the servers of scratch directories whose test process is gone
/// without having dropped its `MailServers` (a test binary killed by
/// SIGINT or SIGKILL), and removes those directories. A master is only
/// signalled when its working directory lies inside the scratch directory
/// (Postfix's is its queue, Dovecot's its base_dir).
fn reap_stale_instances() {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return;
    };
    for e in entries.flatten() {
        let dir = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("csirtd-ms-") {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(dir.join("owner")) else {
            continue;
        };
        let mut f = owner.split_whitespace();
        let (Some(pid), Some(started)) = (
            f.next().and_then(|p| p.parse::<i32>().ok()),
            f.next().and_then(|t| t.parse::<u64>().ok()),
        ) else {
            continue;
        };
        if alive(pid) && (started == 0 || start_time(pid) == Some(started)) {
            continue;
        }
        for pid_file in ["postfix/spool/pid/master.pid", "dovecot/run/master.pid"] {
            let Some(master) = read_pid(&dir.join(pid_file)) else {
                continue;
            };
            let ours = std::fs::read_link(format!("/proc/{master}/cwd"))
                .is_ok_and(|cwd| cwd.starts_with(&dir));
            if ours && alive(master) {
                eprintln!(
                    "servers: stopping the servers of {} (its test process {pid} is gone)",
                    dir.display()
                );
                stop_server(pid_file, master, &family(master));
            }
        }
        if !dir.join("kept").exists() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads one line from a fresh connection; true when it starts with `prefix`.
fn greets(port: u16, prefix: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 512 {
        match s.read(&mut byte) {
            Ok(1) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    break;
                }
            }
            _ => break,
        }
    }
    let ok = line.starts_with(prefix.as_bytes());
    // Be polite, so that the servers do not log a lost connection.
    let _ = s.write_all(if prefix == "220" {
        b"QUIT\r\n"
    } else {
        b"a LOGOUT\r\n"
    });
    ok
}

fn accepts(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Sets a file's modification time into the past: Postfix re-reads a main.cf
/// younger than about a second and pays for it at every start (gotcha 4).
fn backdate(path: &Path) {
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open for backdating");
    f.set_modified(SystemTime::now() - Duration::from_secs(60))
        .expect("set mtime");
}

fn write_file(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mkdir(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

impl MailServers {
    /// Starts both servers and waits for their greetings; panics (after
    /// stopping whatever did start) when that fails.
    pub fn start() -> MailServers {
        check_prerequisites();
        static REAPED: std::sync::Once = std::sync::Once::new();
        REAPED.call_once(reap_stale_instances);
        let mut last_error = String::new();
        for _ in 0..3 {
            let mut servers = MailServers::prepare();
            match servers.try_start() {
                Ok(()) => return servers,
                Err(e) => {
                    let busy = e.contains("in use")
                        || servers.dovecot_log().contains("Address already in use")
                        || servers.postfix_log().contains("Address already in use");
                    last_error = format!("{e}\n{}", servers.logs_tail(30));
                    servers.stop_all();
                    if !busy {
                        break;
                    }
                    // A port went to someone else meanwhile: new ports, new directory.
                }
            }
        }
        panic!("could not start Dovecot and Postfix: {last_error}");
    }

    fn prepare() -> MailServers {
        let tmp = tempfile::Builder::new()
            .prefix("csirtd-ms-")
            .tempdir_in("/tmp")
            .expect("scratch dir");
        let dir = tmp.keep();
        assert!(
            dir.as_os_str().len() < 70,
            "scratch dir too long: {}",
            dir.display()
        );
        mkdir(&dir, 0o755);
        let me = std::process::id() as i32;
        write_file(
            &dir.join("owner"),
            &format!("{me} {}\n", start_time(me).unwrap_or(0)),
            0o644,
        );
        let ports = free_ports(10);
        let (cert, key) = generate_cert(&dir.join("tls"), "server");
        let servers = MailServers {
            imap_port: ports[0],
            imaps_port: ports[1],
            lmtp_port: ports[2],
            smtp_port: ports[3],
            smtps_port: ports[4],
            submission_port: ports[5],
            no_starttls_port: ports[6],
            slow_smtp_port: ports[7],
            holding_smtp_port: ports[8],
            few_rcpt_smtp_port: ports[9],
            cert,
            key,
            dir,
            dovecot_master: None,
            postfix_master: None,
            dovecot_procs: Vec::new(),
            postfix_procs: Vec::new(),
        };
        servers.write_dovecot_config();
        servers.write_postfix_config();
        servers
    }

    fn try_start(&mut self) -> Result<(), String> {
        // The two starts overlap: each costs a few hundred milliseconds.
        let this = &*self;
        let (dovecot, postfix) = std::thread::scope(|s| {
            let d = s.spawn(|| this.launch_dovecot());
            let p = s.spawn(|| this.launch_postfix());
            (
                d.join()
                    .unwrap_or_else(|_| Err("dovecot start panicked".into())),
                p.join()
                    .unwrap_or_else(|_| Err("postfix start panicked".into())),
            )
        });
        if let Ok(pid) = &dovecot {
            self.dovecot_master = Some(*pid);
        }
        if let Ok(pid) = &postfix {
            self.postfix_master = Some(*pid);
        }
        dovecot?;
        postfix?;
        self.wait_ready(true, true)
    }

    // -- configuration -------------------------------------------------------

    fn instance(&self) -> String {
        let base = self.dir.file_name().unwrap_or_default().to_string_lossy();
        base.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")
    }

    fn dovecot_conf(&self) -> PathBuf {
        self.dir.join("dovecot/dovecot.conf")
    }

    fn postfix_etc(&self) -> PathBuf {
        self.dir.join("postfix/etc")
    }

    fn write_dovecot_config(&self) {
        let d = self.dir.display().to_string();
        let (mail_uid, mail_gid) = account("mail").expect("account mail");
        mkdir(&self.dir.join("dovecot"), 0o755);
        mkdir(&self.dir.join("dovecot/run"), 0o755);
        mkdir(&self.dir.join("dovecot/state"), 0o755);
        mkdir(&self.dir.join("log"), 0o755);
        mkdir(&self.dir.join("mail"), 0o755);
        std::os::unix::fs::chown(self.dir.join("mail"), Some(mail_uid), Some(mail_gid))
            .expect("chown mail dir");
        let users: String = USERS
            .iter()
            .map(|u| format!("{u}:{{PLAIN}}{PASSWORD}::::::\n"))
            .collect();
        write_file(&self.dir.join("dovecot/users"), &users, 0o644);
        let mailboxes: String = AUTO_MAILBOXES
            .iter()
            .map(|m| format!("  mailbox {m} {{\n    auto = subscribe\n  }}\n"))
            .collect();
        let conf = format!(
            r#"# Written by tests/common/servers.rs; includes nothing from /etc/dovecot.
instance_name = {instance}
base_dir = {d}/dovecot/run
state_dir = {d}/dovecot/state
log_path = {d}/log/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}

ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no

auth_mechanisms = plain login
auth_failure_delay = 0
auth_username_format = %Ln
recipient_delimiter = +
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/dovecot/users
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={d}/mail/%u allow_all_users=yes
}}

mail_location = maildir:{d}/mail/%u
mailbox_idle_check_interval = 1 secs
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service auth {{
  # Postfix's submission listener authenticates through this socket.
  unix_listener auth-smtp {{
    mode = 0666
  }}
}}
# No auth penalty: after one failed login every later one would wait 2-15 s.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"#,
            instance = self.instance(),
            cert = self.cert.display(),
            key = self.key.display(),
            imap = self.imap_port,
            imaps = self.imaps_port,
            lmtp = self.lmtp_port,
        );
        write_file(&self.dovecot_conf(), &conf, 0o644);
    }

    fn write_postfix_config(&self) {
        let d = self.dir.display().to_string();
        let (pf_uid, pf_gid) = account("postfix").expect("account postfix");
        mkdir(&self.dir.join("postfix"), 0o755);
        mkdir(&self.postfix_etc(), 0o755);
        mkdir(&self.dir.join("postfix/spool"), 0o755);
        mkdir(&self.dir.join("postfix/data"), 0o700);
        std::os::unix::fs::chown(self.dir.join("postfix/data"), Some(pf_uid), Some(pf_gid))
            .expect("chown postfix data dir");
        self.write_recipients(&USERS);
        let main = format!(
            r#"# Written by tests/common/servers.rs; config_directory comes from `postfix -c`.
compatibility_level = 3.6
queue_directory = {d}/postfix/spool
data_directory = {d}/postfix/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.harness.test
mydomain = harness.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
biff = no

# Every domain goes to Dovecot over LMTP; only the known users exist.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
virtual_mailbox_domains = static:all
virtual_mailbox_maps = regexp:{d}/postfix/etc/recipients
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
recipient_delimiter = +
# Nothing leaves the box.
default_transport = error:outbound disabled
relay_transport = $default_transport
local_transport = error:local delivery disabled
smtpd_relay_restrictions = reject_unauth_destination
# A mailbox that answers "later" (4xx) at RCPT, as a full or greylisting one does.
smtpd_recipient_restrictions = check_recipient_access inline:{{ {{ {TEMPFAIL_RECIPIENT} = 450 4.2.0 Mailbox busy, try again later }} }}
# A client that sends commands after one that must end a pipelined group
# (DATA, EHLO, QUIT...; RFC 2920) is disconnected. MAIL and RCPT sent ahead to
# a listener that hides PIPELINING are not noticed by Postfix 3.7.
smtpd_forbid_unauth_pipelining = yes
message_size_limit = 104857600
mailbox_size_limit = 0

# Dovecot 2.3 LMTP does not offer SMTPUTF8: advertising it would bounce such mail.
smtputf8_enable = no

maillog_file = {d}/log/postfix.log
maillog_file_prefixes = {d}/log

# Fast retries and no tarpitting, for tests.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
transport_retry_time = 1s
in_flow_delay = 0s
smtpd_error_sleep_time = 0s
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000

smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtp_tls_security_level = none
lmtp_tls_security_level = none
"#,
            lmtp = self.lmtp_port,
            cert = self.cert.display(),
            key = self.key.display(),
        );
        let master = format!(
            r#"# Written by tests/common/servers.rs. No chroot (column 5 = n) anywhere.
127.0.0.1:{smtp} inet n - n - - smtpd
127.0.0.1:{smtps} inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
127.0.0.1:{no_starttls} inet n - n - - smtpd
  -o smtpd_tls_security_level=none
127.0.0.1:{slow} inet n - n - - smtpd
  -o smtpd_tls_security_level=none
  -o {{ smtpd_client_restrictions = sleep 5 }}
127.0.0.1:{holding} inet n - n - - smtpd
  -o smtpd_tls_security_level=none
  -o smtpd_client_restrictions=check_client_access,static:HOLD
127.0.0.1:{few_rcpt} inet n - n - - smtpd
  -o smtpd_tls_security_level=none
  -o smtpd_recipient_limit={FEW_RECIPIENTS}
  -o smtpd_discard_ehlo_keywords=pipelining
127.0.0.1:{submission} inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path={d}/dovecot/run/auth-smtp
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
pickup     unix  n - n 60   1 pickup
cleanup    unix  n - n -    0 cleanup
qmgr       unix  n - n 300  1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -    - trivial-rewrite
bounce     unix  - - n -    0 bounce
defer      unix  - - n -    0 bounce
trace      unix  - - n -    0 bounce
verify     unix  - - n -    1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -    - proxymap
proxywrite unix  - - n -    1 proxymap
smtp       unix  - - n -    - smtp
relay      unix  - - n -    - smtp
showq      unix  n - n -    - showq
error      unix  - - n -    - error
retry      unix  - - n -    - error
discard    unix  - - n -    - discard
lmtp       unix  - - n -    - lmtp
anvil      unix  - - n -    1 anvil
scache     unix  - - n -    1 scache
postlog    unix-dgram n - n - 1 postlogd
"#,
            smtp = self.smtp_port,
            smtps = self.smtps_port,
            submission = self.submission_port,
            no_starttls = self.no_starttls_port,
            slow = self.slow_smtp_port,
            holding = self.holding_smtp_port,
            few_rcpt = self.few_rcpt_smtp_port,
        );
        let main_cf = self.postfix_etc().join("main.cf");
        let master_cf = self.postfix_etc().join("master.cf");
        write_file(&main_cf, &main, 0o644);
        write_file(&master_cf, &master, 0o644);
        backdate(&main_cf);
        backdate(&master_cf);
    }

    // -- starting and stopping -------------------------------------------------

    /// Runs a daemonizing start command with its output in a log file
    /// (never a pipe: the daemon would inherit it, gotcha 7).
    fn run_logged(&self, log: &str, cmd: &mut Command) -> Result<(), String> {
        let path = self.dir.join("log").join(log);
        let file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("open {}: {e}", path.display()))?;
        let status = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file)
            .status()
            .map_err(|e| format!("{cmd:?}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "{cmd:?} failed with {status}:\n{}",
                tail(&std::fs::read_to_string(&path).unwrap_or_default(), 20)
            ))
        }
    }

    fn launch_dovecot(&self) -> Result<i32, String> {
        let run = self.dir.join("dovecot/run");
        // A stale pid file or auth penalty socket would delay or stop the start.
        let _ = std::fs::remove_file(run.join("master.pid"));
        let _ = std::fs::remove_file(run.join("anvil-auth-penalty"));
        let dovecot = find_program("dovecot").ok_or("no dovecot")?;
        self.run_logged(
            "dovecot-start.log",
            Command::new(dovecot).arg("-c").arg(self.dovecot_conf()),
        )?;
        // The launching process may exit before the daemon has written its pid.
        let end = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(pid) = read_pid(&run.join("master.pid")) {
                return Ok(pid);
            }
            if Instant::now() > end {
                return Err("dovecot wrote no master.pid".to_string());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn launch_postfix(&self) -> Result<i32, String> {
        self.run_logged(
            "postfix-start.log",
            Command::new("/usr/sbin/postfix")
                .arg("-c")
                .arg(self.postfix_etc())
                .arg("start"),
        )?;
        read_pid(&self.dir.join("postfix/spool/pid/master.pid"))
            .ok_or_else(|| "postfix wrote no master.pid".to_string())
    }

    /// The port a benchmark sends to: `CSIRTD_BENCH_RELAY=hold` picks the
    /// holding listener (Postfix accepts, then keeps it on hold), anything else
    /// the delivering one (Postfix accepts, then delivers into Dovecot over
    /// LMTP on the same cores). The bool says whether mail reaches Dovecot.
    pub fn bench_relay(&self) -> (u16, bool) {
        match std::env::var("CSIRTD_BENCH_RELAY").as_deref() {
            Ok("hold") => (self.holding_smtp_port, false),
            _ => (self.smtp_port, true),
        }
    }

    /// `csirtd bench ARGS` against these servers (a benchmark's own
    /// binary): prints its output and returns it; fails with its standard
    /// error and the servers' logs.
    pub fn bench(&self, args: &[String]) -> String {
        let out = Command::new(super::BIN)
            .args(args)
            .output()
            .expect("run csirtd bench");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        println!("{stdout}");
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs_tail(20)
        );
        stdout
    }

    fn wait_ready(&mut self, dovecot: bool, postfix: bool) -> Result<(), String> {
        let end = Instant::now() + READY_TIMEOUT;
        let mut waiting: Vec<(&str, u16, &str)> = Vec::new();
        if dovecot {
            waiting.push(("dovecot imap", self.imap_port, "* OK"));
            waiting.push(("dovecot lmtp", self.lmtp_port, "220"));
            waiting.push(("dovecot imaps", self.imaps_port, ""));
        }
        if postfix {
            waiting.push(("postfix smtp", self.smtp_port, "220"));
            waiting.push(("postfix submission", self.submission_port, "220"));
            waiting.push(("postfix smtps", self.smtps_port, ""));
            waiting.push(("postfix without STARTTLS", self.no_starttls_port, "220"));
            waiting.push(("postfix slow", self.slow_smtp_port, "220"));
            waiting.push(("postfix holding", self.holding_smtp_port, "220"));
            waiting.push(("postfix few recipients", self.few_rcpt_smtp_port, "220"));
        }
        while !waiting.is_empty() {
            // TLS listeners: a TCP accept is enough once the plain listener
            // of the same server has greeted.
            waiting.retain(|(_, port, greeting)| {
                !(if greeting.is_empty() {
                    accepts(*port)
                } else {
                    greets(*port, greeting)
                })
            });
            if waiting.is_empty() {
                break;
            }
            if Instant::now() > end {
                let names: Vec<&str> = waiting.iter().map(|w| w.0).collect();
                return Err(format!(
                    "no greeting within {READY_TIMEOUT:?} from {names:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let (true, Some(m)) = (dovecot, self.dovecot_master) {
            self.dovecot_procs = family(m);
        }
        if let (true, Some(m)) = (postfix, self.postfix_master) {
            self.postfix_procs = family(m);
        }
        Ok(())
    }

    /// Stops Postfix (the queue is kept: a later `start_postfix` delivers it).
    /// Until then SMTP connections are refused.
    pub fn stop_postfix(&mut self) {
        let Some(master) = self
            .postfix_master
            .take()
            .or_else(|| read_pid(&self.dir.join("postfix/spool/pid/master.pid")))
        else {
            return;
        };
        let mut pids = family(master);
        pids.append(&mut self.postfix_procs);
        // What `postfix stop` does, without its one-second polling sleep.
        stop_server("Postfix", master, &pids);
    }

    /// Postfix's map of the users that exist: any other recipient gets
    /// `550 5.1.1 … User unknown` at RCPT.
    fn write_recipients(&self, known: &[&str]) {
        let known = known.join("|");
        write_file(
            &self.postfix_etc().join("recipients"),
            &format!("/^({known})(\\+.*)?@/ OK\n"),
            0o644,
        );
    }

    /// Makes Postfix refuse `refused` (of [`USERS`]) with `550 5.1.1 User
    /// unknown`, as a mailbox that is missing; an empty list accepts every
    /// user again. Restarts Postfix, which reads the map at start.
    pub fn refuse_users(&mut self, refused: &[&str]) {
        let known: Vec<&str> = USERS
            .iter()
            .copied()
            .filter(|u| !refused.contains(u))
            .collect();
        self.write_recipients(&known);
        self.stop_postfix();
        self.start_postfix();
    }

    pub fn start_postfix(&mut self) {
        assert!(self.postfix_master.is_none(), "Postfix is already running");
        let pid = self.launch_postfix().unwrap_or_else(|e| panic!("{e}"));
        self.postfix_master = Some(pid);
        if let Err(e) = self.wait_ready(false, true) {
            panic!("{e}\n{}", self.logs_tail(30));
        }
    }

    /// Stops Dovecot; IMAP and LMTP connections are refused until
    /// `start_dovecot` (Postfix defers mail meanwhile and retries within 5 s).
    pub fn stop_dovecot(&mut self) {
        let run = self.dir.join("dovecot/run");
        let Some(master) = self
            .dovecot_master
            .take()
            .or_else(|| read_pid(&run.join("master.pid")))
        else {
            return;
        };
        let mut pids = family(master);
        pids.append(&mut self.dovecot_procs);
        stop_server("Dovecot", master, &pids);
        // A zombie master would make the next start refuse (gotcha 8).
        let _ = std::fs::remove_file(run.join("master.pid"));
        let _ = std::fs::remove_file(run.join("anvil-auth-penalty"));
    }

    pub fn start_dovecot(&mut self) {
        assert!(self.dovecot_master.is_none(), "Dovecot is already running");
        let pid = self.launch_dovecot().unwrap_or_else(|e| panic!("{e}"));
        self.dovecot_master = Some(pid);
        if let Err(e) = self.wait_ready(true, false) {
            panic!("{e}\n{}", self.logs_tail(30));
        }
    }

    pub fn restart_dovecot(&mut self) {
        self.stop_dovecot();
        self.start_dovecot();
    }

    /// Asks Postfix to retry its deferred mail now (`postfix flush`).
    pub fn flush_postfix(&self) {
        let _ = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.postfix_etc())
            .arg("flush")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn stop_all(&mut self) {
        // Postfix first: it would otherwise defer mail to a vanished LMTP.
        self.stop_postfix();
        self.stop_dovecot();
        // Anything left of a server whose master had died by itself.
        let rest: Vec<i32> = self
            .postfix_procs
            .drain(..)
            .chain(self.dovecot_procs.drain(..))
            .filter(|p| alive(*p))
            .collect();
        for p in &rest {
            signal(*p, libc::SIGTERM);
        }
        wait_gone(&rest, Duration::from_secs(5));
    }

    // -- logs --------------------------------------------------------------------

    pub fn postfix_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log/postfix.log")).unwrap_or_default()
    }

    pub fn dovecot_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log/dovecot.log")).unwrap_or_default()
    }

    /// The last lines of both logs, for assertion messages.
    pub fn logs_tail(&self, lines: usize) -> String {
        format!(
            "--- postfix.log ({}) ---\n{}\n--- dovecot.log ---\n{}",
            self.dir.display(),
            tail(&self.postfix_log(), lines),
            tail(&self.dovecot_log(), lines)
        )
    }

    // -- clients -------------------------------------------------------------------

    /// A logged-in IMAP connection (plain port) as one of [`USERS`].
    pub fn imap(&self, user: &str) -> Imap {
        let mut c = Imap::connect(self.imap_port)
            .unwrap_or_else(|e| panic!("IMAP connect to {}: {e}", self.imap_port));
        c.login(user, PASSWORD)
            .unwrap_or_else(|e| panic!("IMAP LOGIN {user}: {e}"));
        c
    }

    /// Submits one message over SMTP (plain, port `smtp_port`) to Postfix,
    /// which delivers it into Dovecot. `from` may be empty (null sender).
    pub fn submit(&self, from: &str, to: &str, raw: &[u8]) {
        if let Err(e) = self.try_submit(from, &[to], raw) {
            panic!(
                "SMTP submission to {to} failed: {e}\n{}",
                self.logs_tail(10)
            );
        }
    }

    pub fn try_submit(&self, from: &str, to: &[&str], raw: &[u8]) -> Result<(), String> {
        use lettre::Transport;
        let parse = |a: &str| {
            a.parse::<lettre::Address>()
                .map_err(|e| format!("address {a}: {e}"))
        };
        let from = if from.is_empty() {
            None
        } else {
            Some(parse(from)?)
        };
        let to = to.iter().map(|a| parse(a)).collect::<Result<Vec<_>, _>>()?;
        let envelope = lettre::address::Envelope::new(from, to).map_err(|e| e.to_string())?;
        let smtp = lettre::SmtpTransport::builder_dangerous("127.0.0.1")
            .port(self.smtp_port)
            .timeout(Some(Duration::from_secs(30)))
            .build();
        smtp.send_raw(&envelope, raw)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// APPENDs one message to a mailbox of `user`.
    pub fn append(&self, user: &str, mailbox: &str, raw: &[u8]) {
        let mut c = self.imap(user);
        c.append(mailbox, raw)
            .unwrap_or_else(|e| panic!("IMAP APPEND to {user}/{mailbox}: {e}"));
        c.logout();
    }

    /// APPENDs many messages over one connection.
    pub fn append_all<'a>(
        &self,
        user: &str,
        mailbox: &str,
        raws: impl IntoIterator<Item = &'a [u8]>,
    ) {
        let mut c = self.imap(user);
        for raw in raws {
            c.append(mailbox, raw)
                .unwrap_or_else(|e| panic!("IMAP APPEND to {user}/{mailbox}: {e}"));
        }
        c.logout();
    }

    /// Every message in a mailbox, in UID order, read without setting `\Seen`.
    pub fn mailbox_messages(&self, user: &str, mailbox: &str) -> Vec<Vec<u8>> {
        let mut c = self.imap(user);
        let msgs = c
            .fetch_all(mailbox)
            .unwrap_or_else(|e| panic!("IMAP FETCH {user}/{mailbox}: {e}"));
        c.logout();
        msgs
    }

    /// The number of messages in a mailbox (IMAP STATUS).
    pub fn message_count(&self, user: &str, mailbox: &str) -> usize {
        let mut c = self.imap(user);
        let n = c
            .count(mailbox)
            .unwrap_or_else(|e| panic!("IMAP STATUS {user}/{mailbox}: {e}"));
        c.logout();
        n
    }

    /// Waits until a mailbox holds at least `n` messages and returns them
    /// all; panics with the count and the server logs on timeout.
    pub fn wait_for_messages(
        &self,
        user: &str,
        mailbox: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        let end = Instant::now() + timeout;
        let mut c = self.imap(user);
        loop {
            let have = c
                .count(mailbox)
                .unwrap_or_else(|e| panic!("IMAP STATUS {user}/{mailbox}: {e}"));
            if have >= n {
                let msgs = c
                    .fetch_all(mailbox)
                    .unwrap_or_else(|e| panic!("IMAP FETCH {user}/{mailbox}: {e}"));
                c.logout();
                return msgs;
            }
            if Instant::now() > end {
                panic!(
                    "{user}/{mailbox} holds {have} message(s) after {timeout:?}, expected {n}\n{}",
                    self.logs_tail(20)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for MailServers {
    fn drop(&mut self) {
        self.stop_all();
        let keep = std::env::var_os("CSIRTD_KEEP_SERVERS").is_some_and(|v| v != "0");
        if keep || std::thread::panicking() {
            let _ = std::fs::write(self.dir.join("kept"), "");
            eprintln!(
                "servers: kept {} (configs, logs, mail){}",
                self.dir.display(),
                if keep {
                    ""
                } else {
                    "; set CSIRTD_KEEP_SERVERS=1 to keep it after passing tests too"
                }
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------
// A minimal blocking IMAP4rev1 client for the test side (plain TCP on
// loopback): enough to LOGIN, APPEND, STATUS, EXAMINE and FETCH.

/// One untagged (or tagged) server response: its text with literals left
/// out, and the literals in order.
#[derive(Debug, Default)]
pub struct Response {
    pub text: Vec<u8>,
    pub literals: Vec<Vec<u8>>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

pub struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn io_err(msg: String) -> std::io::Error {
    std::io::Error::other(msg)
}

/// `{123}` at the end of a line: the length of the literal that follows.
fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|b| *b == b'{')?;
    std::str::from_utf8(&line[open + 1..]).ok()?.parse().ok()
}

impl Imap {
    pub fn connect(port: u16) -> std::io::Result<Imap> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        let mut c = Imap {
            reader: BufReader::new(stream),
            writer,
            tag: 0,
        };
        let greeting = c.read_response()?;
        if !greeting.text.starts_with(b"* OK") {
            return Err(io_err(format!("greeting: {}", greeting.text())));
        }
        Ok(c)
    }

    fn read_line(&mut self) -> std::io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "IMAP connection closed",
            ));
        }
        line.pop();
        if line.ends_with(b"\r") {
            line.pop();
        }
        Ok(line)
    }

    pub fn read_response(&mut self) -> std::io::Result<Response> {
        let mut r = Response::default();
        loop {
            let line = self.read_line()?;
            let lit = literal_len(&line);
            r.text.extend_from_slice(&line);
            match lit {
                Some(n) => {
                    let mut buf = vec![0u8; n];
                    self.reader.read_exact(&mut buf)?;
                    r.literals.push(buf);
                }
                None => return Ok(r),
            }
        }
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("t{}", self.tag)
    }

    /// Reads until the tagged response; Err unless it is OK.
    fn finish(&mut self, tag: &str) -> std::io::Result<Vec<Response>> {
        let mut untagged = Vec::new();
        let prefix = format!("{tag} ");
        loop {
            let r = self.read_response()?;
            if let Some(rest) = r.text.strip_prefix(prefix.as_bytes()) {
                if rest.starts_with(b"OK") {
                    return Ok(untagged);
                }
                return Err(io_err(String::from_utf8_lossy(&r.text).into_owned()));
            }
            untagged.push(r);
        }
    }

    /// Sends one command (without tag and CRLF) and returns the untagged
    /// responses; Err on NO/BAD.
    pub fn command(&mut self, cmd: &str) -> std::io::Result<Vec<Response>> {
        let tag = self.next_tag();
        self.writer
            .write_all(format!("{tag} {cmd}\r\n").as_bytes())?;
        self.finish(&tag)
    }

    pub fn login(&mut self, user: &str, password: &str) -> std::io::Result<()> {
        self.command(&format!("LOGIN {} {}", quote(user), quote(password)))
            .map(|_| ())
    }

    pub fn append(&mut self, mailbox: &str, raw: &[u8]) -> std::io::Result<()> {
        let tag = self.next_tag();
        self.writer.write_all(
            format!("{tag} APPEND {} {{{}}}\r\n", quote(mailbox), raw.len()).as_bytes(),
        )?;
        let cont = self.read_response()?;
        if !cont.text.starts_with(b"+") {
            return Err(io_err(format!("APPEND refused: {}", cont.text())));
        }
        self.writer.write_all(raw)?;
        self.writer.write_all(b"\r\n")?;
        self.finish(&tag).map(|_| ())
    }

    /// STATUS (MESSAGES).
    pub fn count(&mut self, mailbox: &str) -> std::io::Result<usize> {
        let resp = self.command(&format!("STATUS {} (MESSAGES)", quote(mailbox)))?;
        resp.iter()
            .find_map(|r| {
                let t = r.text();
                let rest = &t[t.find("(MESSAGES ")? + "(MESSAGES ".len()..];
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            })
            .ok_or_else(|| io_err("no MESSAGES in the STATUS response".into()))
    }

    /// EXAMINEs the mailbox (read-only) and fetches every message whole.
    pub fn fetch_all(&mut self, mailbox: &str) -> std::io::Result<Vec<Vec<u8>>> {
        let resp = self.command(&format!("EXAMINE {}", quote(mailbox)))?;
        let exists = resp
            .iter()
            .find_map(|r| {
                let t = r.text();
                let n = t.strip_prefix("* ")?.strip_suffix(" EXISTS")?;
                n.parse::<usize>().ok()
            })
            .unwrap_or(0);
        if exists == 0 {
            return Ok(Vec::new());
        }
        let resp = self.command("UID FETCH 1:* (BODY.PEEK[])")?;
        Ok(resp
            .into_iter()
            .filter(|r| r.text().contains(" FETCH ") && r.text().contains("BODY[]"))
            .filter_map(|mut r| r.literals.pop())
            .collect())
    }

    pub fn logout(mut self) {
        let _ = self.command("LOGOUT");
    }
}
