//! `csirtd purge --dry-run|--yes` and `csirtd compact` (issue 16): expired
//! tickets become tombstones as `[retention]` says; see
//! `workflow::retention` for what is decided and kept, `store::purge` and
//! `store::compact` for how.

use crate::config::Config;
use crate::store::purge::{PurgeOptions, PurgeReport};
use crate::store::Store;
use crate::workflow::retention::{self, Decision, Verdict};
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct PurgeArgs {
    /// List what would be purged, and what is kept by a hold or a link; change nothing
    #[arg(long, conflicts_with = "yes", required_unless_present = "yes")]
    pub dry_run: bool,
    /// Purge the expired tickets
    #[arg(long)]
    pub yes: bool,
    #[arg(long)]
    pub json: bool,
    /// Leave the store's files as they are: removed data stays in them
    /// until `csirtd compact` (or the daemon's next start)
    #[arg(long)]
    pub no_compact: bool,
}

/// The retention verdict of every ticket, as of `now`.
pub fn plan(
    store: &Store,
    cfg: &Config,
    now: time::OffsetDateTime,
) -> anyhow::Result<Vec<Decision>> {
    if !cfg.retention.enabled() {
        anyhow::bail!(
            "retention is off: set an age in [retention] of {} (resolved_days = 365, rejected_days = 90, …) to purge expired tickets",
            cfg.source.display()
        );
    }
    let pending = store.tickets_with_pending_mail()?;
    let facts: Vec<retention::Facts> = store
        .tickets(None)?
        .iter()
        .map(|t| retention::Facts::of(t, pending.contains(&t.id)))
        .collect();
    Ok(retention::decide(&facts, &cfg.retention, now))
}

/// Purges what `plan` says, as `by`.
pub fn purge(
    store: &Store,
    cfg: &Config,
    by: &str,
    now: time::OffsetDateTime,
) -> anyhow::Result<(Vec<Decision>, PurgeReport)> {
    let decisions = plan(store, cfg, now)?;
    let mut updated = std::collections::HashMap::new();
    for t in store.tickets(None)? {
        updated.insert(t.id, t.updated_at);
    }
    let go: Vec<_> = decisions
        .iter()
        .filter(|d| d.verdict == Verdict::Purge)
        .filter_map(|d| Some((d.id, *updated.get(&d.id)?)))
        .collect();
    let opts = PurgeOptions {
        indicators: cfg.retention.indicators,
        by: by.to_string(),
        now,
    };
    let report = store.purge(&go, &opts)?;
    Ok((decisions, report))
}

/// `purge` with the store at hand (here or inside the daemon). Returns
/// whether tickets were purged (a compaction is due).
pub fn run(
    store: &Store,
    cfg: &Config,
    args: &PurgeArgs,
    out: &mut dyn Write,
    operator: &str,
    in_daemon: bool,
) -> anyhow::Result<bool> {
    let now = crate::clock::now();
    if args.dry_run {
        let decisions = plan(store, cfg, now)?;
        let expired: Vec<&Decision> = decisions
            .iter()
            .filter(|d| d.verdict.is_expired())
            .collect();
        let going = expired
            .iter()
            .filter(|d| d.verdict == Verdict::Purge)
            .count();
        if args.json {
            let list: Vec<_> = expired
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "id": d.id, "status": d.status, "age_days": d.age_days,
                        "purge": d.verdict == Verdict::Purge, "why": d.verdict.why(),
                    })
                })
                .collect();
            let v = serde_json::json!({ "would_purge": going, "kept": expired.len() - going, "tickets": list });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            return Ok(false);
        }
        writeln!(
            out,
            "would purge {going} ticket(s); {} expired ticket(s) kept (dry run: nothing changed)",
            expired.len() - going
        )?;
        for d in expired {
            writeln!(
                out,
                "{:<12} {:<9} {:>5} d  {:<6} {}",
                d.id.to_string(),
                d.status.as_str(),
                d.age_days,
                if d.verdict == Verdict::Purge {
                    "purge"
                } else {
                    "keep"
                },
                crate::mail::display::escape(&d.verdict.why())
            )?;
        }
        return Ok(false);
    }
    let by = format!("{operator} (csirtd purge)");
    let (decisions, report) = purge(store, cfg, &by, now)?;
    let kept = decisions
        .iter()
        .filter(|d| d.verdict.is_expired() && d.verdict != Verdict::Purge)
        .count();
    if args.json {
        let v = serde_json::json!({ "purged": report, "kept": kept });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(
            out,
            "purged {} ticket(s): {} messages ({} bytes of mail), {} events redacted, {} outbox entries, {} index entries, {} acknowledgement histories removed; {kept} expired ticket(s) kept (hold, link or unsent mail){}",
            report.tickets,
            report.messages,
            report.raw_bytes,
            report.events,
            report.outbox_entries,
            report.index_entries,
            report.ack_histories,
            if report.skipped > 0 {
                format!("; {} changed meanwhile and were left", report.skipped)
            } else {
                String::new()
            }
        )?;
        if report.tickets > 0 && (in_daemon || args.no_compact) {
            writeln!(
                out,
                "the removed data leaves the store's files when the store is compacted: at the daemon's next start, or stop the daemon and run `csirtd compact`"
            )?;
        }
    }
    Ok(report.tickets > 0)
}

/// `csirtd compact`: the store must be free (the daemon stopped).
pub fn compact(cfg: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let done = crate::store::compact::compact(&cfg.store.path, cfg.store.cache_mb)?;
    writeln!(
        out,
        "store compacted: {} entries rewritten into fresh files, {} → {} bytes on disk",
        done.entries, done.bytes_before, done.bytes_after
    )?;
    Ok(())
}

/// The daemon's daily purge: due when `purge_at` has passed since the
/// last run (a stopped daemon catches up once at its start).
pub fn scheduled(store: &Store, cfg: &Config) -> anyhow::Result<Option<PurgeReport>> {
    let Some(at) = cfg.retention.purge_time() else {
        return Ok(None);
    };
    let now = crate::clock::now();
    let slot = crate::workflow::digest::last_slot(now, at);
    if store.purge_last_run()?.is_some_and(|r| r >= slot) {
        return Ok(None);
    }
    let (_, report) = purge(store, cfg, "the daemon ([retention] purge_at)", now)?;
    store.set_purge_last_run(now)?;
    Ok(Some(report))
}
