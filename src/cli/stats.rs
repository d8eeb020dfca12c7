//! `csirtd stats`: what came in lately, by category, constituency and
//! status; how fast handlers replied and resolved; the most seen
//! indicators; and, with --svg, tickets per day by category as a chart.

use crate::analysis::trends::{self, TicketFacts};
use crate::model::{Direction, EventKind, Status};
use crate::store::Store;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Tickets created within this period: 30d, 12h, 2w
    #[arg(long, default_value = "30d")]
    pub since: String,
    #[arg(long)]
    pub json: bool,
    /// Also write tickets per day by category as an SVG chart to FILE
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// How many of the most seen indicators to list
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

fn gather(store: &Store, since: time::OffsetDateTime) -> anyhow::Result<Vec<TicketFacts>> {
    let mut out = Vec::new();
    for t in store.tickets(None)? {
        if t.created_at < since {
            continue;
        }
        let messages = store.messages(t.id)?;
        let first_reply_at = messages
            .iter()
            .filter(|m| m.direction == Direction::Out && m.origin != "ack")
            .map(|m| m.stored_at)
            .min();
        let resolved = format!("→ {}", Status::Resolved);
        let resolved_at = store
            .events(t.id)?
            .iter()
            .filter(|e| e.kind == EventKind::StatusChange && e.detail.contains(&resolved))
            .map(|e| e.at)
            .min();
        let indicators: BTreeSet<String> = messages
            .iter()
            .flat_map(|m| m.indicators.iter().map(|i| i.value.clone()))
            .collect();
        out.push(TicketFacts {
            created_at: t.created_at,
            status: t.status.to_string(),
            category: t.classification.map(|c| c.category.to_string()),
            constituency: t.constituencies.first().cloned(),
            first_reply_at,
            resolved_at,
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

pub fn run(store: &Store, args: StatsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let period = trends::parse_duration(&args.since).ok_or_else(|| {
        anyhow::anyhow!(
            "--since {}: expected a period like 30d, 12h or 2w",
            args.since
        )
    })?;
    let since = time::OffsetDateTime::now_utc() - period;
    let facts = gather(store, since)?;
    let s = trends::compute(&facts, since, args.top.min(1000));
    if let Some(path) = &args.svg {
        let title = format!("Tickets per day by category, last {}", args.since);
        std::fs::write(path, crate::analysis::chart::svg(&s.per_day, &title))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&s)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} tickets created in the last {}",
        s.tickets, args.since
    )?;
    for (title, map) in [
        ("by category", &s.by_category),
        ("by constituency", &s.by_constituency),
        ("by status", &s.by_status),
    ] {
        writeln!(out, "\n{title}:")?;
        for (k, n) in map {
            writeln!(out, "  {k:<32} {n:>7}")?;
        }
    }
    writeln!(
        out,
        "\nmedian time to first handler reply  {}",
        human(s.median_first_reply_secs)
    )?;
    writeln!(
        out,
        "median time to resolution          {}",
        human(s.median_resolution_secs)
    )?;
    writeln!(out, "\nmost seen indicators:")?;
    for (v, n) in &s.top_indicators {
        writeln!(out, "  {n:>5}  {}", crate::mail::display::escape(v))?;
    }
    Ok(())
}
