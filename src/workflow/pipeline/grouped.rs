//! Machine reports that carry many events (Shadowserver CSVs): rows are
//! grouped into one ticket per constituency, report type and day, and each
//! group's rows are stored as one compact record (`store/reports.rs`). A 10,000-row report opens a handful of tickets, not 10,000;
//! the next day's report of the same type opens new ones, and a second mail
//! of the same day adds to the same tickets.

use super::{Incoming, Pipeline, Processed};
use crate::analysis::classify::{self, Classification};
use crate::analysis::constituency::Constituencies;
use crate::analysis::indicators::{Found, Indicator};
use crate::analysis::row_fields::report_type_word;
use crate::analysis::shadowserver::{Row, ShadowReport};
use crate::model::{Direction, Event, EventKind, TicketId};
use crate::store::grouped::{GroupPart, GroupedCommit};
use crate::store::reports::{encode_report, ReportHeader};
use crate::store::{MessageRecord, StoreError, TicketRecord};
use crate::workflow::decide::Placement;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use time::OffsetDateTime;

/// Rows whose address belongs to no configured constituency.
pub const UNASSIGNED: &str = "unassigned";

/// (report type, day, constituency): the unit a ticket collects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub report_type: String,
    pub date: String,
    pub constituency: String,
}

impl GroupKey {
    fn store_key(&self) -> Vec<u8> {
        format!(
            "shadowserver\0{}\0{}\0{}",
            self.report_type, self.date, self.constituency
        )
        .into_bytes()
    }
}

/// Rows of every CSV of a report, grouped. Rows without a usable address
/// go with the report's primary constituency (`labels[0]`).
pub fn group_rows<'a>(
    reports: &'a [ShadowReport],
    labels: &[String],
    constituencies: &Constituencies,
) -> BTreeMap<GroupKey, Vec<&'a Row>> {
    let fallback = labels.first().map_or(UNASSIGNED, String::as_str);
    let mut groups: BTreeMap<GroupKey, Vec<&Row>> = BTreeMap::new();
    for report in reports {
        for row in &report.rows {
            let owner = row
                .ip
                .and_then(|ip| constituencies.of_ip(ip))
                .unwrap_or(fallback);
            groups
                .entry(GroupKey {
                    report_type: report.report_type.clone(),
                    date: report.date.clone(),
                    constituency: owner.to_string(),
                })
                .or_default()
                .push(row);
        }
    }
    groups
}

/// Adds what a report says about a ticket: its classification, unless one
/// is set (a handler's or an earlier report's), and its constituencies.
pub(super) fn label(
    ticket: &mut TicketRecord,
    classification: Option<Classification>,
    constituencies: &[String],
) {
    if ticket.classification.is_none() {
        ticket.classification = classification;
    }
    for c in constituencies {
        if !ticket.constituencies.contains(c) {
            ticket.constituencies.push(c.clone());
        }
    }
}

/// The group's addresses that are indicators (`indexed`: not ignored,
/// within the budget), each once.
fn row_indicators(rows: &[&Row], indexed: &HashSet<IpAddr>, source: &Found) -> Vec<Indicator> {
    let mut seen = HashSet::new();
    rows.iter()
        .filter_map(|r| r.ip)
        .filter(|ip| indexed.contains(ip) && seen.insert(*ip))
        .map(|ip| Indicator::of_ip(ip, source.clone()))
        .collect()
}

/// One group's rows as a stored record: the files and columns of the
/// reports of its type and day.
fn report_record(key: &GroupKey, reports: &[ShadowReport], rows: &[&Row]) -> Vec<u8> {
    let of_group = || {
        reports
            .iter()
            .filter(|r| r.report_type == key.report_type && r.date == key.date)
    };
    let header = ReportHeader {
        report_type: key.report_type.clone(),
        date: key.date.clone(),
        files: of_group().map(|r| r.file.clone()).collect(),
        columns: of_group()
            .next()
            .map(|r| r.columns.clone())
            .unwrap_or_default(),
        rows: rows.len() as u64,
        truncated: of_group().any(|r| r.truncated),
    };
    encode_report(&header, rows.iter().map(|r| r.text.as_str()))
}

impl Pipeline {
    /// Commits a machine report as one transaction over every group's ticket.
    pub(super) fn commit_grouped(
        &self,
        r: &Incoming<'_>,
        reports: &[ShadowReport],
        indexed: &HashSet<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<Processed, StoreError> {
        let groups = group_rows(reports, &r.constituencies, &self.analyser.constituencies);
        let year = now.year().clamp(0, 9999) as u16;
        let mut next_seq = self.store.next_ticket_id(year)?.seq;
        let record = MessageRecord {
            seq: 0,
            ticket: TicketId::new(year, next_seq),
            message_id: r.mail.message_id.clone(),
            direction: Direction::In,
            from: r
                .mail
                .from_display
                .clone()
                .or_else(|| r.mail.from.first().cloned()),
            to: r.mail.to.iter().chain(r.mail.cc.iter()).cloned().collect(),
            subject: r.mail.subject.clone(),
            date: r.mail.date.clone(),
            sha256: hex::encode(r.sha),
            body_sha256: Some(r.body_sha.clone()),
            content_sha256: Some(r.content_sha.clone()),
            size: r.raw.len() as u64,
            stored_at: now,
            origin: r.origin.to_string(),
            flags: r.mail.flags.clone(),
            verification: r.verification.clone(),
            authentication: r.authentication.clone().checked(),
            acns: None,
            indicators: Vec::new(),
        };
        let mut parts = Vec::new();
        let mut created = None;
        let mut budget = super::notify::ContactBudget::default();
        for (key, rows) in &groups {
            let class = Some(classify::from_shadowserver(&key.report_type));
            let (mut ticket, is_new) = match self.store.group_ticket(&key.store_key())? {
                Some(id) => match self.store.ticket(id)? {
                    Some(t) => (t, false),
                    None => {
                        return Err(StoreError::Conflict(format!(
                            "report group names ticket {id}, which does not exist"
                        )))
                    }
                },
                None => {
                    let id = TicketId::new(year, next_seq);
                    next_seq = next_seq.checked_add(1).ok_or_else(|| {
                        StoreError::Conflict(format!("ticket sequence for {year} exhausted"))
                    })?;
                    let subject = format!(
                        "Shadowserver {} {} — {}",
                        key.report_type, key.date, key.constituency
                    );
                    let from = r.mail.single_from().map(str::to_string);
                    let ticket = TicketRecord::new(id, subject, from.into_iter().collect(), now);
                    (ticket, true)
                }
            };
            created.get_or_insert(if is_new {
                Placement::Created(ticket.id)
            } else {
                Placement::Appended(ticket.id)
            });
            let labels: Vec<String> = if key.constituency == UNASSIGNED {
                Vec::new()
            } else {
                vec![key.constituency.clone()]
            };
            label(&mut ticket, class, &labels);
            let raised = super::raise_tlp(&mut ticket, r.tlp, now);
            let gate = crate::workflow::feeds::gate(&r.feed, ticket.handling.tlp);
            ticket.updated_at = now;
            ticket.flags.extend(r.mail.flags.iter().copied());
            ticket.message_count += 1;
            let mut events = Vec::with_capacity(4);
            if is_new {
                events.push(Event::new(
                    now,
                    EventKind::Created,
                    "ticket created from a machine report",
                ));
            }
            events.extend(raised);
            events.push(Event::new(
                now,
                EventKind::Received,
                format!(
                    "{} rows of Shadowserver {} for {} from {}",
                    rows.len(),
                    key.report_type,
                    key.constituency,
                    r.origin
                ),
            ));
            events.push(Event::new(
                now,
                EventKind::AckSuppressed,
                "machine report: no acknowledgement",
            ));
            let (mut outgoing, mut outbox, mut digest) = (Vec::new(), Vec::new(), Vec::new());
            for (c, contact) in self.to_notify(&labels) {
                let what = match report_type_word(&key.report_type) {
                    Some(t) => format!("a Shadowserver {t} report of {}", key.date),
                    None => format!("a Shadowserver report of {}", key.date),
                };
                let listing = || {
                    let (lines, more) = super::notify::row_lines(rows);
                    super::notify::Listing {
                        what: format!("{what} with {} rows", rows.len()),
                        lines,
                        more,
                    }
                };
                if let Some(e) =
                    self.kept_for_digest(ticket.id, c, contact, listing, &gate, now, &mut events)
                {
                    digest.push(e);
                    continue;
                }
                let tag = self.tags.tag_for(ticket.id);
                let text = super::notify::rows_body(
                    &self.config.team.name,
                    &tag,
                    c.name.trim(),
                    &what,
                    rows,
                );
                let notice = self.notification(
                    ticket.id,
                    c,
                    contact,
                    &text,
                    &gate,
                    &mut budget,
                    now,
                    &mut events,
                );
                if let Some((m, mut o)) = notice {
                    o.message = outgoing.len();
                    outgoing.push(m);
                    outbox.push(o);
                }
            }
            ticket.message_count += outgoing.len() as u32;
            let source = Found::Structured(format!("shadowserver:{}", key.report_type));
            parts.push(GroupPart {
                ticket,
                ticket_is_new: is_new,
                group_key: key.store_key(),
                events,
                indicators: row_indicators(rows, indexed, &source),
                report: report_record(key, reports, rows),
                outgoing,
                outbox,
                digest,
            });
        }
        if let Some(p) = parts.first_mut() {
            p.events.extend(
                r.warnings
                    .iter()
                    .map(|w| Event::new(now, EventKind::Warning, w.clone())),
            );
        }
        let Some(placement) = created else {
            // CSVs without rows: an ordinary ticket is the caller's job, but
            // there is nothing grouped to commit; say so instead of guessing.
            return Err(StoreError::Conflict(
                "machine report without rows reached the grouped commit".into(),
            ));
        };
        let result = self.store.apply_grouped(&GroupedCommit {
            record,
            raw: r.raw.to_vec(),
            sha256: r.sha,
            parts,
            received_at: now,
            ack_rates: budget.into_rates(),
        })?;
        Ok(Processed {
            placement,
            outbox_ids: result.outbox_ids,
            flags: r.mail.flags.clone(),
            verdict: r
                .verification
                .as_ref()
                .map_or(crate::pgp::Verdict::Unsigned, |v| v.status),
            seal: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::constituency::ConstituencyConfig;

    fn row(ip: &str) -> Row {
        Row {
            ip: ip.parse().ok(),
            text: format!("ip={ip}"),
            fields: Default::default(),
        }
    }

    #[test]
    fn rows_group_per_constituency_type_and_day() {
        let c = Constituencies::compile(&[ConstituencyConfig {
            name: "uni".into(),
            networks: vec!["192.0.2.0/24".into()],
            asns: vec![],
            domains: vec![],
            contact: None,
            key_fingerprint: None,
            notify_constituent: false,
            digest: false,
        }])
        .unwrap();
        let report = |t: &str, d: &str, ips: &[&str]| ShadowReport {
            file: String::new(),
            report_type: t.into(),
            date: d.into(),
            columns: vec!["ip".into()],
            rows: ips.iter().map(|i| row(i)).collect(),
            truncated: false,
        };
        let many: Vec<String> = (0..10_000)
            .map(|i| format!("192.0.2.{}", i % 250))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let reports = vec![
            report("scan_ntp", "2015-01-01", &many),
            report("scan_ntp", "2015-01-01", &["203.0.113.5", "x"]),
            report("scan_ntp", "2015-01-02", &["192.0.2.1"]),
        ];
        let g = group_rows(&reports, &[], &c);
        assert_eq!(g.len(), 3, "{:?}", g.keys().collect::<Vec<_>>());
        let k = |d: &str, c: &str| GroupKey {
            report_type: "scan_ntp".into(),
            date: d.into(),
            constituency: c.into(),
        };
        assert_eq!(g[&k("2015-01-01", "uni")].len(), 10_000);
        assert_eq!(g[&k("2015-01-01", UNASSIGNED)].len(), 2);
        assert_eq!(g[&k("2015-01-02", "uni")].len(), 1);
        let all: HashSet<IpAddr> = (0..250)
            .map(|i| format!("192.0.2.{i}").parse().unwrap())
            .collect();
        let ind = row_indicators(&g[&k("2015-01-01", "uni")], &all, &Found::Body);
        assert_eq!(ind.len(), 250, "each address once");
        let some: HashSet<IpAddr> = all.iter().copied().take(10).collect();
        let ind = row_indicators(&g[&k("2015-01-01", "uni")], &some, &Found::Body);
        assert_eq!(ind.len(), 10, "only the indexed addresses");
    }
}
