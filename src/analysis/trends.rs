//! Trends over tickets: counts by category, constituency and status, the
//! times to acknowledge, to the first handler reply and to resolve (p50
//! and p90, overall, per category and per constituency), the most seen
//! indicators, and tickets and reply times per bucket of the period.
//! Pure: records in, figures out.

use super::period::{self, Bucket, Period};
use super::timing::{self, Milestones, Times};
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// What one ticket contributes, gathered by the caller from the store.
#[derive(Debug, Clone)]
pub struct TicketFacts {
    pub created_at: OffsetDateTime,
    pub status: String,
    pub category: Option<String>,
    /// Every constituency the ticket concerns.
    pub constituencies: Vec<String>,
    pub milestones: Milestones,
    /// Indicator values, each once per ticket.
    pub indicators: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodFacts {
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// Exclusive.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub first_day: String,
    pub last_day: String,
    pub bucket: Bucket,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimesReport {
    pub overall: Times,
    pub by_category: BTreeMap<String, Times>,
    /// A ticket counts under each of its constituencies.
    pub by_constituency: BTreeMap<String, Times>,
}

/// One bucket of the period; empty buckets are listed too.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketFigures {
    /// Its first day (YYYY-MM-DD).
    pub start: String,
    pub label: String,
    pub tickets: usize,
    pub by_category: BTreeMap<String, usize>,
    /// p50 time to first handler reply of the tickets created in it.
    pub first_reply_p50_secs: Option<i64>,
    pub first_reply_none_yet: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub period: PeriodFacts,
    pub tickets: usize,
    pub by_category: BTreeMap<String, usize>,
    pub by_constituency: BTreeMap<String, usize>,
    pub by_status: BTreeMap<String, usize>,
    pub times: TimesReport,
    /// (value, tickets), most seen first.
    pub top_indicators: Vec<(String, usize)>,
    pub series: Vec<BucketFigures>,
}

pub const UNCLASSIFIED: &str = "unclassified";
pub const NONE: &str = "none";

type Group = Vec<(OffsetDateTime, Milestones)>;

/// Figures over the tickets created within `period`.
pub fn compute(tickets: &[TicketFacts], period: &Period, top: usize) -> Stats {
    let bucket = period.bucket();
    let starts = period.buckets(bucket);
    let mut per_bucket: BTreeMap<time::Date, (BTreeMap<String, usize>, Group)> = starts
        .iter()
        .map(|d| (*d, (BTreeMap::new(), Vec::new())))
        .collect();
    let mut by_category = BTreeMap::new();
    let mut by_constituency = BTreeMap::new();
    let mut by_status = BTreeMap::new();
    let mut all: Group = Vec::new();
    let mut cat_groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut con_groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tickets.iter().filter(|t| period.contains(t.created_at)) {
        let point = (t.created_at, t.milestones);
        let cat = t.category.clone().unwrap_or_else(|| UNCLASSIFIED.into());
        *by_category.entry(cat.clone()).or_default() += 1;
        cat_groups.entry(cat.clone()).or_default().push(point);
        let none = [NONE.to_string()];
        let cons = if t.constituencies.is_empty() {
            &none[..]
        } else {
            &t.constituencies[..]
        };
        let mut cons: Vec<&String> = cons.iter().collect();
        cons.sort_unstable();
        cons.dedup();
        for c in cons {
            *by_constituency.entry(c.clone()).or_default() += 1;
            con_groups.entry(c.clone()).or_default().push(point);
        }
        *by_status.entry(t.status.clone()).or_default() += 1;
        all.push(point);
        for i in &t.indicators {
            *seen.entry(i.as_str()).or_default() += 1;
        }
        let b = period::floor(t.created_at.date(), bucket);
        let slot = per_bucket.entry(b).or_default();
        *slot.0.entry(cat).or_default() += 1;
        slot.1.push(point);
    }
    let mut top_list: Vec<(String, usize)> =
        seen.into_iter().map(|(v, n)| (v.to_string(), n)).collect();
    top_list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top_list.truncate(top);
    let series = per_bucket
        .into_iter()
        .map(|(d, (cats, group))| {
            let reply = timing::times(&group).first_reply;
            BucketFigures {
                start: period::ymd(d),
                label: period::label(d, bucket),
                tickets: group.len(),
                by_category: cats,
                first_reply_p50_secs: reply.p50_secs,
                first_reply_none_yet: reply.none_yet,
            }
        })
        .collect();
    let times_of = |g: BTreeMap<String, Group>| -> BTreeMap<String, Times> {
        g.into_iter().map(|(k, v)| (k, timing::times(&v))).collect()
    };
    Stats {
        period: PeriodFacts {
            since: period.since,
            until: period.until,
            first_day: period::ymd(period.first_day()),
            last_day: period::ymd(period.last_day()),
            bucket,
        },
        tickets: all.len(),
        by_category,
        by_constituency,
        by_status,
        times: TimesReport {
            overall: timing::times(&all),
            by_category: times_of(cat_groups),
            by_constituency: times_of(con_groups),
        },
        top_indicators: top_list,
        series,
    }
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
    use time::Duration;

    fn t(day: i64, cat: Option<&str>, cons: &[&str], reply_h: Option<i64>) -> TicketFacts {
        let created = datetime!(2026-11-01 10:00 UTC) + Duration::days(day);
        TicketFacts {
            created_at: created,
            status: if reply_h.is_some() { "resolved" } else { "new" }.into(),
            category: cat.map(str::to_string),
            constituencies: cons.iter().map(|s| s.to_string()).collect(),
            milestones: Milestones {
                acknowledged: Some(created),
                first_reply: reply_h.map(|h| created + Duration::hours(h)),
                resolved: reply_h.map(|h| created + Duration::hours(h * 2)),
            },
            indicators: vec!["192.0.2.7".into()],
        }
    }

    fn period(since: &str, until: &str) -> Period {
        Period::parse(since, Some(until), datetime!(2026-12-01 0:00 UTC)).unwrap()
    }

    #[test]
    fn counts_times_per_group_and_every_bucket_of_the_period() {
        let list = vec![
            t(0, Some("fraud"), &["uni"], Some(1)),
            t(1, Some("fraud"), &["uni", "isp", "uni"], Some(3)),
            t(1, None, &[], Some(2)),
            t(5, Some("vulnerable"), &["isp"], None),
            t(40, Some("later"), &[], Some(1)),
        ];
        let s = compute(&list, &period("2026-11-01", "2026-11-10"), 10);
        assert_eq!(s.tickets, 4);
        assert_eq!(s.by_category["fraud"], 2);
        assert_eq!(s.by_category[UNCLASSIFIED], 1);
        assert_eq!(s.by_constituency["uni"], 2, "once per ticket");
        assert_eq!(s.by_constituency["isp"], 2);
        assert_eq!(s.by_constituency[NONE], 1);
        assert_eq!(s.by_status["resolved"], 3);
        let all = &s.times.overall;
        assert_eq!(all.first_reply.count, 3);
        assert_eq!(all.first_reply.none_yet, 1);
        assert_eq!(all.first_reply.p50_secs, Some(2 * 3600));
        assert_eq!(all.first_reply.p90_secs, Some(3 * 3600));
        assert_eq!(all.resolve.p50_secs, Some(4 * 3600));
        assert_eq!(all.acknowledge.p90_secs, Some(0));
        let vul = &s.times.by_category["vulnerable"];
        assert_eq!((vul.first_reply.count, vul.first_reply.p50_secs), (0, None));
        assert_eq!(
            s.times.by_constituency["isp"].first_reply.p50_secs,
            Some(3 * 3600)
        );
        assert_eq!(s.top_indicators[0], ("192.0.2.7".into(), 4));
        assert_eq!(s.period.bucket, Bucket::Day);
        assert_eq!(s.series.len(), 10);
        assert_eq!(s.series[0].start, "2026-11-01");
        assert_eq!(s.series[1].tickets, 2);
        assert_eq!(s.series[1].by_category["fraud"], 1);
        assert_eq!(s.series[1].first_reply_p50_secs, Some(2 * 3600));
        assert_eq!(s.series[2].tickets, 0);
        assert_eq!(s.series[5].first_reply_p50_secs, None);
        assert_eq!(s.series[5].first_reply_none_yet, 1);
        let year = compute(&list, &period("2026-01-01", "2026-12-31"), 1);
        assert_eq!(year.tickets, 5);
        assert_eq!(year.series.len(), 12);
        assert_eq!(year.series[10].tickets, 4);
        assert_eq!(year.series[11].tickets, 1);
        assert_eq!(year.top_indicators.len(), 1);
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
