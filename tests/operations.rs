//! Running csirtd as an operator does (issue 15): a log reader that goes
//! away or stops reading, SIGTERM in every mode, SIGHUP, and
//! `check-config` refusing what `run` refuses (exit 78, the key named).

mod common;

use common::gpg::{fingerprint, install_keys, Gpg};
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

const EX_CONFIG: i32 = 78;

fn maildir_name(i: usize) -> String {
    format!("1763900000.M{i:06}P4343.ops.example")
}

fn report(i: usize) -> Vec<u8> {
    mail(
        &format!("reporter{i}@bank{i}.example"),
        &format!("Phishing site number {i}"),
        Some(&format!("ops-{i}@bank{i}.example")),
        "",
        "Please take down http://phish.example/login",
    )
}

/// `csirtd <args>` with its standard error piped to us.
fn spawn_piped(env: &Env, args: &[&str]) -> Child {
    env.cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn csirtd")
}

/// Reads stderr until a line contains `needle`, then closes our end: from
/// then on every log write of the daemon meets a closed pipe.
fn read_until_then_close(child: &mut Child, needle: &str) {
    let err = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(err).lines();
    let found = lines.any(|l| l.is_ok_and(|l| l.contains(needle)));
    assert!(found, "stderr ended before `{needle}`");
    drop(lines);
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let end = std::time::Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return Some(s);
        }
        if std::time::Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(child: &Child) {
    // SAFETY: kill(2) on our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
}

/// Kills the child if a failed assertion leaves it running.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_closed_log_pipe_does_not_stop_the_daemon_and_sigterm_still_does() {
    let env = Env::new();
    env.deliver(&maildir_name(0), &report(0));
    let mut d = Reaper(spawn_piped(&env, &["run"]));
    read_until_then_close(&mut d.0, "csirtd running");
    for i in 1..=10 {
        env.deliver(&maildir_name(i), &report(i));
    }
    let drained = wait_until(Duration::from_secs(30), || {
        env.count_in("new") == 0 && env.tickets().len() == 11
    });
    assert!(
        drained,
        "the daemon stopped ingesting once its log reader went away: new/ {}, alive {:?}",
        env.count_in("new"),
        d.0.try_wait()
    );
    sigterm(&d.0);
    let status = wait_exit(&mut d.0, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "SIGTERM with a closed log pipe: {status:?}"
    );
}

#[test]
fn drain_with_a_closed_log_pipe_finishes_and_answers_sigterm() {
    let env = Env::new();
    for i in 0..40 {
        env.deliver(&maildir_name(i), &report(i));
    }
    // Closed early, then told to stop at once: it must stop, not spin.
    let mut d = Reaper(spawn_piped(&env, &["run", "--drain"]));
    read_until_then_close(&mut d.0, "intake started");
    sigterm(&d.0);
    let status = wait_exit(&mut d.0, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "run --drain did not end on SIGTERM with its log pipe closed: {status:?}"
    );
    // Closed early and left alone: it drains everything and exits 0.
    let mut d = Reaper(spawn_piped(&env, &["run", "--drain"]));
    read_until_then_close(&mut d.0, "intake started");
    let status = wait_exit(&mut d.0, Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "run --drain with its log pipe closed: {status:?}"
    );
    assert_eq!(env.count_in("new"), 0);
    assert_eq!(env.tickets().len(), 40);
}

#[test]
fn a_log_pipe_nobody_reads_does_not_block_intake_or_shutdown() {
    let env = Env::with_extra("[log]\nlevel = \"debug\"\n");
    let mut d = Reaper(spawn_piped(&env, &["run"]));
    // The smallest pipe the kernel gives (one page): a few debug lines fill it.
    let fd = std::os::fd::AsRawFd::as_raw_fd(d.0.stderr.as_ref().expect("stderr"));
    // SAFETY: fcntl(2) on a pipe descriptor we own.
    unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, 4096) };
    for i in 0..30 {
        env.deliver(&maildir_name(i), &report(i));
    }
    let drained = wait_until(Duration::from_secs(60), || {
        env.count_in("new") == 0 && env.tickets().len() == 30
    });
    assert!(
        drained,
        "intake stalled behind a full log pipe: new/ {}",
        env.count_in("new")
    );
    sigterm(&d.0);
    let status = wait_exit(&mut d.0, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "SIGTERM with a full log pipe: {status:?}"
    );
}

fn pgp_extra(handlers: &str) -> String {
    format!("[pgp]\nkeyring = \"keyring\"\n{handlers}")
}

fn write_config_extra(env: &Env, extra: &str) {
    let text = std::fs::read_to_string(&env.config).expect("config");
    let cut = text.find("[pgp]").unwrap_or(text.len());
    std::fs::write(&env.config, format!("{}{extra}", &text[..cut])).expect("write config");
}

#[test]
fn sighup_reloads_the_keyring_and_handlers_and_refuses_a_bad_config_without_stopping() {
    let handler = Gpg::new();
    handler.gen("Hanna <handler@cert.example>");
    let fpr = fingerprint(&handler, "handler@cert.example");
    let env = Env::with_extra(&pgp_extra(""));
    std::fs::create_dir_all(env.path("keyring")).expect("keyring dir");
    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log("csirtd running", Duration::from_secs(30)),
        "{}",
        daemon.log()
    );

    // A key imported into the keyring and a handler added to the file.
    std::fs::write(
        env.path("keyring/hanna.asc"),
        handler.export("handler@cert.example"),
    )
    .expect("cert");
    let handlers = format!(
        "[[handlers]]\nname = \"hanna\"\nemail = \"handler@cert.example\"\nfingerprint = \"{fpr}\"\n"
    );
    write_config_extra(&env, &pgp_extra(&handlers));
    daemon.signal(libc::SIGHUP);
    assert!(
        daemon.wait_for_log("SIGHUP: configuration reloaded", Duration::from_secs(20)),
        "{}",
        daemon.log()
    );
    let log = daemon.log();
    assert!(log.contains("keyring: 1 certificate(s) added"), "{log}");
    assert!(log.contains("handlers: now hanna (was none)"), "{log}");
    env.deliver(&maildir_name(1), &report(1));
    assert!(wait_until(Duration::from_secs(20), || env.tickets().len() == 1));

    // A handler whose certificate is not in the keyring: refused, still running.
    let missing = "0123456789ABCDEF0123456789ABCDEF01234567";
    write_config_extra(
        &env,
        &pgp_extra(&format!(
            "{handlers}[[handlers]]\nname = \"otto\"\nemail = \"otto@cert.example\"\nfingerprint = \"{missing}\"\n"
        )),
    );
    daemon.signal(libc::SIGHUP);
    assert!(
        daemon.wait_for_log("configuration refused", Duration::from_secs(20)),
        "{}",
        daemon.log()
    );
    assert!(
        daemon.log().contains("handlers[1].fingerprint"),
        "{}",
        daemon.log()
    );
    // A file that does not even load (a log level typo): refused too.
    let text = std::fs::read_to_string(&env.config).expect("config");
    std::fs::write(&env.config, format!("{text}\n[log]\nlevel = \"inf\"\n")).expect("config");
    daemon.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(20), || daemon
            .log()
            .matches("configuration refused")
            .count()
            == 2),
        "{}",
        daemon.log()
    );
    assert!(daemon.log().contains("log.level"), "{}", daemon.log());
    assert!(daemon.child.try_wait().expect("try_wait").is_none());
    env.deliver(&maildir_name(2), &report(2));
    assert!(
        wait_until(Duration::from_secs(20), || env.count_in("new") == 0),
        "no intake after a refused reload\n{}",
        daemon.log()
    );
    // The commands read the file too: put back the one the daemon runs with.
    write_config_extra(&env, &pgp_extra(&handlers));
    assert_eq!(env.tickets().len(), 2);
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(10));
}

/// `check-config` and `run` both exit 78 and name `key`.
fn assert_refused(env: &Env, key: &str, also: &str) {
    let out = env.run(&["check-config"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(EX_CONFIG),
        "check-config for {key}: {err}{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        err.contains(key) && err.contains(also),
        "check-config: {err}"
    );
    let (code, log) = run_with_timeout(env, &["run", "--drain"], Duration::from_secs(60));
    assert_eq!(code, Some(EX_CONFIG), "run for {key}: {log}");
    assert!(log.contains(key), "run: {log}");
}

fn set_log_level(env: &Env, level: &str) {
    let text = std::fs::read_to_string(&env.config).expect("config");
    let base = text.split("\n[log]").next().unwrap_or(&text).to_string();
    std::fs::write(&env.config, format!("{base}\n[log]\nlevel = \"{level}\"\n")).expect("config");
}

#[test]
fn check_config_refuses_log_level_typos() {
    let env = Env::new();
    for bad in ["inf", "warnings", "verbose", "info,csirtd=loud"] {
        set_log_level(&env, bad);
        assert_refused(&env, "log.level", "off, error, warn, info, debug, trace");
    }
    for good in ["warn", "info,csirtd::intake=debug"] {
        set_log_level(&env, good);
        env.ok(&["check-config"]);
    }
}

#[test]
fn check_config_refuses_fingerprints_missing_from_the_keyring() {
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let env = Env::with_extra(
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n\
         [[handlers]]\nname = \"otto\"\nemail = \"otto@cert.example\"\nfingerprint = \"0123456789ABCDEF0123456789ABCDEF01234567\"\n",
    );
    install_keys(env.dir.path(), &team, "cert@cert.example", &[]);
    assert_refused(&env, "handlers[0].fingerprint", "csirtd keys import");

    let list_env = Env::with_extra(
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n\
         [[lists]]\nname = \"banks\"\nmax_tlp = \"amber\"\nencrypt = \"always\"\n\
         members = [{ email = \"soc@bank.example\", fingerprint = \"0123456789ABCDEF0123456789ABCDEF01234567\" }]\n",
    );
    install_keys(list_env.dir.path(), &team, "cert@cert.example", &[]);
    assert_refused(
        &list_env,
        "lists[0].members[0].fingerprint",
        "not in the keyring",
    );
}

fn team_key_env(passphrase: Option<&str>) -> Env {
    let extra = match passphrase {
        Some(_) => {
            "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\npassphrase_file = \"team.pass\"\n"
        }
        None => "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n",
    };
    let env = Env::with_extra(extra);
    std::fs::create_dir_all(env.path("keyring")).expect("keyring");
    if let Some(p) = passphrase {
        write_private(&env, "team.pass", format!("{p}\n").as_bytes());
    }
    env
}

fn write_private(env: &Env, name: &str, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(env.path(name), bytes).expect("write");
    std::fs::set_permissions(env.path(name), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
}

#[test]
fn check_config_refuses_team_keys_that_do_not_load() {
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");

    let public_only = team_key_env(None);
    write_private(&public_only, "team.asc", &team.export("cert@cert.example"));
    assert_refused(&public_only, "pgp.team_key", "--export-secret-keys");

    let garbage = team_key_env(None);
    write_private(&garbage, "team.asc", b"this is not a key\n");
    assert_refused(&garbage, "pgp.team_key", "");

    let locked_gpg = Gpg::new();
    let locked = locked_gpg.gen_locked(
        "CERT Example <cert@cert.example>",
        "cert@cert.example",
        "correct horse",
    );
    let no_passphrase = team_key_env(None);
    write_private(&no_passphrase, "team.asc", &locked);
    assert_refused(&no_passphrase, "pgp.passphrase_file", "no passphrase_file");

    let wrong = team_key_env(Some("battery staple"));
    write_private(&wrong, "team.asc", &locked);
    assert_refused(&wrong, "pgp.passphrase_file", "does not unlock");

    let right = team_key_env(Some("correct horse"));
    write_private(&right, "team.asc", &locked);
    right.ok(&["check-config"]);
}

#[test]
fn check_config_refuses_a_missing_maildir_it_may_not_create_and_an_unopenable_store() {
    let env = Env::new();
    let text = std::fs::read_to_string(&env.config).expect("config");
    std::fs::write(
        &env.config,
        text.replace(
            "poll_interval_ms = 50",
            "poll_interval_ms = 50\ncreate = false",
        ),
    )
    .expect("config");
    assert_refused(&env, "intake.maildir.path", "create = true");
    env.deliver(&maildir_name(0), b"");
    std::fs::remove_file(env.path("maildir/new").join(maildir_name(0))).expect("rm");
    env.ok(&["check-config"]);

    let store_env = Env::new();
    std::fs::write(store_env.path("store"), b"not a directory").expect("file");
    assert_refused(&store_env, "store.path", "not a directory");

    // Read by the account before it connects: refused at start, not
    // found out by a reconnect loop.
    let imap_env = Env::with_extra(
        "[[intake.imap]]\nname = \"main\"\nhost = \"127.0.0.1\"\nuser = \"cert\"\n\
         password_file = \"imap-password\"\nca_file = \"ca.pem\"\n",
    );
    write_private(&imap_env, "imap-password", b"secret\n");
    std::fs::write(imap_env.path("ca.pem"), b"not a certificate\n").expect("ca");
    assert_refused(&imap_env, "intake.imap[0].ca_file", "account main");
}

#[test]
fn check_config_passes_a_valid_config_and_says_when_a_daemon_holds_the_store() {
    let env = Env::new();
    let out = env.ok(&["check-config"]);
    assert!(out.contains("is valid"), "{out}");
    assert!(out.contains("will be created"), "{out}");
    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log("csirtd running", Duration::from_secs(30)),
        "{}",
        daemon.log()
    );
    let out = env.ok(&["check-config"]);
    assert!(
        out.contains("in use by the csirtd daemon"),
        "check-config with the daemon running: {out}"
    );
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(10));
}

#[test]
fn keys_import_reaches_the_running_daemon_at_once() {
    let reporter = Gpg::new();
    reporter.gen("Rita <rita@bank.example>");
    let env = Env::with_extra(&pgp_extra(""));
    std::fs::create_dir_all(env.path("keyring")).expect("keyring dir");
    let cert = env.path("rita.asc");
    std::fs::write(&cert, reporter.export("rita@bank.example")).expect("cert");
    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log("csirtd running", Duration::from_secs(30)),
        "{}",
        daemon.log()
    );
    let out = env.ok(&["keys", "import", cert.to_str().expect("utf-8 path")]);
    assert!(out.contains("asked to reload its keyring"), "{out}");
    assert!(
        daemon.wait_for_log("keyring: 1 certificate(s) added", Duration::from_secs(20)),
        "{}",
        daemon.log()
    );
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(10));
}

#[test]
fn json_logs_hold_lists_as_arrays() {
    let env = Env::new();
    env.ingest_ok(&report(1));
    let out = env
        .cmd()
        .args(["--log-format", "json", "outbox", "deliver"])
        .output()
        .expect("run csirtd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let delivered: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
        .filter(|l: &serde_json::Value| l["message"] == "delivered")
        .collect();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(
        delivered[0]["recipients"],
        serde_json::json!(["reporter1@bank1.example"])
    );
    assert_eq!(delivered[0]["level"], "INFO");
}

/// An acknowledgement's signature checked by `gpg` against `signer`'s
/// certificate; returns gpg's status lines.
fn gpg_check(signer: &Gpg, raw: &[u8]) -> String {
    let (data, sig) = common::gpg::split_signed(raw);
    let dir = tempfile::tempdir().expect("tempdir");
    let (d, s) = (dir.path().join("data"), dir.path().join("sig.asc"));
    std::fs::write(&d, &data).expect("data");
    std::fs::write(&s, &sig).expect("sig");
    let v = signer.run(
        &[
            "--status-fd",
            "1",
            "--verify",
            s.to_str().unwrap(),
            d.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        v.status.success(),
        "gpg --verify: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    String::from_utf8_lossy(&v.stdout).into_owned()
}

#[test]
fn a_rotated_team_key_signs_at_once_and_the_old_one_still_decrypts() {
    // The README's rotation: the new key first in the team key file, the
    // old one after it, then SIGHUP.
    let old = Gpg::new();
    old.gen("CERT Example <cert@cert.example>");
    let new = Gpg::new();
    new.gen("CERT Example <cert@cert.example>");
    let reporter = Gpg::new();
    reporter.gen("Rita <rita@bank.example>");
    reporter.import(&old.export("cert@cert.example"));
    let (old_fpr, new_fpr) = (
        fingerprint(&old, "cert@cert.example"),
        fingerprint(&new, "cert@cert.example"),
    );
    // Signed only, so that the signature can be checked as it is sent.
    let env = Env::with_extra(
        "[ack]\nencrypt = \"never\"\n[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n",
    );
    std::fs::create_dir_all(env.path("keyring")).expect("keyring");
    write_private(&env, "team.asc", &old.export_secret("cert@cert.example"));
    std::fs::write(
        env.path("keyring/rita.asc"),
        reporter.export("rita@bank.example"),
    )
    .expect("cert");
    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log("csirtd running", Duration::from_secs(30)),
        "{}",
        daemon.log()
    );

    let mut both = new.export_secret("cert@cert.example");
    both.extend_from_slice(&old.export_secret("cert@cert.example"));
    write_private(&env, "team.asc", &both);
    daemon.signal(libc::SIGHUP);
    assert!(
        daemon.wait_for_log("SIGHUP: configuration reloaded", Duration::from_secs(20)),
        "{}",
        daemon.log()
    );
    assert!(
        daemon
            .log()
            .contains(&format!("team key: {new_fpr} (was {old_fpr})")),
        "{}",
        daemon.log()
    );

    // A reporter who still has only the old certificate encrypts to it.
    let encrypted = reporter.ok(
        &[
            "-r",
            "cert@cert.example",
            "--trust-model",
            "always",
            "--armor",
            "--encrypt",
            "-o",
            "-",
        ],
        Some(b"Content-Type: text/plain\r\n\r\nScanning from 192.0.2.77\r\n"),
    );
    let raw = format!(
        "From: Rita <rita@bank.example>\r\nTo: cert@cert.example\r\nSubject: encrypted report\r\nMessage-ID: <rot-1@bank.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"enc\"\r\n\r\n--enc\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--enc\r\nContent-Type: application/octet-stream\r\n\r\n{}\r\n--enc--\r\n",
        String::from_utf8_lossy(&encrypted)
    );
    env.deliver(&maildir_name(1), raw.as_bytes());
    assert!(
        wait_until(Duration::from_secs(30), || env.sent_files().len() == 1),
        "{}",
        daemon.log()
    );
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(10));

    let ticket = env.ticket(env.tickets()[0]["id"].as_str().unwrap());
    let message = &ticket["messages"][0];
    assert_eq!(message["encryption"]["status"], "decrypted", "{message}");
    assert!(
        ticket["indicators"].to_string().contains("192.0.2.77"),
        "{ticket}"
    );
    // The acknowledgement is signed with the new key, which the reporter
    // will be told about; the old one signs nothing any more.
    let sent = std::fs::read(&env.sent_files()[0]).expect("ack");
    new.import(&old.export("cert@cert.example"));
    let status = gpg_check(&new, &sent);
    assert!(status.contains(&format!("VALIDSIG {new_fpr}")), "{status}");
}
