//! The handlers' daily queue digest (`[sla] digest_at`): for each handler,
//! the overdue tickets, their own open ones and the new unassigned ones.
//! Pure: what the mail says and when it is due; the store reads and the
//! sealing are `queue_digest_run.rs`'s.

use super::sla::Due;
use crate::mail::display::clean;
use crate::model::TicketId;
use crate::store::summary::{More, TicketSummary};
use std::fmt::Write;
use time::{OffsetDateTime, Time};

/// Tickets listed per section; the rest are counted, with the command
/// that lists them.
pub const PER_SECTION: usize = 30;
/// Longest subject shown, in characters.
const SUBJECT_CHARS: usize = 70;

/// A listed ticket with its SLA state at the time of the digest.
#[derive(Debug, Clone)]
pub struct Row {
    pub ticket: TicketSummary,
    pub due: Due,
}

/// One section: its rows and how many more match.
#[derive(Debug, Clone)]
pub struct Section {
    pub rows: Vec<Row>,
    pub more: More,
}

impl Section {
    fn total(&self) -> String {
        match self.more {
            More::Exactly(n) => (self.rows.len() + n).to_string(),
            More::AtLeast(n) => format!("{}+", self.rows.len() + n),
        }
    }
}

/// What one handler's digest lists.
#[derive(Debug, Clone)]
pub struct Queue {
    pub overdue: Section,
    pub mine: Section,
    pub unassigned: Section,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    /// Every ticket the text names.
    pub tickets: Vec<TicketId>,
}

/// The digest of `handler` (a configured name: ours, not a reporter's).
/// Ticket subjects come from reporters: they stay in the body, cleaned
/// of control characters and cut; the subject line is all our own words.
pub fn compose(
    team_name: &str,
    tag: &str,
    handler: &str,
    now: OffsetDateTime,
    q: &Queue,
) -> Composed {
    let subject = format!(
        "[{tag}] Queue for {handler} on {}: {} overdue, {} yours, {} new unassigned",
        now.date(),
        q.overdue.total(),
        q.mine.total(),
        q.unassigned.total()
    );
    let mut text = format!(
        "The queue of {team_name} for {handler}, {} {:02}:{:02} UTC.\n",
        now.date(),
        now.hour(),
        now.minute()
    );
    let mut tickets = Vec::new();
    let sections = [
        (
            "Overdue",
            &q.overdue,
            "csirtd ticket list --overdue --sort created",
        ),
        (
            "Assigned to you, not resolved",
            &q.mine,
            "csirtd ticket list --assignee NAME",
        ),
        (
            "New and unassigned",
            &q.unassigned,
            "csirtd ticket list --status new",
        ),
    ];
    for (title, section, command) in sections {
        let _ = write!(text, "\n{title}: {}\n", section.total());
        if section.rows.is_empty() {
            text.push_str("  none\n");
        }
        for r in &section.rows {
            tickets.push(r.ticket.id);
            let _ = writeln!(text, "  {}", line(tag, r, now));
        }
        let more = match section.more {
            More::Exactly(0) => None,
            More::Exactly(n) => Some(n.to_string()),
            More::AtLeast(n) => Some(format!("at least {n}")),
        };
        if let Some(n) = more {
            let command = command.replace("NAME", handler);
            let _ = writeln!(text, "  … and {n} more: {command}");
        }
    }
    text.push_str("\nOverdue means past a due time of [sla] in the configuration.\n");
    tickets.sort_unstable();
    tickets.dedup();
    Composed {
        subject,
        text,
        tickets,
    }
}

/// `[CERT-EX #2026-00042] open, hanna, reply due 3 h ago: Phish kit`.
fn line(tag: &str, r: &Row, now: OffsetDateTime) -> String {
    let t = &r.ticket;
    let mut facts = vec![t.status.as_str().to_string()];
    facts.push(clean(t.assignee.as_deref().unwrap_or("unassigned")));
    if let Some(d) = r.due.first_reply {
        facts.push(format!("first reply due {}", relative(d.at, now)));
    }
    if let Some(d) = r.due.resolve {
        facts.push(format!("resolution due {}", relative(d.at, now)));
    }
    let subject: String = clean(&t.subject).chars().take(SUBJECT_CHARS).collect();
    format!("[{tag} #{}] {}: {subject}", t.id, facts.join(", "))
}

/// `in 5 h`, `2 d ago`.
fn relative(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (at - now).whole_seconds();
    let span = secs.unsigned_abs();
    let amount = if span >= 2 * 86_400 {
        format!("{} d", span / 86_400)
    } else if span >= 3600 {
        format!("{} h", span / 3600)
    } else {
        format!("{} min", span / 60)
    };
    if secs < 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// Due when today's digest time has passed since the last run; a restart
/// sends what a stopped daemon missed, once.
pub fn due(now: OffsetDateTime, at: Time, last_run: Option<OffsetDateTime>) -> bool {
    let slot = super::digest::last_slot(now, at);
    last_run.is_none_or(|r| r < slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use crate::workflow::sla::Deadline;
    use time::macros::{datetime, time};

    fn row(n: u32, subject: &str, due: Option<OffsetDateTime>) -> Row {
        Row {
            ticket: TicketSummary {
                id: TicketId::new(2026, n),
                status: Status::Open,
                subject: subject.into(),
                requestors: vec!["soc@nordbank.example".into()],
                created: 0,
                updated: 0,
                flags: Default::default(),
                messages: 1,
                kind: Default::default(),
                incident: None,
                assignee: Some("hanna".into()),
                category: None,
                tlp: None,
                constituencies: vec![],
                first_reply: None,
            },
            due: Due {
                first_reply: due.map(|at| Deadline { at, overdue: true }),
                resolve: None,
            },
        }
    }

    #[test]
    fn sections_count_list_and_point_to_the_rest() {
        let now = datetime!(2026-12-07 07:00 UTC);
        let q = Queue {
            overdue: Section {
                rows: vec![row(42, "Phish kit", Some(now - time::Duration::hours(3)))],
                more: More::Exactly(4),
            },
            mine: Section {
                rows: vec![],
                more: More::Exactly(0),
            },
            unassigned: Section {
                rows: vec![row(43, "Scan", None)],
                more: More::AtLeast(2000),
            },
        };
        let c = compose("CERT Example", "CERT-EX", "hanna", now, &q);
        assert_eq!(
            c.subject,
            "[CERT-EX] Queue for hanna on 2026-12-07: 5 overdue, 0 yours, 2001+ new unassigned"
        );
        assert!(c.text.contains("Overdue: 5\n"), "{}", c.text);
        assert!(
            c.text
                .contains("[CERT-EX #2026-00042] open, hanna, first reply due 3 h ago: Phish kit"),
            "{}",
            c.text
        );
        assert!(c
            .text
            .contains("… and 4 more: csirtd ticket list --overdue"));
        assert!(c
            .text
            .contains("Assigned to you, not resolved: 0\n  none\n"));
        assert!(c.text.contains("… and at least 2000 more"));
        assert_eq!(
            c.tickets,
            vec![TicketId::new(2026, 42), TicketId::new(2026, 43)]
        );
    }

    #[test]
    fn a_reporters_subject_cannot_forge_lines() {
        let now = datetime!(2026-12-07 07:00 UTC);
        let evil = "x\r\nOverdue: 0\r\n\u{1b}[2J\u{202e}Subject: pwned";
        let q = Queue {
            overdue: Section {
                rows: vec![row(1, evil, None)],
                more: More::Exactly(0),
            },
            mine: Section {
                rows: vec![],
                more: More::Exactly(0),
            },
            unassigned: Section {
                rows: vec![],
                more: More::Exactly(0),
            },
        };
        let c = compose("CERT Example", "CERT-EX", "hanna", now, &q);
        assert!(!c.subject.contains("pwned"));
        let listed: Vec<&str> = c
            .text
            .lines()
            .filter(|l| l.contains("#2026-00001"))
            .collect();
        assert_eq!(listed.len(), 1, "{}", c.text);
        let headings = c.text.lines().filter(|l| l.starts_with("Overdue: "));
        assert_eq!(headings.count(), 1, "{}", c.text);
        assert!(!c.text.contains('\u{1b}') && !c.text.contains('\u{202e}'));
    }

    #[test]
    fn due_once_per_day_after_the_time() {
        let at = time!(07:00);
        let morning = datetime!(2026-12-07 07:00:01 UTC);
        assert!(due(morning, at, None));
        assert!(due(morning, at, Some(datetime!(2026-12-06 07:00:01 UTC))));
        assert!(!due(morning, at, Some(morning)));
        assert!(!due(
            datetime!(2026-12-07 06:59 UTC),
            at,
            Some(datetime!(2026-12-06 07:00:01 UTC))
        ));
    }
}
