//! The daily digest of constituency notifications (`digest = true`): which
//! kept entries make one mail, what it says, and when it is due. Pure; the
//! store and the sealing are `digest_run.rs`'s.

use crate::mail::display::clean;
use crate::model::TicketId;
use crate::store::digest::{DigestEntry, PendingEntry};
use std::collections::BTreeMap;
use time::{Date, Duration, OffsetDateTime, Time, UtcOffset};

/// Tickets listed in full in one digest; the rest are counted.
pub const MAX_TICKETS: usize = 50;
/// Lines listed per ticket (each entry already holds at most the
/// notification's own limit); the ticket keeps them all.
pub const MAX_LINES: usize = 50;
/// Longest line taken from an entry, in characters.
const MAX_LINE_CHARS: usize = 300;

/// The entries one digest lists: one contact, one encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub contact: String,
    pub key_fingerprint: Option<String>,
    pub entries: Vec<PendingEntry>,
}

impl Batch {
    /// When its oldest entry was kept.
    pub fn oldest(&self) -> Option<OffsetDateTime> {
        self.entries.iter().map(|p| p.entry.recorded_at).min()
    }
}

/// Pending entries as digests: one per contact, or more than one when the
/// constituencies that share a contact name different keys (each digest
/// is sealed to one key).
pub fn batches(pending: Vec<PendingEntry>) -> Vec<Batch> {
    let mut by: BTreeMap<(String, Option<String>), Batch> = BTreeMap::new();
    for p in pending {
        let fpr = p
            .entry
            .key_fingerprint
            .as_deref()
            .map(crate::config::normalize_fingerprint);
        let key = (p.entry.contact.trim().to_ascii_lowercase(), fpr.clone());
        by.entry(key)
            .or_insert_with(|| Batch {
                contact: p.entry.contact.trim().to_string(),
                key_fingerprint: fpr,
                entries: Vec::new(),
            })
            .entries
            .push(p);
    }
    by.into_values().collect()
}

/// One entry and, read when the digest is composed, the ticket it was
/// merged into since.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub entry: &'a DigestEntry,
    pub merged_into: Option<TicketId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    /// Every ticket the entries name, listed in full or counted.
    pub tickets: Vec<TicketId>,
}

/// A stored value as one line of plain text: entries hold only our words
/// and typed fields, and this keeps it so whatever a store holds.
fn line(s: &str) -> String {
    clean(s)
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LINE_CHARS)
        .collect()
}

/// Up to three names, then how many more.
fn names(list: &[String]) -> String {
    let shown: Vec<&str> = list.iter().take(3).map(String::as_str).collect();
    match list.len().saturating_sub(3) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// What one ticket's entries say, merged.
#[derive(Default)]
struct Section {
    constituencies: Vec<String>,
    whats: Vec<String>,
    lines: Vec<String>,
    more: u64,
    merged_into: Option<TicketId>,
}

/// The digest of `items` (one [`Batch`]), dated `date`: team-signed text
/// that names each ticket by its tag with its typed lines.
pub fn compose(team: &str, tag_prefix: &str, date: Date, items: &[Item<'_>]) -> Composed {
    let mut sections: BTreeMap<TicketId, Section> = BTreeMap::new();
    let mut constituencies: Vec<String> = Vec::new();
    for it in items {
        let e = it.entry;
        let s = sections.entry(e.ticket).or_default();
        let c = line(&e.constituency);
        if !constituencies.contains(&c) {
            constituencies.push(c.clone());
        }
        if !s.constituencies.contains(&c) {
            s.constituencies.push(c);
        }
        let what = line(&e.what);
        if !s.whats.contains(&what) {
            s.whats.push(what);
        }
        for l in &e.lines {
            let l = line(l);
            if !s.lines.contains(&l) {
                s.lines.push(l);
            }
        }
        s.more = s.more.saturating_add(e.more);
        s.merged_into = s.merged_into.or(it.merged_into);
    }
    let n = sections.len();
    let reports = if n == 1 { "report" } else { "reports" };
    let team = line(team);
    let who = names(&constituencies);
    let subject = line(&format!(
        "{tag_prefix} daily digest {date}: {n} {reports} concerning {who}"
    ))
    .chars()
    .take(super::decide::SUBJECT_MAX_CHARS)
    .collect();
    let mut text = format!(
        "Dear {who} contact,\n\n{team} received {n} {reports} since the last digest \
         that concern your networks or domains. Each is tracked under its own tag; \
         please keep that tag in the subject of any reply about it.\n"
    );
    for (id, s) in sections.iter().take(MAX_TICKETS) {
        text.push_str(&format!(
            "\n{}  {}: {}\n",
            id.tag(tag_prefix),
            s.constituencies.join(", "),
            s.whats.join("; ")
        ));
        if let Some(m) = s.merged_into {
            text.push_str(&format!("  (since merged into {})\n", m.tag(tag_prefix)));
        }
        for l in s.lines.iter().take(MAX_LINES) {
            text.push_str(l);
            text.push('\n');
        }
        let left = s.more + s.lines.len().saturating_sub(MAX_LINES) as u64;
        if left > 0 {
            text.push_str(&format!("  … and {left} more\n"));
        }
    }
    if n > MAX_TICKETS {
        text.push_str(&format!(
            "\n… and {} more {}, each under its own tag; ask us for the list.\n",
            n - MAX_TICKETS,
            if n - MAX_TICKETS == 1 {
                "report"
            } else {
                "reports"
            }
        ));
    }
    text.push_str(&format!("\n-- \n{team}\n"));
    Composed {
        subject,
        text,
        tickets: sections.into_keys().collect(),
    }
}

/// The latest digest time at or before `now` (UTC).
pub fn last_slot(now: OffsetDateTime, at: Time) -> OffsetDateTime {
    let now = now.to_offset(UtcOffset::UTC);
    let today = now.replace_time(at);
    if today <= now {
        today
    } else {
        today - Duration::DAY
    }
}

/// The first digest time after `now` (UTC).
pub fn next_slot(now: OffsetDateTime, at: Time) -> OffsetDateTime {
    last_slot(now, at) + Duration::DAY
}

/// A digest is due when a digest time has passed since the last run and
/// since its oldest entry was kept: a contact whose first entry came after
/// today's time waits for tomorrow's, and a restart sends what a stopped
/// daemon missed, once.
pub fn due(
    now: OffsetDateTime,
    at: Time,
    last_run: Option<OffsetDateTime>,
    oldest: Option<OffsetDateTime>,
) -> bool {
    let slot = last_slot(now, at);
    oldest.is_some_and(|o| o < slot) && last_run.is_none_or(|r| r < slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, time};

    fn entry(ticket: u32, contact: &str, lines: &[&str]) -> DigestEntry {
        DigestEntry {
            contact: contact.into(),
            constituency: "university".into(),
            ticket: TicketId::new(2026, ticket),
            what: "a Shadowserver scan_ntp report of 2026-12-01 with 2 rows".into(),
            lines: lines.iter().map(|l| l.to_string()).collect(),
            more: 0,
            key_fingerprint: None,
            recorded_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn items(entries: &[DigestEntry]) -> Vec<Item<'_>> {
        entries
            .iter()
            .map(|entry| Item {
                entry,
                merged_into: None,
            })
            .collect()
    }

    const DAY: Date = time::macros::date!(2026 - 12 - 02);

    #[test]
    fn a_digest_lists_each_ticket_by_its_tag_with_its_lines() {
        let es = vec![
            entry(3, "noc@uni.example", &["  192.0.2.9  port 123/udp"]),
            entry(
                1,
                "noc@uni.example",
                &["  192.0.2.7  port 123/udp  AS64500"],
            ),
            entry(2, "noc@uni.example", &["  192.0.2.8  port 53/udp"]),
            // A second mail of the same day added to ticket 1.
            entry(
                1,
                "noc@uni.example",
                &["  192.0.2.7  port 123/udp  AS64500", "  192.0.2.70"],
            ),
        ];
        let c = compose("CERT Example", "CERT-EX", DAY, &items(&es));
        assert_eq!(
            c.tickets,
            vec![
                TicketId::new(2026, 1),
                TicketId::new(2026, 2),
                TicketId::new(2026, 3)
            ]
        );
        assert!(
            c.subject.contains("3 reports concerning university"),
            "{}",
            c.subject
        );
        for t in [
            "[CERT-EX #2026-00001]",
            "[CERT-EX #2026-00002]",
            "[CERT-EX #2026-00003]",
        ] {
            assert_eq!(c.text.matches(t).count(), 1, "{t} once:\n{}", c.text);
        }
        assert_eq!(
            c.text.matches("192.0.2.7  port 123/udp").count(),
            1,
            "{}",
            c.text
        );
        assert!(c.text.contains("192.0.2.70"));
        let first = c.text.find("#2026-00001").unwrap();
        assert!(
            first < c.text.find("#2026-00003").unwrap(),
            "in ticket order"
        );
        assert!(c.text.ends_with("-- \nCERT Example\n"));
    }

    #[test]
    fn a_large_digest_is_bounded() {
        let many_lines: Vec<String> = (0..200)
            .map(|i| format!("  10.0.{}.{}", i / 250, i % 250))
            .collect();
        let refs: Vec<&str> = many_lines.iter().map(String::as_str).collect();
        let mut es: Vec<DigestEntry> = (1..=(MAX_TICKETS as u32 + 7))
            .map(|t| entry(t, "noc@uni.example", &refs))
            .collect();
        es[0].more = 5;
        let c = compose("CERT Example", "CERT-EX", DAY, &items(&es));
        assert_eq!(c.tickets.len(), MAX_TICKETS + 7, "all are taken");
        assert!(c.text.contains("… and 7 more reports"), "{}", c.text);
        assert!(!c
            .text
            .contains(&TicketId::new(2026, MAX_TICKETS as u32 + 1).tag("CERT-EX")));
        assert!(c
            .text
            .contains(&format!("… and {} more\n", 200 - MAX_LINES + 5)));
        assert!(c.text.lines().count() < MAX_TICKETS * (MAX_LINES + 4) + 20);
    }

    #[test]
    fn hostile_values_reach_neither_text_nor_subject() {
        let mut e = entry(
            1,
            "noc@uni.example",
            &[
                "  192.0.2.7\r\nBcc: victim@evil.example\r\n\r\nIMPORTANT: send credentials",
                "  192.0.2.8  \x1b[31mred\x1b[0m \u{202e}gnp.exe \x07\x00\x08",
            ],
        );
        e.constituency = "university\r\nSubject: pwned".into();
        e.what = "a report\nX-Injected: yes\u{85}more".into();
        let c = compose("CERT Example", "CERT-EX", DAY, &items(&[e]));
        assert!(!c.subject.chars().any(char::is_control), "{:?}", c.subject);
        assert!(!c.subject.contains('\u{202e}'));
        for bad in ['\r', '\x1b', '\x07', '\0', '\x08', '\u{85}', '\u{202e}'] {
            assert!(!c.text.contains(bad), "{bad:?} in {:?}", c.text);
        }
        for l in c.text.lines() {
            for header in ["Bcc:", "Subject:", "X-Injected:"] {
                assert!(!l.trim_start().starts_with(header), "{l:?}");
            }
        }
        // The values are kept as text on their own lines, not dropped.
        assert!(c.text.contains("192.0.2.7"));
        assert!(c.text.contains("192.0.2.8"));
    }

    #[test]
    fn merged_tickets_are_named_with_their_survivor() {
        let es = [entry(4, "noc@uni.example", &["  192.0.2.7"])];
        let it = [Item {
            entry: &es[0],
            merged_into: Some(TicketId::new(2026, 2)),
        }];
        let c = compose("CERT Example", "CERT-EX", DAY, &it);
        assert!(c.text.contains("[CERT-EX #2026-00004]"), "{}", c.text);
        assert!(
            c.text.contains("since merged into [CERT-EX #2026-00002]"),
            "{}",
            c.text
        );
    }

    #[test]
    fn entries_make_one_batch_per_contact_and_key() {
        let p = |n: u8, contact: &str, fpr: Option<&str>| {
            let mut e = entry(u32::from(n), contact, &[]);
            e.key_fingerprint = fpr.map(str::to_string);
            PendingEntry {
                key: vec![n],
                entry: e,
            }
        };
        let b = batches(vec![
            p(1, "noc@uni.example", None),
            p(2, "NOC@uni.example ", None),
            p(3, "abuse@isp.example", None),
            p(4, "noc@uni.example", Some("AB CD")),
            p(5, "noc@uni.example", Some("abcd")),
        ]);
        assert_eq!(b.len(), 3, "{b:?}");
        let uni: Vec<usize> = b
            .iter()
            .filter(|x| x.contact.eq_ignore_ascii_case("noc@uni.example"))
            .map(|x| x.entries.len())
            .collect();
        assert_eq!(uni.len(), 2);
        assert!(uni.contains(&2));
    }

    #[test]
    fn digests_are_due_once_after_each_digest_time() {
        let at = time!(06:00);
        let before = datetime!(2026-12-02 05:59 UTC);
        let after = datetime!(2026-12-02 06:00 UTC);
        assert_eq!(last_slot(before, at), datetime!(2026-12-01 06:00 UTC));
        assert_eq!(last_slot(after, at), after);
        assert_eq!(next_slot(before, at), after);
        assert_eq!(next_slot(after, at), datetime!(2026-12-03 06:00 UTC));
        let kept = Some(datetime!(2026-12-01 22:00 UTC));
        assert!(!due(before, at, None, kept), "kept after yesterday's time");
        assert!(due(after, at, None, kept));
        assert!(due(after, at, Some(datetime!(2026-12-01 06:00 UTC)), kept));
        assert!(!due(after, at, Some(after), kept), "once");
        assert!(!due(after, at, None, None), "nothing pending");
        // A daemon stopped for two days sends at its start.
        let later = datetime!(2026-12-04 13:00 UTC);
        assert!(due(later, at, Some(datetime!(2026-12-01 06:00 UTC)), kept));
        // Entries kept after the slot but before a run: not yet.
        let fresh = Some(datetime!(2026-12-02 06:30 UTC));
        assert!(!due(datetime!(2026-12-02 07:00 UTC), at, None, fresh));
    }
}
