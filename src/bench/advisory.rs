//! `csirtd bench --advisory-members 5000 --advisory-keys 1000`: one
//! advisory to a member list where some members have keys (each copy
//! encrypted separately), timed from the request to the durable commit of
//! every copy, then drained through the outbox (to `--smtp-port` on
//! 127.0.0.1, or the file transport).

use super::TEAM;
use crate::config::Config;
use crate::outbox::sender::Sender;
use crate::pgp::crypto::Crypto;
use crate::store::Store;
use crate::workflow::commands::Tlp;
use crate::workflow::publish::{publish, Request};
use openpgp::cert::{CertBuilder, CipherSuite};
use openpgp::serialize::SerializeInto;
use sequoia_openpgp as openpgp;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

pub fn run(
    dir: &Path,
    members: usize,
    keyed: usize,
    smtp_port: Option<u16>,
    connections: usize,
    per_copy: usize,
) -> anyhow::Result<()> {
    let keyring = dir.join("keyring");
    let _ = std::fs::remove_dir_all(&keyring);
    let _ = std::fs::remove_dir_all(dir.join("store"));
    std::fs::create_dir_all(&keyring)?;
    let t = Instant::now();
    let keyed = keyed.min(members);
    // Postfix in the test harness accepts `reporter+anything@`.
    let address = |i: usize| format!("reporter+m{i}@members.example");
    for i in 0..keyed {
        let (cert, _) = CertBuilder::general_purpose(Some(format!("Member {i} <{}>", address(i))))
            .set_cipher_suite(CipherSuite::Cv25519)
            .generate()?;
        std::fs::write(keyring.join(format!("m{i}.asc")), cert.armored().to_vec()?)?;
    }
    let (team, _) = CertBuilder::general_purpose(Some("CERT Bench <cert@cert.example>"))
        .set_cipher_suite(CipherSuite::Cv25519)
        .generate()?;
    let team_file = dir.join("team.asc");
    std::fs::write(&team_file, team.as_tsk().armored().to_vec()?)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&team_file, std::fs::Permissions::from_mode(0o600))?;
    }
    println!(
        "generated {keyed} member keys in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut list = format!("[[lists]]\nname = \"bench\"\nmax_tlp = \"amber\"\nencrypt = \"if-key\"\nunsubscribe = \"cert-lists@cert.example\"\nrecipients_per_copy = {per_copy}\nmembers = [\n");
    for i in 0..members {
        let _ = writeln!(list, "  {{ email = \"{}\" }},", address(i));
    }
    list.push_str("]\n");
    let outbox = match smtp_port {
        Some(p) => format!("[outbox]\ntransport = \"smtp\"\n[outbox.smtp]\nhost = \"127.0.0.1\"\nport = {p}\ntls = \"none\"\nconnections = {connections}\n"),
        None => format!("[outbox]\ntransport = \"file\"\n[outbox.file]\ndir = \"{}\"\n", dir.join("outbox").display()),
    };
    let toml = format!(
        "{TEAM}[store]\npath = \"{}\"\n{outbox}[pgp]\nkeyring = \"{}\"\nteam_key = \"{}\"\n{list}",
        dir.join("store").display(),
        keyring.display(),
        team_file.display()
    );
    let cfg = Config::from_toml(&toml, &dir.join("bench.toml"))?;
    let store = Store::open(&cfg.store.path, cfg.store.cache_mb)?;
    let t = Instant::now();
    let pgp = cfg
        .pgp
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no [pgp]"))?;
    let crypto = Crypto::from_config(pgp, cfg.limits.max_stored_size)?;
    let load = t.elapsed();

    let text = "A remote code execution vulnerability in ExampleMTA 4.2 is exploited in the wild.\n\
                Affected: ExampleMTA 4.0 to 4.2.3. Fixed in 4.2.4.\n\nIndicators:\n  198.51.100.23\n  exploit.example.net\n"
        .repeat(8);
    let t = Instant::now();
    let rec = publish(
        &cfg,
        &crypto,
        &store,
        &Request {
            list: "bench".into(),
            tlp: Tlp::Amber,
            subject: "ExampleMTA RCE exploited in the wild".into(),
            text,
            ticket: None,
            by: "bench".into(),
        },
        time::OffsetDateTime::now_utc(),
    )?;
    let queued = t.elapsed();
    let enc = rec
        .recipients
        .iter()
        .filter(|r| r.delivery == crate::store::advisory::Delivery::Encrypted)
        .count();
    let entries = store.outbox()?;
    let copies = entries.len();
    let bytes: u64 = entries
        .iter()
        .filter_map(|o| store.raw(o.message_seq).ok().flatten())
        .map(|b| b.len() as u64)
        .sum();
    println!(
        "keyring of {keyed} certificates loaded in {:.2} s",
        load.as_secs_f64()
    );
    println!(
        "advisory {} to {} members ({enc} encrypted separately, {} signed, {per_copy} per shared copy) queued and durable in {:.2} s ({:.0} members/s, {} copies, {:.1} MB)",
        rec.id,
        rec.recipients.len(),
        rec.recipients.len() - enc,
        queued.as_secs_f64(),
        rec.recipients.len() as f64 / queued.as_secs_f64(),
        copies,
        bytes as f64 / 1e6
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let sender = Sender::from_config(store.clone(), &cfg)?;
    let (_tx, shutdown) = tokio::sync::watch::channel(false);
    let hw = store.outbox_high_water()?;
    let t = Instant::now();
    let mut sent = 0;
    rt.block_on(async {
        loop {
            let n = sender.deliver_due(hw, &shutdown).await?.attempted;
            if n == 0 {
                break;
            }
            sent += n;
        }
        sender.close().await;
        anyhow::Ok(())
    })?;
    let drained = t.elapsed();
    let states = store.recipient_states(&rec)?;
    let ok = states
        .iter()
        .flatten()
        .filter(|s| s.state == crate::store::OutboxState::Sent)
        .count();
    println!(
        "drained {sent} attempts to {} in {:.2} s ({:.0} transactions/s, {:.0} members/s); {ok} sent, {} not",
        sender.transport.describe(),
        drained.as_secs_f64(),
        sent as f64 / drained.as_secs_f64(),
        ok as f64 / drained.as_secs_f64(),
        states.len() - ok
    );
    Ok(())
}
