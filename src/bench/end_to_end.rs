//! `csirtd bench --end-to-end`: the whole way, through a real daemon. N
//! generated reports in a Maildir, then `csirtd run --drain` (this binary,
//! as a child process) takes them in, opens tickets and sends the signed
//! acknowledgements to an SMTP server on 127.0.0.1 (`--smtp-port`; the test
//! harness's private Postfix, see tests/end_to_end_bench.rs) or to the file
//! transport. Timed from the daemon's start until the last acknowledgement
//! was accepted (Postfix's 250, or the file batch made durable).
//!
//! Per acknowledgement it reports the latency from its report's pickup
//! (the daemon opening the file in `new/`, seen through inotify by
//! `pickups`) and from its commit (`stored_at`) to the transport's
//! acceptance (`sent_at` is recorded at the 250).

use super::{generate_from, percentile, signed, BenchArgs, TEAM};
use crate::config::Config;
use crate::model::Direction;
use crate::store::{OutboxState, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

pub fn run(dir: &Path, args: &BenchArgs) -> anyhow::Result<()> {
    let maildir = dir.join("maildir");
    let store_path = dir.join("store");
    for d in [&store_path, &maildir, &dir.join("outbox")] {
        let _ = std::fs::remove_dir_all(d);
    }
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    // The team key signs the acknowledgements either way; the reporters
    // sign only with --signed.
    let signing = match args.signed.or(args.team_key) {
        Some(kind) => Some(signed::setup(dir, kind)?),
        None => None,
    };
    let outbox = match args.smtp_port {
        Some(p) => format!(
            "transport = \"smtp\"\nflush_batch = {}\n[outbox.smtp]\nhost = \"127.0.0.1\"\nport = {p}\ntls = \"none\"\nconnections = {}\n",
            args.flush_batch, args.connections
        ),
        None => format!(
            "transport = \"file\"\nflush_batch = {}\n[outbox.file]\ndir = \"{}\"\n",
            args.flush_batch,
            dir.join("outbox").display()
        ),
    };
    let toml = format!(
        "{TEAM}[store]\npath = \"{}\"\ngroup_commit = {}\ncache_mb = {}\n\
         [intake.maildir]\npath = \"{}\"\n\
         [ack]\nrate_limit = 1000000\n\
         {}\n[outbox]\n{outbox}",
        store_path.display(),
        args.group_commit,
        args.cache_mb,
        maildir.display(),
        signing
            .as_ref()
            .map(|(_, t)| t.as_str())
            .unwrap_or_default(),
    );
    let config = dir.join("bench.toml");
    std::fs::write(&config, &toml)?;
    // Checked here, so that a mistake shows before the generation.
    Config::from_toml(&toml, &config)?;

    let t = Instant::now();
    // The harness's Postfix accepts only its users (and their +tags).
    let prefix = if args.smtp_port.is_some() {
        "reporter+"
    } else {
        ""
    };
    let stats = generate_from(
        &maildir,
        args.messages,
        args.seed,
        signing
            .as_ref()
            .filter(|_| args.signed.is_some())
            .map(|(s, _)| s),
        prefix,
    )?;
    println!(
        "generated {} reports ({} follow-ups, {} re-deliveries; {:.1} MB) in {:.1} s",
        args.messages,
        stats.followups,
        stats.duplicates,
        stats.bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let log = std::fs::File::create(dir.join("daemon.log"))?;
    let watch = super::pickups::PickupWatch::start(&maildir.join("new"))?;
    let started = OffsetDateTime::now_utc();
    let t = Instant::now();
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("--config")
        .arg(&config)
        .args(["run", "--drain"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .status()?;
    let wall = t.elapsed();
    let pickups = watch.finish();
    anyhow::ensure!(
        status.success(),
        "`csirtd run --drain` failed ({status}); see {}",
        dir.join("daemon.log").display()
    );
    let (rss_kib, cpu) = children_usage();

    let store = Store::open(&store_path, args.cache_mb)?;
    let figures = measure(&store, started, &pickups)?;
    let span = figures.last_sent.unwrap_or(wall);
    let transport = match args.smtp_port {
        Some(p) => format!(
            "SMTP 127.0.0.1:{p}, {} connections, flush_batch {}",
            args.connections, args.flush_batch
        ),
        None => format!("file transport, flush_batch {}", args.flush_batch),
    };
    println!(
        "end to end ({transport}{}): {} reports in {:.2} s to the last acceptance: {:.0} msg/s; {} acknowledgements sent ({:.0}/s), {}",
        match (args.signed, args.team_key) {
            (Some(k), _) => format!(", signed {k:?}"),
            (None, Some(k)) => format!(", unsigned reports, acknowledgements signed {k:?}"),
            (None, None) => String::new(),
        },
        args.messages,
        span.as_secs_f64(),
        args.messages as f64 / span.as_secs_f64(),
        figures.sent,
        figures.sent as f64 / span.as_secs_f64(),
        figures.states
    );
    println!(
        "  latency from the report's pickup to the transport's acceptance: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} of {} pickups seen{})",
        ms(percentile(&figures.from_pickup, 0.50)),
        ms(percentile(&figures.from_pickup, 0.99)),
        ms(percentile(&figures.from_pickup, 1.0)),
        figures.from_pickup.len(),
        figures.latencies.len(),
        if pickups.overflowed { "; the inotify queue overflowed" } else { "" },
    );
    println!(
        "  latency from the report's commit to the transport's acceptance: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        ms(percentile(&figures.latencies, 0.50)),
        ms(percentile(&figures.latencies, 0.99)),
        ms(percentile(&figures.latencies, 1.0)),
    );
    println!(
        "  daemon: {:.2} s from start to exit, peak RSS (VmHWM) {:.1} MiB, CPU {:.1} s ({:.0} µs per report)",
        wall.as_secs_f64(),
        rss_kib as f64 / 1024.0,
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / args.messages.max(1) as f64
    );
    anyhow::ensure!(
        figures.unsent == 0,
        "{} acknowledgement(s) not sent; see {}",
        figures.unsent,
        dir.join("daemon.log").display()
    );
    Ok(())
}

struct Figures {
    sent: usize,
    unsent: usize,
    states: String,
    /// From the causing report's commit; sorted.
    latencies: Vec<Duration>,
    /// From the causing report's pickup, where it was seen; sorted.
    from_pickup: Vec<Duration>,
    /// From the daemon's start to the last acceptance.
    last_sent: Option<Duration>,
}

fn measure(
    store: &Store,
    started: OffsetDateTime,
    pickups: &super::pickups::Pickups,
) -> anyhow::Result<Figures> {
    let mut states = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut from_pickup = Vec::new();
    let mut last: Option<OffsetDateTime> = None;
    let (mut sent, mut unsent) = (0, 0);
    let mut incoming: BTreeMap<String, Vec<(OffsetDateTime, String)>> = BTreeMap::new();
    for e in store.outbox()? {
        *states.entry(e.state.as_str()).or_insert(0usize) += 1;
        let Some(at) = e.sent_at.filter(|_| e.state == OutboxState::Sent) else {
            unsent += 1;
            continue;
        };
        sent += 1;
        last = last.max(Some(at));
        let key = e.ticket.to_string();
        if !incoming.contains_key(&key) {
            let mut times: Vec<(OffsetDateTime, String)> = store
                .messages(e.ticket)?
                .into_iter()
                .filter(|m| m.direction == Direction::In)
                .map(|m| (m.stored_at, m.origin))
                .collect();
            times.sort();
            incoming.insert(key.clone(), times);
        }
        // The report that caused it: the last one committed before it.
        let cause = incoming
            .get(&key)
            .and_then(|v| v.iter().rev().find(|(t, _)| *t <= e.created_at));
        if let Some((stored, origin)) = cause {
            latencies.push((at - *stored).unsigned_abs());
            let picked = origin
                .strip_prefix("maildir:")
                .and_then(|name| pickups.at.get(name));
            if let Some(p) = picked {
                from_pickup.push((at - *p).unsigned_abs());
            }
        }
    }
    latencies.sort();
    from_pickup.sort();
    Ok(Figures {
        sent,
        unsent,
        states: states
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        latencies,
        from_pickup,
        last_sent: last.map(|l| (l - started).unsigned_abs()),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The largest resident set of the children waited for (the daemon), in
/// KiB, and the CPU time (user and system) they used.
fn children_usage() -> (u64, Duration) {
    // SAFETY: getrusage fills the struct it is given; zeroed is a valid start.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if rc != 0 {
        return (0, Duration::ZERO);
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    (
        u64::try_from(usage.ru_maxrss).unwrap_or(0),
        time(usage.ru_utime) + time(usage.ru_stime),
    )
}
