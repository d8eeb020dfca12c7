//! `csirtd bench --list-tickets N`: N synthetic tickets written straight
//! into a store (with the list index, as migrate builds it), then the
//! first page of `ticket list` timed with filters, as the command line
//! runs it.

use crate::analysis::classify::{parse_category, Classification, ClassifiedBy};
use crate::analysis::indicators::{Found, Indicator, Kind};
use crate::cli::list::ListArgs;
use crate::config::Config;
use crate::model::{Status, TicketId};
use crate::store::{Store, TicketRecord};
use crate::workflow::commands::Tlp;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::Instant;

#[derive(Parser)]
struct Line {
    #[command(flatten)]
    args: ListArgs,
}

const CATEGORIES: [&str; 5] = [
    "fraud/phishing",
    "vulnerable/vulnerable-system",
    "malicious-code/c2-server",
    "intrusion-attempts/brute-force",
    "abusive-content/spam",
];
const HANDLERS: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];

pub fn run(dir: &Path, n: usize, seed: u64) -> anyhow::Result<()> {
    let cfg = super::analysis::config(dir, "[sla]\nfirst_reply_hours = 24\nresolve_days = 30\n")?;
    fill(&cfg, n, seed, false)?;
    let store = Store::open(&cfg.store.path, cfg.store.cache_mb)?;
    run_queries(&store, &cfg)
}

/// Writes `n` generated tickets (two years of a team's queue, with the
/// list index) into a fresh store at `cfg.store.path`; with `indicators`,
/// each also has an address and a domain in the search index. The store
/// is flushed every 10,000 tickets, so memory stays flat whatever `n`.
pub(super) fn fill(cfg: &Config, n: usize, seed: u64, indicators: bool) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(&cfg.store.path);
    let store = Store::open(&cfg.store.path, cfg.store.cache_mb)?;
    let now = time::OffsetDateTime::now_utc();
    let mut rng = StdRng::seed_from_u64(seed);
    let classes: Vec<_> = CATEGORIES
        .iter()
        .filter_map(|c| parse_category(c).ok())
        .collect();
    let t0 = Instant::now();
    let chunk = 10_000;
    let mut seq = 0u32;
    while (seq as usize) < n {
        let mut batch = Vec::with_capacity(chunk);
        for _ in 0..chunk.min(n - seq as usize) {
            seq += 1;
            let k = u64::from(seq);
            // Two years of tickets, oldest first; most resolved, a few
            // thousand open, as a team's queue looks.
            let age_s = ((n as u64 - k) * 2 * 365 * 86_400 / n as u64) as i64;
            let created = now - time::Duration::seconds(age_s);
            let mut t = TicketRecord::new(
                TicketId::new(2026, seq),
                format!("Report {seq}"),
                vec![format!("reporter{}@isp{}.example", k % 5000, k % 97)],
                created,
            );
            t.updated_at = created + time::Duration::seconds(rng.gen_range(0..86_400 * 3));
            t.message_count = rng.gen_range(1..6);
            t.status = match (age_s < 30 * 86_400, rng.gen_range(0..10)) {
                (true, 0..=2) => Status::New,
                (true, 3..=6) => Status::Open,
                (true, 7) => Status::Stalled,
                (_, 9) => Status::Rejected,
                _ => Status::Resolved,
            };
            let (category, kind) = classes[rng.gen_range(0..classes.len())];
            t.classification = Some(Classification {
                category,
                kind,
                by: ClassifiedBy::Rule,
            });
            t.constituencies = vec![format!("net{}", k % 40)];
            t.handling.assignee = (rng.gen_range(0..4) > 0)
                .then(|| HANDLERS[rng.gen_range(0..HANDLERS.len())].to_string());
            t.handling.tlp = Some(match rng.gen_range(0..20) {
                0 => Tlp::Red,
                1..=4 => Tlp::Amber,
                _ => Tlp::Green,
            });
            let found = if indicators {
                vec![
                    Indicator {
                        kind: Kind::Ipv4,
                        value: super::analysis::ip_of(k).to_string(),
                        source: Found::Body,
                    },
                    Indicator {
                        kind: Kind::Domain,
                        value: format!("host{}.victim{}.com", k % 100, k % 50_000),
                        source: Found::Body,
                    },
                ]
            } else {
                Vec::new()
            };
            batch.push((t, found));
        }
        store.bulk_load_tickets(&batch)?;
        store.bulk_load_summaries(&batch)?;
        store.flush()?;
    }
    println!(
        "generated {n} tickets with the list index in {:.1} s; peak RSS {:.0} MiB",
        t0.elapsed().as_secs_f64(),
        super::peak_rss_kb() as f64 / 1024.0
    );
    Ok(())
}

fn run_queries(store: &Store, cfg: &Config) -> anyhow::Result<()> {
    // The first query twice: from a cold cache, then warm.
    let queries: [&[&str]; 13] = [
        &[],
        &[],
        &["--overdue"],
        &["--requestor", "@isp42.example"],
        &["--sort", "status"],
        &[
            "--category",
            "fraud",
            "--status",
            "new",
            "--sort",
            "-created",
        ],
        &["--status", "open"],
        &["--status", "open", "--assignee", "alice"],
        &["--assignee", "bob", "--category", "fraud"],
        &["--constituency", "net7", "--tlp", "red"],
        &["--requestor", "reporter42@isp42.example"],
        &["--since", "7d", "--sort", "-created"],
        &["--overdue", "--status", "new"],
    ];
    for q in queries {
        let line = Line::try_parse_from(std::iter::once("list").chain(q.iter().copied()))?;
        let mut out = Vec::new();
        let t = Instant::now();
        crate::cli::list::run(store, cfg, line.args, &mut out)?;
        let took = t.elapsed();
        let text = String::from_utf8_lossy(&out);
        let rows = text.lines().count().saturating_sub(1);
        let tail = text
            .lines()
            .last()
            .filter(|l| l.contains("more"))
            .unwrap_or("");
        println!(
            "  ticket list {:<44} {:>8.2} ms  ({rows} lines) {tail}",
            q.join(" "),
            took.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
