//! Secret key material that others can read stops csirtd (issue 13): the
//! team key and its passphrase file, for `run` and for `check-config`.

mod common;

use common::gpg::{install_keys, Gpg};
use common::{run_with_timeout, Env};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

fn env_with_team_key(passphrase: bool) -> Env {
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let extra = if passphrase {
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\npassphrase_file = \"team.pass\"\n"
    } else {
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n"
    };
    let env = Env::with_extra(extra);
    install_keys(env.dir.path(), &team, "cert@cert.example", &[]);
    if passphrase {
        std::fs::write(env.path("team.pass"), "\n").expect("passphrase file");
        chmod(&env, "team.pass", 0o600);
    }
    env
}

fn chmod(env: &Env, file: &str, mode: u32) {
    std::fs::set_permissions(env.path(file), std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `check-config` and `run --drain` both refuse, naming the file and the fix.
fn assert_refused(env: &Env, file: &str) {
    let shown = env.path(file).display().to_string();
    let out = env.run(&["check-config"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "check-config accepted {file}: {err}");
    assert!(
        err.contains(&shown) && err.contains(&format!("chmod 600 {shown}")),
        "check-config: {err}"
    );
    let (code, log) = run_with_timeout(env, &["run", "--drain"], Duration::from_secs(60));
    assert!(
        code.is_some_and(|c| c != 0),
        "run started with {file} readable by others: {code:?}\n{log}"
    );
    assert!(
        log.contains(&shown) && log.contains(&format!("chmod 600 {shown}")),
        "run: {log}"
    );
}

fn assert_accepted(env: &Env) {
    env.ok(&["check-config"]);
    let (code, log) = run_with_timeout(env, &["run", "--drain"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn a_team_key_readable_by_group_or_others_stops_csirtd() {
    let env = env_with_team_key(false);
    assert_accepted(&env);
    for mode in [0o640, 0o604, 0o644] {
        chmod(&env, "team.asc", mode);
        assert_refused(&env, "team.asc");
    }
    chmod(&env, "team.asc", 0o600);
    assert_accepted(&env);
}

#[test]
fn a_passphrase_file_readable_by_group_or_others_stops_csirtd() {
    let env = env_with_team_key(true);
    assert_accepted(&env);
    for mode in [0o640, 0o644] {
        chmod(&env, "team.pass", mode);
        assert_refused(&env, "team.pass");
    }
    chmod(&env, "team.pass", 0o400);
    assert_accepted(&env);
}
