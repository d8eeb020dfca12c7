//! Trends over tickets: counts by category, constituency and status, the
//! median times to the first handler reply and to resolution, the most seen
//! indicators, and tickets per day by category. Pure: records in, figures out.

use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// What one ticket contributes, gathered by the caller from the store.
#[derive(Debug, Clone)]
pub struct TicketFacts {
    pub created_at: OffsetDateTime,
    pub status: String,
    pub category: Option<String>,
    pub constituency: Option<String>,
    /// The first outgoing mail that is not an acknowledgement.
    pub first_reply_at: Option<OffsetDateTime>,
    /// The first change to `resolved`.
    pub resolved_at: Option<OffsetDateTime>,
    /// Indicator values, each once per ticket.
    pub indicators: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub tickets: usize,
    pub by_category: BTreeMap<String, usize>,
    pub by_constituency: BTreeMap<String, usize>,
    pub by_status: BTreeMap<String, usize>,
    pub median_first_reply_secs: Option<i64>,
    pub median_resolution_secs: Option<i64>,
    /// (value, tickets), most seen first.
    pub top_indicators: Vec<(String, usize)>,
    /// Day (YYYY-MM-DD) → category → tickets created.
    pub per_day: BTreeMap<String, BTreeMap<String, usize>>,
}

pub const UNCLASSIFIED: &str = "unclassified";
pub const NONE: &str = "none";

fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

/// Figures over the tickets created at or after `since`.
pub fn compute(tickets: &[TicketFacts], since: OffsetDateTime, top: usize) -> Stats {
    let mut s = Stats::default();
    let mut replies = Vec::new();
    let mut resolutions = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tickets.iter().filter(|t| t.created_at >= since) {
        s.tickets += 1;
        let cat = t.category.clone().unwrap_or_else(|| UNCLASSIFIED.into());
        *s.by_category.entry(cat.clone()).or_default() += 1;
        *s.by_constituency
            .entry(t.constituency.clone().unwrap_or_else(|| NONE.into()))
            .or_default() += 1;
        *s.by_status.entry(t.status.clone()).or_default() += 1;
        if let Some(r) = t.first_reply_at {
            replies.push((r - t.created_at).whole_seconds().max(0));
        }
        if let Some(r) = t.resolved_at {
            resolutions.push((r - t.created_at).whole_seconds().max(0));
        }
        for i in &t.indicators {
            *seen.entry(i.as_str()).or_default() += 1;
        }
        let d = t.created_at.date();
        let day = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
        *s.per_day.entry(day).or_default().entry(cat).or_default() += 1;
    }
    s.median_first_reply_secs = median(replies);
    s.median_resolution_secs = median(resolutions);
    let mut top_list: Vec<(String, usize)> =
        seen.into_iter().map(|(v, n)| (v.to_string(), n)).collect();
    top_list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top_list.truncate(top);
    s.top_indicators = top_list;
    s
}

/// `30d`, `12h`, `2w`, `90m` or plain seconds.
pub fn parse_duration(s: &str) -> Option<time::Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().ok()?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(secs).map(time::Duration::seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn t(day: u8, cat: Option<&str>, reply_h: Option<i64>, ind: &[&str]) -> TicketFacts {
        let created = datetime!(2026-11-01 10:00 UTC) + time::Duration::days(i64::from(day));
        TicketFacts {
            created_at: created,
            status: if reply_h.is_some() { "resolved" } else { "new" }.into(),
            category: cat.map(str::to_string),
            constituency: None,
            first_reply_at: reply_h.map(|h| created + time::Duration::hours(h)),
            resolved_at: reply_h.map(|h| created + time::Duration::hours(h * 2)),
            indicators: ind.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn counts_medians_and_top_indicators() {
        let list = vec![
            t(0, Some("fraud"), Some(1), &["192.0.2.7"]),
            t(1, Some("fraud"), Some(3), &["192.0.2.7", "evil.example"]),
            t(1, None, Some(2), &["evil.example", "192.0.2.7"]),
            t(5, Some("vulnerable"), None, &[]),
            t(9, Some("old"), None, &[]),
        ];
        let s = compute(&list[..4], datetime!(2026-11-01 00:00 UTC), 10);
        assert_eq!(s.tickets, 4);
        assert_eq!(s.by_category["fraud"], 2);
        assert_eq!(s.by_category[UNCLASSIFIED], 1);
        assert_eq!(s.by_status["resolved"], 3);
        assert_eq!(s.median_first_reply_secs, Some(2 * 3600));
        assert_eq!(s.median_resolution_secs, Some(4 * 3600));
        assert_eq!(s.top_indicators[0], ("192.0.2.7".into(), 3));
        assert_eq!(s.per_day["2026-11-02"]["fraud"], 1);
        let later = compute(&list, datetime!(2026-11-05 00:00 UTC), 10);
        assert_eq!(later.tickets, 2);
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Some(time::Duration::days(30)));
        assert_eq!(parse_duration("12h"), Some(time::Duration::hours(12)));
        assert_eq!(parse_duration("90"), Some(time::Duration::seconds(90)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5y"), None);
    }
}
