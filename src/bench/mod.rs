//! `csirtd bench`: generates realistic reports into a Maildir and runs them
//! through the daemon's own intake path (poll, parse, decide, commit, group
//! flush, release) with the outbox filled. Prints throughput, latency
//! percentiles and peak memory. Run it on a release build.

use crate::batch::{commit_overlapped, poll_sources, Ready};
use crate::config::Config;
use crate::intake::maildir::MaildirSource;
use crate::intake::Source;
use crate::store::Store;
use crate::workflow::pipeline::Pipeline;
use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// How many reports to generate and ingest
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Working directory (a fresh temporary one by default; deleted afterwards unless --keep)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Messages per durable commit (store.group_commit)
    #[arg(long, default_value_t = 256)]
    pub group_commit: usize,
    /// sled page cache in MiB (store.cache_mb)
    #[arg(long, default_value_t = crate::config::DEFAULT_CACHE_MB)]
    pub cache_mb: u64,
    /// Keep the generated Maildir and store
    #[arg(long)]
    pub keep: bool,
    /// Seed for the generated corpus, so that runs are comparable
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Every report PGP/MIME-signed by a reporter key the team trusts, and
    /// every acknowledgement signed by the team key of the same kind
    #[arg(long, value_enum)]
    pub signed: Option<signed::KeyKind>,
    /// With --end-to-end and without --signed: unsigned reports, every
    /// acknowledgement signed by a team key of this kind (what a team
    /// sends to constituents who do not sign)
    #[arg(long, value_enum, conflicts_with = "signed")]
    pub team_key: Option<signed::KeyKind>,
    /// With --signed: also encrypt each acknowledgement to the reporter's key
    #[arg(long)]
    pub encrypt_acks: bool,
    /// Sender authentication on: `[auth] mode = "verify"` through the DNS
    /// server at IP:PORT (see scripts/bench-auth.sh, which serves the
    /// generated reporters' SPF and DMARC records with nsd)
    #[arg(long, value_name = "IP:PORT")]
    pub auth_resolver: Option<String>,
    /// Instead: write N generated tickets with indicators into a store and time `search`
    #[arg(long, value_name = "N")]
    pub search_tickets: Option<usize>,
    /// Instead: write N generated tickets with the list index into a store
    /// and time the first page of `ticket list` with filters
    #[arg(long, value_name = "N")]
    pub list_tickets: Option<usize>,
    /// Instead: N generated tickets (and a few real reports) served by the
    /// daemon's web desk on loopback; times the queue, ticket and search
    /// pages, `csirtd search`, and the RSS the desk adds at idle
    #[arg(long, value_name = "N")]
    pub web: Option<usize>,
    /// Instead: ingest one Shadowserver mail whose zipped CSV has N rows
    #[arg(long, value_name = "N")]
    pub shadowserver_rows: Option<usize>,
    /// Instead of intake: one advisory to a list of this many members
    #[arg(long)]
    pub advisory_members: Option<usize>,
    /// Instead: N expired tickets written into a store, then purged and compacted (retention)
    #[arg(long, value_name = "N")]
    pub purge: Option<usize>,
    /// With --advisory-members: how many members have a key (each copy encrypted)
    #[arg(long, default_value_t = 1000)]
    pub advisory_keys: usize,
    /// With --advisory-members: members per shared signed copy (the list's
    /// recipients_per_copy; 1 = a copy per member)
    #[arg(long, default_value_t = crate::config::DEFAULT_RECIPIENTS_PER_COPY)]
    pub per_copy: usize,
    /// With --advisory-members or --end-to-end: drain to the SMTP server on
    /// 127.0.0.1:PORT (no TLS) instead of the file transport
    #[arg(long)]
    pub smtp_port: Option<u16>,
    /// Instead: the whole way through `csirtd run --drain`, from the Maildir
    /// to acknowledgements accepted by the transport (see --smtp-port)
    #[arg(long)]
    pub end_to_end: bool,
    /// With --smtp-port (--end-to-end or --advisory-members): SMTP sessions (outbox.smtp.connections)
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// With --end-to-end: deliveries per store flush (outbox.flush_batch)
    #[arg(long, default_value_t = 64)]
    pub flush_batch: usize,
}

mod advisory;
mod analysis;
mod end_to_end;
mod list;
mod pickups;
mod purge;
mod signed;
mod web;

/// The `[team]` table of every benchmark's configuration.
const TEAM: &str = r#"[team]
name = "CERT Bench"
address = "cert@cert.example"
tag = "CERT-EX"
domain = "cert.example"
"#;

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; figures are meaningless. Use: cargo run --release -- bench");
    }
    let tmp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempdir()?;
            tmp.clone()
        }
    };
    let result = if args.end_to_end {
        end_to_end::run(&dir, args)
    } else if let Some(n) = args.web {
        web::run(&dir, n, args.seed)
    } else {
        match (
            args.list_tickets,
            args.purge,
            args.advisory_members,
            args.search_tickets,
            args.shadowserver_rows,
        ) {
            (Some(n), _, _, _, _) => list::run(&dir, n, args.seed),
            (_, Some(n), _, _, _) => purge::run(&dir, n),
            (_, _, Some(n), _, _) => advisory::run(
                &dir,
                n,
                args.advisory_keys,
                args.smtp_port,
                args.connections,
                args.per_copy,
            ),
            (_, _, _, Some(n), _) => analysis::search(&dir, n, args.seed),
            (_, _, _, _, Some(n)) => analysis::shadowserver(&dir, n, args.seed),
            _ => run_in(&dir, args),
        }
    };
    if !args.keep && args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("csirtd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    Ok(base)
}

fn run_in(dir: &Path, args: &BenchArgs) -> anyhow::Result<()> {
    let maildir = dir.join("maildir");
    let store_path = dir.join("store");
    let _ = std::fs::remove_dir_all(&store_path);
    let _ = std::fs::remove_dir_all(&maildir);
    let signing = match args.signed {
        Some(kind) => Some(signed::setup(dir, kind)?),
        None => None,
    };
    let pgp_toml = signing.as_ref().map(|(_, t)| t.clone()).unwrap_or_default();
    let toml = format!(
        r#"
{TEAM}[store]
path = "{store}"
group_commit = {group}
cache_mb = {cache}
[intake.maildir]
path = "{maildir}"
[outbox]
transport = "file"
[outbox.file]
dir = "{outbox}"
[ack]
rate_limit = 1000000
encrypt = "{ack_encrypt}"
{auth}
{pgp}"#,
        store = store_path.display(),
        maildir = maildir.display(),
        outbox = dir.join("outbox").display(),
        group = args.group_commit,
        cache = args.cache_mb,
        pgp = pgp_toml,
        ack_encrypt = if args.encrypt_acks { "if-key" } else { "never" },
        auth = match &args.auth_resolver {
            Some(r) => format!("[auth]\nmode = \"verify\"\nresolvers = [\"{r}\"]\n"),
            None => String::new(),
        },
    );
    let cfg = Config::from_toml(&toml, &dir.join("bench.toml"))?;
    let mut src = MaildirSource::open(&maildir, true, cfg.limits.max_stored_size as u64)?;

    let t0 = Instant::now();
    let stats = generate(
        &maildir,
        args.messages,
        args.seed,
        signing.as_ref().map(|(s, _)| s),
    )?;
    let gen_time = t0.elapsed();
    println!(
        "generated {} reports ({} plain, {} multipart, {} follow-ups, {} re-deliveries; {:.1} MB, 2-8 KB each) in {:.1} s",
        args.messages,
        stats.plain,
        stats.multipart,
        stats.followups,
        stats.duplicates,
        stats.bytes as f64 / 1e6,
        gen_time.as_secs_f64()
    );

    let store = Store::open(&store_path, cfg.store.cache_mb)?;
    let pipeline = Pipeline::new(store.clone(), cfg.clone())?;
    let _ = src.poll(0);
    let mut sources: Vec<Box<dyn Source>> = vec![Box::new(src)];

    let mut latencies: Vec<Duration> = Vec::with_capacity(args.messages);
    let (mut created, mut appended, mut dups, mut failed) = (0, 0, 0, 0);
    let mut checkpoints = Vec::new();
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    // As the daemon does: the next batch is prepared while one commits.
    let mut ready = Some(Ready::prepare(
        &pipeline,
        poll_sources(
            &mut sources,
            args.group_commit,
            cfg.store.group_commit_bytes(),
        ),
    ));
    while let Some(current) = ready.take() {
        let next = poll_sources(
            &mut sources,
            args.group_commit,
            cfg.store.group_commit_bytes(),
        );
        let (r, after) = commit_overlapped(&pipeline, &mut sources, current, next, None);
        ready = after;
        created += r.created;
        appended += r.appended;
        dups += r.duplicates;
        failed += r.failed;
        latencies.extend(r.latencies);
        let done = latencies.len();
        // Every tenth of the run: whether memory stays flat as the store grows.
        for tenth in 1..10 {
            let mark = args.messages * tenth / 10;
            if mark > 0 && done >= mark && !checkpoints.iter().any(|(m, _)| *m == mark) {
                checkpoints.push((mark, peak_rss_kb()));
            }
        }
        if failed > 0 {
            anyhow::bail!("{failed} message(s) failed to store; see the log");
        }
    }
    let before_merge = peak_rss_kb();
    // The index records of the last batches, as the idle daemon merges
    // them: part of the work, so part of the time.
    crate::batch::merge_index(&pipeline);
    store.flush()?;
    let wall = start.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    let n = latencies.len();
    anyhow::ensure!(
        n == args.messages,
        "stored {n} of {} messages",
        args.messages
    );
    latencies.sort();
    let pct = |p: f64| percentile(&latencies, p);
    let end_rss = peak_rss_kb();
    let verdicts = if args.signed.is_some() {
        verdict_counts(&store)?
    } else {
        String::new()
    };
    let outbox = store.outbox_high_water()?;
    let mut states = std::collections::BTreeMap::new();
    for e in store.outbox()? {
        *states.entry(e.state.as_str()).or_insert(0usize) += 1;
    }
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let disk = dir_size(&store_path);
    println!(
        "ingested {n} messages in {:.2} s: {:.0} messages/s (group commit {}, durable flush per batch)",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        args.group_commit
    );
    println!(
        "  CPU time {:.2} s ({:.0} µs per message; {:.2} cores busy on average)",
        cpu,
        cpu * 1e6 / n as f64,
        cpu / wall.as_secs_f64()
    );
    println!("  tickets created {created}, follow-ups appended {appended}, duplicates {dups}, acknowledgements queued {outbox}");
    println!("  outbox: {}", states.join(", "));
    println!(
        "  latency from pickup to durable release: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(latencies[n - 1])
    );
    if !checkpoints.is_empty() {
        let marks: Vec<String> = checkpoints
            .iter()
            .map(|(mark, rss)| format!("{mark} {:.0}", *rss as f64 / 1024.0))
            .collect();
        println!(
            "  peak RSS (VmHWM) by messages stored, MiB: {}",
            marks.join(", ")
        );
    }
    println!(
        "  peak RSS after the last batch: {:.1} MiB; at the end (the idle index merge done): {:.1} MiB; store on disk {:.1} MB",
        before_merge as f64 / 1024.0,
        end_rss as f64 / 1024.0,
        disk as f64 / 1e6
    );
    if let Some(kind) = args.signed {
        println!("  verdicts: {verdicts}");
        let cost = signed::ack_signing_cost(dir, kind)?;
        println!("  signing one acknowledgement ({kind:?} team key): {cost:.0} µs, included in the figures above");
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// User and system CPU time of this process so far, from /proc (Linux's
/// clock tick is 1/100 s). Unlike wall time it barely moves when other work
/// shares the machine, so runs on a busy machine stay comparable.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name, which may hold spaces.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// The process's peak resident set (VmHWM), in KiB; 0 where /proc has none.
pub fn peak_rss_kb() -> u64 {
    status_kb("self", "VmHWM:")
}

/// A KiB field (`VmRSS:`, `VmHWM:`) of `/proc/PROCESS/status`; 0 where
/// /proc has none.
pub(super) fn status_kb(process: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The `p` quantile (0 to 1) of sorted durations; zero for none.
pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let n = sorted.len();
    if n == 0 {
        return Duration::ZERO;
    }
    sorted[((n as f64 * p).ceil() as usize).clamp(1, n) - 1]
}

pub(super) fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                match e.metadata() {
                    Ok(m) if m.is_dir() => stack.push(e.path()),
                    Ok(m) => total += m.len(),
                    Err(_) => {}
                }
            }
        }
    }
    total
}

#[derive(Default)]
struct GenStats {
    plain: usize,
    multipart: usize,
    followups: usize,
    duplicates: usize,
    bytes: u64,
}

const KINDS: &[&str] = &[
    "Phishing site impersonating online banking",
    "Compromised web server serving malware",
    "SSH brute force from your network",
    "Open resolver abused for DDoS amplification",
    "Ransomware infection at branch office",
    "Credential leak on paste site",
    "Vulnerable Exchange server (CVE-2021-26855)",
    "Botnet C2 traffic observed",
];

const FILLER: &str =
    "We observed the activity below in our logs and would appreciate your help in \
investigating it. Timestamps are UTC. Please treat this information as TLP:AMBER and share it only \
with those who need it to respond. ";

/// Writes `n` messages into `maildir/new`, one file at a time so that memory
/// stays flat in `n`.
fn generate(
    maildir: &Path,
    n: usize,
    seed: u64,
    signer: Option<&signed::Signer>,
) -> anyhow::Result<GenStats> {
    generate_from(maildir, n, seed, signer, "")
}

/// As [`generate`], the unsigned reports' senders' local parts starting
/// with `local_prefix` (`reporter+` for the test harness's Postfix, which
/// accepts only its own users, plus any tag).
fn generate_from(
    maildir: &Path,
    n: usize,
    seed: u64,
    signer: Option<&signed::Signer>,
    local_prefix: &str,
) -> anyhow::Result<GenStats> {
    let unsigned_from =
        |i: usize| format!("{local_prefix}soc{}@reporter{}.example", i % 13, i % 97);
    let from =
        |i: usize| signer.map_or_else(|| unsigned_from(i), |_| signed::SIGNED_FROM.to_string());
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stats = GenStats::default();
    let mut reports: Vec<(String, u32)> = Vec::new(); // (message-id, ticket seq) of new reports
    let year = time::OffsetDateTime::now_utc().year();
    let new_dir = maildir.join("new");
    let mut last_raw: Option<Vec<u8>> = None;
    for i in 0..n {
        let roll: f64 = rng.gen();
        let raw = if roll < 0.02 && last_raw.is_some() {
            stats.duplicates += 1;
            last_raw.clone().unwrap_or_default()
        } else if roll < 0.17 && !reports.is_empty() {
            stats.followups += 1;
            let (mid, seq) = reports[rng.gen_range(0..reports.len())].clone();
            let tag = rng.gen_bool(0.5).then_some((year, seq));
            followup(&mut rng, i, &mid, tag, &from(i))
        } else {
            let multipart = rng.gen_bool(0.4);
            if multipart {
                stats.multipart += 1;
            } else {
                stats.plain += 1;
            }
            let mid = format!("report-{i}-{seed}@reporter{}.example", i % 97);
            reports.push((mid.clone(), reports.len() as u32 + 1));
            report(&mut rng, i, &mid, multipart, &from(i))
        };
        let raw = match signer {
            Some(s) if Some(&raw) != last_raw.as_ref() => s.sign(&raw)?,
            _ => raw,
        };
        stats.bytes += raw.len() as u64;
        let name = format!(
            "{:010}.M{i}P{}.bench",
            1_700_000_000 + i,
            std::process::id()
        );
        let mut f =
            std::fs::File::create(new_dir.join(&name)).context("writing the generated Maildir")?;
        f.write_all(&raw)?;
        last_raw = Some(raw);
    }
    Ok(stats)
}

fn body_text(rng: &mut StdRng, target: usize) -> String {
    let mut s = String::with_capacity(target + 200);
    while s.len() < target {
        s.push_str(FILLER);
        let ip = format!("198.51.{}.{}", rng.gen_range(0..255), rng.gen_range(1..255));
        s.push_str(&format!(
            "\n2026-11-{:02}T{:02}:{:02}:{:02}Z {ip} -> 203.0.113.{} port {} hxxp://login-secure{}[.]example/verify\n",
            rng.gen_range(1..28),
            rng.gen_range(0..24),
            rng.gen_range(0..60),
            rng.gen_range(0..60),
            rng.gen_range(1..255),
            rng.gen_range(1..65535),
            rng.gen_range(0..1000)
        ));
    }
    s
}

fn headers(i: usize, mid: &str, from: &str, subject: &str) -> String {
    format!(
        "Return-Path: <{from}>\r\nReceived: from mx.reporter.example (mx.reporter.example [192.0.2.{}])\r\n\tby mx.cert.example with ESMTPS id {i:08x}; Mon, 16 Nov 2026 10:00:00 +0000\r\nFrom: Reporter {i} <{from}>\r\nTo: cert@cert.example\r\nSubject: {subject}\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{mid}>\r\nMIME-Version: 1.0\r\n",
        i % 250 + 1
    )
}

fn report(rng: &mut StdRng, i: usize, mid: &str, multipart: bool, from: &str) -> Vec<u8> {
    let subject = KINDS[rng.gen_range(0..KINDS.len())];
    let target = rng.gen_range(1500..7000);
    let mut s = headers(i, mid, from, subject);
    if multipart {
        let boundary = format!("=_b{i}");
        let text = body_text(rng, target / 2);
        let log = body_text(rng, target / 2);
        s.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--{boundary}\r\nContent-Type: text/plain; name=\"evidence.log\"\r\nContent-Disposition: attachment; filename=\"evidence.log\"\r\n\r\n{log}\r\n--{boundary}--\r\n"
        ));
    } else {
        s.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
        s.push_str(&body_text(rng, target));
    }
    s.into_bytes()
}

fn followup(
    rng: &mut StdRng,
    i: usize,
    parent: &str,
    tag: Option<(i32, u32)>,
    from: &str,
) -> Vec<u8> {
    let subject = match tag {
        Some((y, seq)) => format!("Re: [CERT-EX #{y}-{seq:05}] additional indicators"),
        None => "Re: additional indicators".to_string(),
    };
    let mid = format!("followup-{i}@reporter{}.example", i % 97);
    let mut s = headers(i, &mid, from, &subject);
    s.push_str(&format!(
        "In-Reply-To: <{parent}>\r\nReferences: <{parent}>\r\n"
    ));
    s.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
    let target = rng.gen_range(1500..5000);
    s.push_str(&body_text(rng, target));
    s.into_bytes()
}

/// How many incoming messages got which verdict.
fn verdict_counts(store: &Store) -> anyhow::Result<String> {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for t in store.tickets(None)? {
        for m in store.messages(t.id)? {
            if let Some(v) = &m.verification {
                *counts.entry(v.status.as_str().to_string()).or_default() += 1;
            }
        }
    }
    Ok(counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", "))
}
