//! `csirtd ticket list`: filters, sort and paging over the store's list
//! index (store/summary.rs), with SLA due dates.

use crate::config::Config;
use crate::mail::display::escape;
use crate::model::Status;
use crate::store::summary::{ListQuery, More, SortKey, TicketSummary};
use crate::store::Store;
use crate::workflow::commands::Tlp;
use crate::workflow::sla;
use clap::Args;
use serde_json::json;
use std::io::Write;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// Tickets per page unless `--limit` says otherwise.
pub const DEFAULT_PAGE: usize = 50;

#[derive(Args, Debug, Clone)]
pub struct ListArgs {
    #[arg(long, value_enum)]
    pub status: Option<Status>,
    /// A handler's name as in `[[handlers]]`
    #[arg(long)]
    pub assignee: Option<String>,
    #[arg(long)]
    pub constituency: Option<String>,
    /// RSIT category (fraud) or category/type (fraud/phishing)
    #[arg(long)]
    pub category: Option<String>,
    /// clear, green, amber, amber+strict, red
    #[arg(long)]
    pub tlp: Option<String>,
    /// A requestor's address, or @domain for all of a domain
    #[arg(long)]
    pub requestor: Option<String>,
    /// Created at or after: YYYY-MM-DD, RFC 3339, or a period back from now (7d, 12h)
    #[arg(long)]
    pub since: Option<String>,
    /// Created before: YYYY-MM-DD, RFC 3339, or a period back from now (7d, 12h)
    #[arg(long)]
    pub until: Option<String>,
    /// Only tickets past an SLA due time (`[sla]`)
    #[arg(long)]
    pub overdue: bool,
    /// created, updated, id or status; a leading - sorts descending
    #[arg(long, default_value = "-updated", allow_hyphen_values = true)]
    pub sort: String,
    /// Reverse the order
    #[arg(long)]
    pub reverse: bool,
    #[arg(long, default_value_t = DEFAULT_PAGE as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub limit: u64,
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    #[arg(long)]
    pub json: bool,
}

/// `2026-01-01` (midnight UTC), an RFC 3339 time, or a period back from
/// `now` (`7d`, `12h`, `2w`). Pure.
pub fn parse_when(s: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = Date::parse(s, &fmt) {
        return Some(d.midnight().assume_utc());
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    let secs = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    Some(now - time::Duration::seconds(n.checked_mul(secs)?))
}

/// `-updated` → (Updated, descending). Pure.
pub fn parse_sort(s: &str) -> Option<(SortKey, bool)> {
    let (desc, name) = match s.trim().strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, s.trim()),
    };
    let key = match name {
        "created" => SortKey::Created,
        "updated" => SortKey::Updated,
        "id" => SortKey::Id,
        "status" => SortKey::Status,
        _ => return None,
    };
    Some((key, desc))
}

pub fn query(a: &ListArgs, now: OffsetDateTime) -> anyhow::Result<ListQuery> {
    let when = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        v.as_deref()
            .map(|s| {
                parse_when(s, now).map(|t| t.unix_timestamp()).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{flag} {s}: expected a date (2026-01-31), an RFC 3339 time (2026-01-31T12:00:00Z) or a period back from now (7d, 12h, 2w)"
                    )
                })
            })
            .transpose()
    };
    let (sort, desc) = parse_sort(&a.sort).ok_or_else(|| {
        anyhow::anyhow!(
            "--sort {}: expected created, updated, id or status, with a leading - for descending order",
            a.sort
        )
    })?;
    let tlp = a
        .tlp
        .as_deref()
        .map(|t| {
            Tlp::parse(t).ok_or_else(|| {
                anyhow::anyhow!("--tlp {t}: expected clear, green, amber, amber+strict or red")
            })
        })
        .transpose()?;
    if let Some(c) = &a.category {
        crate::analysis::classify::parse_category(c)
            .map_err(|e| anyhow::anyhow!("--category: {e}"))?;
    }
    Ok(ListQuery {
        status: a.status,
        assignee: a.assignee.clone(),
        constituency: a.constituency.clone(),
        category: a.category.clone(),
        tlp,
        requestor: a.requestor.clone(),
        since: when("--since", &a.since)?,
        until: when("--until", &a.until)?,
        open_only: a.overdue,
        sort,
        descending: desc != a.reverse,
        offset: a.offset,
        limit: a.limit as usize,
    })
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The SLA state of a listed ticket.
pub fn due_of(cfg: &Config, s: &TicketSummary, now: OffsetDateTime) -> sla::Due {
    sla::due_of_summary(&cfg.sla, s, now)
}

fn rfc(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn run(store: &Store, cfg: &Config, a: ListArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = crate::clock::now();
    let q = query(&a, now)?;
    if a.overdue && !cfg.sla.is_set() {
        anyhow::bail!(
            "--overdue needs due times: set [sla] first_reply_hours and/or resolve_days in the configuration (see config/csirtd.example.toml)"
        );
    }
    let overdue = a.overdue;
    let page = store.list(&q, &|s| !overdue || due_of(cfg, s, now).overdue())?;
    let prefix = &cfg.team.tag;
    if a.json {
        let list: Vec<_> = page
            .tickets
            .iter()
            .map(|s| {
                let due = due_of(cfg, s, now);
                json!({
                    "id": s.id, "tag": s.id.tag(prefix), "status": s.status, "subject": s.subject,
                    "requestors": s.requestors, "created_at": rfc(at(s.created)),
                    "updated_at": rfc(at(s.updated)), "flags": s.flags, "messages": s.messages,
                    "kind": s.kind, "incident": s.incident, "assignee": s.assignee,
                    "category": s.category, "tlp": s.tlp, "constituencies": s.constituencies,
                    "first_reply_at": s.first_reply.map(|t| rfc(at(t))),
                    "first_reply_due": due.first_reply.map(|d| rfc(d.at)),
                    "resolve_due": due.resolve.map(|d| rfc(d.at)),
                    "overdue": due.overdue(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    if page.tickets.is_empty() {
        writeln!(
            out,
            "no tickets{}",
            if a.offset > 0 { " on this page" } else { "" }
        )?;
    } else {
        writeln!(
            out,
            "{:<10} {:<8} {:<10} {:<14} {:<6} {:>4}  {:<28} SUBJECT",
            "ID", "STATUS", "ASSIGNEE", "CATEGORY", "TLP", "MSGS", "REQUESTOR"
        )?;
        for s in &page.tickets {
            let due = due_of(cfg, s, now);
            let mut marks: Vec<&str> = s.flags.iter().map(|f| f.as_str()).collect();
            if due.overdue() {
                marks.insert(0, "OVERDUE");
            }
            let marks = if marks.is_empty() {
                String::new()
            } else {
                format!(" [{}]", marks.join(","))
            };
            writeln!(
                out,
                "{:<10} {:<8} {:<10} {:<14} {:<6} {:>4}  {:<28} {}{}",
                s.id.to_string(),
                s.status.as_str(),
                cut(&escape(s.assignee.as_deref().unwrap_or("-")), 10),
                cut(&escape(s.category.as_deref().unwrap_or("-")), 14),
                s.tlp.map_or("-", |t| t.as_str()),
                s.messages,
                cut(
                    &escape(s.requestors.first().map_or("-", String::as_str)),
                    28
                ),
                escape(&s.subject),
                marks
            )?;
        }
    }
    let next = a.offset + page.tickets.len();
    match page.more {
        More::Exactly(0) => {}
        More::Exactly(n) => writeln!(
            out,
            "{n} more; --offset {next} for the next page (--limit {} per page)",
            a.limit
        )?,
        More::AtLeast(n) => writeln!(
            out,
            "{} more; --offset {next} for the next page (narrow with --status, --since, …)",
            if n == 0 {
                "maybe".to_string()
            } else {
                format!("at least {n}")
            }
        )?,
    }
    Ok(())
}

pub(crate) fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_times_and_periods() {
        let now = OffsetDateTime::parse("2026-03-10T12:00:00Z", &Rfc3339).unwrap();
        let p = |s| parse_when(s, now).map(rfc);
        assert_eq!(p("2026-01-01").as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(
            p("2026-01-01T08:00:00+01:00").as_deref(),
            Some("2026-01-01T08:00:00+01:00")
        );
        assert_eq!(p("7d").as_deref(), Some("2026-03-03T12:00:00Z"));
        assert_eq!(p("12h").as_deref(), Some("2026-03-10T00:00:00Z"));
        assert_eq!(p("2w").as_deref(), Some("2026-02-24T12:00:00Z"));
        assert_eq!(p("yesterday"), None);
        assert_eq!(p("7y"), None);
    }

    #[test]
    fn sort_names() {
        assert_eq!(parse_sort("-updated"), Some((SortKey::Updated, true)));
        assert_eq!(parse_sort("id"), Some((SortKey::Id, false)));
        assert_eq!(parse_sort("size"), None);
    }
}
