//! `csirtd bench --purge N`: N expired tickets (each a resolved report
//! with one incoming message of about 2 KB, three events, two indicators
//! and an acknowledgement history) written straight into a store, then
//! purged and compacted, each timed.

use crate::analysis::indicators::{Found, Indicator, Kind};
use crate::config::{IndicatorPolicy, RetentionConfig};
use crate::model::{Direction, Event, EventKind, Status, TicketId};
use crate::store::bulk::BulkTicket;
use crate::store::purge::PurgeOptions;
use crate::store::{MessageRecord, Store, TicketRecord};
use crate::workflow::retention;
use std::path::Path;
use std::time::Instant;
use time::OffsetDateTime;

const BATCH: usize = 10_000;

fn ticket(i: u32, at: OffsetDateTime) -> BulkTicket {
    let id = TicketId::new(2020, i);
    let who = format!("reporter{i}@isp{}.example", i % 997);
    let mut t = TicketRecord::new(id, format!("Phishing report {i}"), vec![who.clone()], at);
    t.status = Status::Resolved;
    t.message_count = 1;
    let body = format!("Dear CERT,\r\nplease look at 198.51.{}.{} and login-{i}.example.net.\r\n{}\r\nRegards, Reporter {i}\r\n", (i >> 8) % 256, i % 256, "x".repeat(1800));
    let raw = format!("From: Reporter {i} <{who}>\r\nTo: cert@cert.example\r\nSubject: Phishing report {i}\r\nMessage-ID: <r{i}@isp.example>\r\n\r\n{body}").into_bytes();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&raw));
    let message = MessageRecord {
        seq: 0,
        ticket: id,
        message_id: Some(format!("r{i}@isp.example")),
        direction: Direction::In,
        from: Some(who.clone()),
        to: vec!["cert@cert.example".into()],
        subject: Some(format!("Phishing report {i}")),
        date: None,
        sha256: sha,
        body_sha256: None,
        content_sha256: None,
        size: raw.len() as u64,
        stored_at: at,
        origin: format!("maildir:{i}.eml"),
        flags: Default::default(),
        verification: None,
        authentication: None,
        acns: None,
        indicators: vec![
            Indicator {
                kind: Kind::Ipv4,
                value: format!("198.51.{}.{}", (i >> 8) % 256, i % 256),
                source: Found::Body,
            },
            Indicator {
                kind: Kind::Domain,
                value: format!("login-{i}.example.net"),
                source: Found::Body,
            },
        ],
    };
    let events = vec![
        Event::new(at, EventKind::Created, format!("from {who}")),
        Event::new(at, EventKind::Acked, format!("acknowledged to {who}")),
        Event::new(at, EventKind::StatusChange, "by x: open → resolved"),
    ];
    BulkTicket {
        ticket: t,
        message,
        raw,
        events,
    }
}

pub fn run(dir: &Path, n: usize) -> anyhow::Result<()> {
    let path = dir.join("store");
    let at = OffsetDateTime::now_utc() - time::Duration::days(800);
    let n32 = u32::try_from(n)?;
    let store = Store::open(&path, 256)?;
    let started = Instant::now();
    let mut i = 1u32;
    while i <= n32 {
        let end = (i + BATCH as u32 - 1).min(n32);
        let items: Vec<BulkTicket> = (i..=end).map(|k| ticket(k, at)).collect();
        store.bulk_load_full(&items)?;
        i = end + 1;
    }
    store.flush()?;
    let fill = started.elapsed();
    let before = crate::store::compact::dir_bytes(&path);
    println!(
        "filled {n} expired tickets in {:.1} s; store {} MB",
        fill.as_secs_f64(),
        before / 1_000_000
    );

    let cfg = RetentionConfig {
        resolved_days: Some(365),
        ..Default::default()
    };
    let now = OffsetDateTime::now_utc();
    let started = Instant::now();
    let pending = store.tickets_with_pending_mail()?;
    let tickets = store.tickets(None)?;
    let facts: Vec<retention::Facts> = tickets
        .iter()
        .map(|t| retention::Facts::of(t, pending.contains(&t.id)))
        .collect();
    let decided = retention::decide(&facts, &cfg, now);
    let go: Vec<_> = decided
        .iter()
        .zip(&tickets)
        .filter(|(d, _)| d.verdict == retention::Verdict::Purge)
        .map(|(d, t)| (d.id, t.updated_at))
        .collect();
    let decide = started.elapsed();
    let opts = PurgeOptions {
        indicators: IndicatorPolicy::Keep,
        by: "bench".into(),
        now,
    };
    let report = store.purge(&go, &opts)?;
    // The purge alone; deciding is timed above.
    let purge = started.elapsed().saturating_sub(decide);
    drop(store);
    let started = Instant::now();
    let compacted = crate::store::compact::compact(&path, 256)?;
    let compact = started.elapsed();
    println!(
        "decided in {:.2} s; purged {} tickets ({} messages, {} MB of mail, {} events, {} index entries, {} ack histories) in {:.1} s ({:.0} tickets/s)",
        decide.as_secs_f64(),
        report.tickets,
        report.messages,
        report.raw_bytes / 1_000_000,
        report.events,
        report.index_entries,
        report.ack_histories,
        purge.as_secs_f64(),
        report.tickets as f64 / purge.as_secs_f64().max(1e-9)
    );
    println!(
        "compacted in {:.1} s: {} MB → {} MB on disk",
        compact.as_secs_f64(),
        compacted.bytes_before / 1_000_000,
        compacted.bytes_after / 1_000_000
    );
    Ok(())
}
