//! The summary line logged every `[log] summary_minutes`: what came in
//! since the last one, the outbox by state, and the IMAP accounts, so that
//! an operator reading only the log sees the daemon's health at a glance.

use super::metrics::{Totals, OUTCOMES};
use crate::intake::imap::status::Link;
use crate::store::census::{OutboxCensus, OUTBOX_STATES};

/// One line, e.g. `messages since last summary: 3 created, 0 appended, …;
/// outbox: 1 queued, …; imap: abuse idle`.
pub fn line(
    before: &Totals,
    now: &Totals,
    outbox: Option<&OutboxCensus>,
    accounts: &[(String, Link)],
) -> String {
    let mut parts: Vec<String> = OUTCOMES
        .iter()
        .zip(now.messages.iter().zip(before.messages))
        .map(|(name, (n, b))| format!("{} {name}", n.saturating_sub(b)))
        .collect();
    parts.push(format!(
        "{} quarantined",
        now.quarantined.saturating_sub(before.quarantined)
    ));
    let mut out = format!("messages since last summary: {}", parts.join(", "));
    match outbox {
        Some(c) => {
            let states: Vec<String> = OUTBOX_STATES
                .iter()
                .zip(c.counts)
                .map(|(s, n)| format!("{n} {}", s.as_str()))
                .collect();
            out.push_str(&format!("; outbox: {}", states.join(", ")));
        }
        None => out.push_str("; outbox: unreadable"),
    }
    if !accounts.is_empty() {
        let accts: Vec<String> = accounts
            .iter()
            .map(|(name, l)| format!("{name} {}", l.as_str()))
            .collect();
        out.push_str(&format!("; imap: {}", accts.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_differences_states_and_accounts() {
        let before = Totals {
            messages: [1, 0, 2, 0],
            quarantined: 0,
        };
        let now = Totals {
            messages: [4, 1, 2, 0],
            quarantined: 1,
        };
        let mut c = OutboxCensus::default();
        c.counts[0] = 2;
        c.counts[1] = 7;
        let l = line(
            &before,
            &now,
            Some(&c),
            &[
                ("abuse".into(), Link::Idle),
                ("cert".into(), Link::Reconnecting),
            ],
        );
        assert_eq!(
            l,
            "messages since last summary: 3 created, 1 appended, 0 duplicate, 0 failed, 1 quarantined; \
             outbox: 2 queued, 7 sent, 0 failed, 0 held, 0 sealing, 0 awaiting-release, 0 cancelled; \
             imap: abuse idle, cert reconnecting"
        );
        let l = line(&now, &now, None, &[]);
        assert!(l.ends_with("outbox: unreadable"), "{l}");
    }
}
