//! The period a report covers — `--since`/`--until` as a date, an RFC 3339
//! time or a span back from now — and the buckets (days, weeks, months)
//! its chart is drawn in. Pure: `now` is passed in, all dates are UTC.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

/// Longer periods are a typo (or a wish for thousands of chart bars).
const MAX_DAYS: i64 = 100 * 366;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("{flag} {value}: expected a date (2026-01-01), an RFC 3339 time (2026-01-01T08:00:00Z) or a span back from now (30d, 12h, 2w)")]
    Unreadable { flag: &'static str, value: String },
    #[error("{flag} {value}: out of the range of dates csirtd can count")]
    OutOfRange { flag: &'static str, value: String },
    #[error("--since {since} is not before --until {until}: the period is empty; give an earlier --since or a later --until")]
    Empty { since: String, until: String },
    #[error("the period from --since {since} to --until {until} is longer than 100 years; give a later --since")]
    TooLong { since: String, until: String },
}

/// How the chart groups tickets, chosen by the period's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Day,
    /// Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
        }
    }
}

/// `since` inclusive, `until` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub since: OffsetDateTime,
    pub until: OffsetDateTime,
}

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// A date means its whole day: as `--since` from its start, as `--until`
/// to its end, so `--since 2026-01-01 --until 2026-03-31` is the quarter.
fn instant(
    flag: &'static str,
    value: &str,
    now: OffsetDateTime,
    edge: Edge,
) -> Result<OffsetDateTime, PeriodError> {
    let v = value.trim();
    let out_of_range = || PeriodError::OutOfRange {
        flag,
        value: value.to_string(),
    };
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return t.checked_to_offset(UtcOffset::UTC).ok_or_else(out_of_range);
    }
    let ymd = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = Date::parse(v, ymd) {
        let d = match edge {
            Edge::Start => d,
            Edge::End => d.next_day().ok_or_else(out_of_range)?,
        };
        return Ok(d.midnight().assume_utc());
    }
    match super::trends::parse_duration(v) {
        Some(span) => now.checked_sub(span).ok_or_else(out_of_range),
        None => Err(PeriodError::Unreadable {
            flag,
            value: value.to_string(),
        }),
    }
}

impl Period {
    /// `until`: None is now.
    pub fn parse(
        since: &str,
        until: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Period, PeriodError> {
        let now = now.to_offset(UtcOffset::UTC);
        let start = instant("--since", since, now, Edge::Start)?;
        let end = match until {
            Some(u) => instant("--until", u, now, Edge::End)?,
            None => now,
        };
        let p = Period {
            since: start,
            until: end,
        };
        let words = || (since.to_string(), until.unwrap_or("now").to_string());
        if end <= start {
            let (since, until) = words();
            return Err(PeriodError::Empty { since, until });
        }
        if end - start > Duration::days(MAX_DAYS) {
            let (since, until) = words();
            return Err(PeriodError::TooLong { since, until });
        }
        Ok(p)
    }

    pub fn contains(&self, t: OffsetDateTime) -> bool {
        self.since <= t && t < self.until
    }

    /// Days up to two months, weeks up to half a year, else months: a
    /// chart of some 10 to 60 bars.
    pub fn bucket(&self) -> Bucket {
        let len = self.until - self.since;
        if len <= Duration::days(62) {
            Bucket::Day
        } else if len <= Duration::days(183) {
            Bucket::Week
        } else {
            Bucket::Month
        }
    }

    pub fn first_day(&self) -> Date {
        self.since.date()
    }

    /// The last day with a moment in the period (`until` is exclusive).
    pub fn last_day(&self) -> Date {
        (self.until - Duration::nanoseconds(1)).date()
    }

    /// The start of each bucket touching the period, in order, empty
    /// ones included.
    pub fn buckets(&self, b: Bucket) -> Vec<Date> {
        let last = self.last_day();
        let mut out = Vec::new();
        let mut d = floor(self.first_day(), b);
        while d <= last {
            out.push(d);
            match next(d, b) {
                Some(n) => d = n,
                None => break,
            }
        }
        out
    }

    /// "2026-01-01 to 2026-03-31": the days the period covers.
    pub fn describe(&self) -> String {
        format!("{} to {}", ymd(self.first_day()), ymd(self.last_day()))
    }
}

/// The start of the bucket holding day `d`.
pub fn floor(d: Date, b: Bucket) -> Date {
    match b {
        Bucket::Day => d,
        Bucket::Week => {
            let back = i64::from(d.weekday().number_days_from_monday());
            d.checked_sub(Duration::days(back)).unwrap_or(d)
        }
        Bucket::Month => d.replace_day(1).unwrap_or(d),
    }
}

fn next(d: Date, b: Bucket) -> Option<Date> {
    match b {
        Bucket::Day => d.next_day(),
        Bucket::Week => d.checked_add(Duration::days(7)),
        Bucket::Month => {
            let (y, m) = match d.month() {
                time::Month::December => (d.year().checked_add(1)?, time::Month::January),
                m => (d.year(), m.next()),
            };
            Date::from_calendar_date(y, m, 1).ok()
        }
    }
}

pub fn ymd(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// How a bucket is named: its first day, or `2026-03` for a month.
pub fn label(d: Date, b: Bucket) -> String {
    match b {
        Bucket::Month => format!("{:04}-{:02}", d.year(), u8::from(d.month())),
        _ => ymd(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    const NOW: OffsetDateTime = datetime!(2026-12-06 22:00 UTC);

    fn p(since: &str, until: Option<&str>) -> Result<Period, PeriodError> {
        Period::parse(since, until, NOW)
    }

    #[test]
    fn dates_cover_whole_days_and_durations_count_back_from_now() {
        let q = p("2026-01-01", Some("2026-03-31")).unwrap();
        assert_eq!(q.since, datetime!(2026-01-01 0:00 UTC));
        assert_eq!(q.until, datetime!(2026-04-01 0:00 UTC));
        assert_eq!(q.describe(), "2026-01-01 to 2026-03-31");
        assert!(q.contains(datetime!(2026-03-31 23:59:59 UTC)));
        assert!(!q.contains(datetime!(2026-04-01 0:00 UTC)));
        let d = p("30d", None).unwrap();
        assert_eq!(d.since, datetime!(2026-11-06 22:00 UTC));
        assert_eq!(d.until, NOW);
        let r = p("2026-03-01T08:00:00+02:00", Some("2w")).unwrap();
        assert_eq!(r.since, datetime!(2026-03-01 6:00 UTC));
        assert_eq!(r.until, datetime!(2026-11-22 22:00 UTC));
    }

    #[test]
    fn bad_or_empty_periods_are_refused_with_the_flag_named() {
        let e = p("soon", None).unwrap_err().to_string();
        assert!(e.starts_with("--since soon:"), "{e}");
        let e = p("30d", Some("2026-13-01")).unwrap_err().to_string();
        assert!(e.starts_with("--until 2026-13-01:"), "{e}");
        assert!(matches!(
            p("2026-03-02", Some("2026-03-01")),
            Err(PeriodError::Empty { .. })
        ));
        assert!(matches!(
            p("99999999999999d", None),
            Err(PeriodError::OutOfRange { .. })
        ));
        assert!(matches!(
            p("1800-01-01", None),
            Err(PeriodError::TooLong { .. })
        ));
    }

    #[test]
    fn buckets_by_length_cover_the_whole_period() {
        let ten = p("2026-03-01", Some("2026-03-10")).unwrap();
        assert_eq!(ten.bucket(), Bucket::Day);
        let days = ten.buckets(Bucket::Day);
        assert_eq!(days.len(), 10);
        assert_eq!(days[9], date!(2026 - 03 - 10));
        let q = p("2026-01-01", Some("2026-03-31")).unwrap();
        assert_eq!(q.bucket(), Bucket::Week);
        let weeks = q.buckets(Bucket::Week);
        assert_eq!(weeks[0], date!(2025 - 12 - 29), "the Monday before");
        assert_eq!(weeks.last(), Some(&date!(2026 - 03 - 30)));
        assert_eq!(weeks.len(), 14);
        let y = p("2026-01-01", Some("2026-12-31")).unwrap();
        assert_eq!(y.bucket(), Bucket::Month);
        let months = y.buckets(Bucket::Month);
        assert_eq!(months.len(), 12);
        assert_eq!(label(months[11], Bucket::Month), "2026-12");
        // A partial day at either end is still a bucket.
        let h = p("2026-03-01T23:00:00Z", Some("2026-03-02T01:00:00Z")).unwrap();
        assert_eq!(h.buckets(Bucket::Day).len(), 2);
    }
}
