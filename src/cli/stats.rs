//! `csirtd stats`: what came in within a period, by category,
//! constituency and status; how long acknowledging, the first handler
//! reply and resolving took (p50/p90, overall and per group); the most
//! seen indicators; and, with --svg, volume and reply times as a chart.
//! The figures are computed in `analysis::{trends,timing,period}`.

use crate::analysis::period::Period;
use crate::analysis::timing::{self, Figure, Times};
use crate::analysis::trends::{self, TicketFacts};
use crate::model::Direction;
use crate::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Tickets created from: a date (2026-01-01, from its start), an RFC
    /// 3339 time, or a span back from now (30d, 12h, 2w)
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// ...up to: a date (to its end, inclusive), an RFC 3339 time, or a
    /// span back from now; default now
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// Also write tickets and the time to first handler reply per day,
    /// week or month of the period as an SVG chart to FILE
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// How many of the most seen indicators to list
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

pub(crate) fn gather(store: &Store, period: &Period) -> anyhow::Result<Vec<TicketFacts>> {
    let mut out = Vec::new();
    for t in store.tickets(None)? {
        if !period.contains(t.created_at) {
            continue;
        }
        let messages = store.messages(t.id)?;
        let outgoing: BTreeMap<String, String> = messages
            .iter()
            .filter(|m| m.direction == Direction::Out)
            .filter_map(|m| Some((m.message_id.clone()?, m.origin.clone())))
            .collect();
        let milestones = timing::milestones(&store.events(t.id)?, &outgoing);
        let indicators: BTreeSet<String> = messages
            .iter()
            .flat_map(|m| m.indicators.iter().map(|i| i.value.clone()))
            .collect();
        out.push(TicketFacts {
            created_at: t.created_at,
            status: t.status.to_string(),
            category: t.classification.map(|c| c.category.to_string()),
            constituencies: t.constituencies.clone(),
            milestones,
            indicators: indicators.into_iter().collect(),
        });
    }
    Ok(out)
}

fn human(secs: Option<i64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s < 3600 => format!("{} min", s / 60),
        Some(s) if s < 86_400 => format!("{:.1} h", s as f64 / 3600.0),
        Some(s) => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

fn figure_line(out: &mut dyn Write, what: &str, f: &Figure) -> std::io::Result<()> {
    writeln!(
        out,
        "    {what:<24} {:>9} {:>9} {:>8} {:>9}",
        human(f.p50_secs),
        human(f.p90_secs),
        f.count,
        f.none_yet
    )
}

fn times_block(out: &mut dyn Write, name: &str, t: &Times) -> std::io::Result<()> {
    let plural = if t.tickets == 1 { "" } else { "s" };
    writeln!(out, "  {name} ({} ticket{plural})", t.tickets)?;
    figure_line(out, "to acknowledge", &t.acknowledge)?;
    figure_line(out, "to first handler reply", &t.first_reply)?;
    figure_line(out, "to resolve", &t.resolve)
}

pub fn run(store: &Store, args: StatsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let period = Period::parse(
        &args.since,
        args.until.as_deref(),
        time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| super::handling::UsageError(e.to_string()))?;
    let facts = gather(store, &period)?;
    let s = trends::compute(&facts, &period, args.top.min(1000));
    if let Some(path) = &args.svg {
        let title = format!(
            "Tickets and p50 time to first handler reply per {}, {} (UTC)",
            s.period.bucket.as_str(),
            period.describe()
        );
        std::fs::write(path, crate::analysis::chart::svg(&s.series, &title))
            .map_err(|e| anyhow::anyhow!("cannot write the chart to {}: {e}", path.display()))?;
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&s)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} tickets created {} (UTC)",
        s.tickets,
        period.describe()
    )?;
    for (title, map) in [
        ("by category", &s.by_category),
        ("by constituency", &s.by_constituency),
        ("by status", &s.by_status),
    ] {
        writeln!(out, "\n{title}:")?;
        for (k, n) in map {
            writeln!(out, "  {:<32} {n:>7}", crate::mail::display::escape(k))?;
        }
    }
    writeln!(
        out,
        "\ntime from the first report (\"with\": tickets that have the event; \"none yet\": without it, not counted as 0):"
    )?;
    writeln!(
        out,
        "    {:<24} {:>9} {:>9} {:>8} {:>9}",
        "", "p50", "p90", "with", "none yet"
    )?;
    times_block(out, "all", &s.times.overall)?;
    for (title, map) in [
        ("category", &s.times.by_category),
        ("constituency", &s.times.by_constituency),
    ] {
        for (k, t) in map {
            let name = format!("{title} {}", crate::mail::display::escape(k));
            times_block(out, &name, t)?;
        }
    }
    writeln!(out, "\nmost seen indicators:")?;
    for (v, n) in &s.top_indicators {
        writeln!(out, "  {n:>5}  {}", crate::mail::display::escape(v))?;
    }
    Ok(())
}
