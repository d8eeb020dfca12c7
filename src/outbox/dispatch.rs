//! The decisions of a delivery pass, without I/O: how many sessions work,
//! when the collected outcomes are flushed, whether a session is checked
//! before it is reused, and whether a failed send deserves a fresh one.
//!
//! The duplicate bound: a worker takes one unit of the pass's budget (one
//! unit per session, see [`in_flight_budget`]) before it hands a message
//! to the transport, and the unit comes back only after the store flush
//! that records the outcome. So each session has at most one message
//! between the start of its transaction and its `sent` on disk, and that
//! is all a crash can send a second time: one per open session. The
//! collector still flushes once for every outcome waiting, so one flush
//! serves the deliveries of all sessions that finished meanwhile.

use super::transport::SendError;
use crate::store::RefusedRecipient;
use std::time::Duration;

/// Units of the SMTP pass's budget: one per session, so that a session
/// waits for the flush recording its last delivery before it starts the
/// next. `flush_batch` (below the sessions) lowers it further.
pub fn in_flight_budget(connections: usize, flush_batch: usize) -> usize {
    connections.min(flush_batch).max(1)
}

/// How many sessions a pass with `due` entries runs: never more than the
/// configured connections, nor more than there is work for, nor more than
/// the budget lets send at once.
pub fn workers(due: usize, connections: usize, budget: usize) -> usize {
    due.min(connections).min(budget).max(usize::from(due > 0))
}

/// After an outcome is recorded: flush now? When the batch is full, or
/// when no other outcome is waiting, so that a lone delivery is never held
/// back for a batch that is not coming.
pub fn flush_now(unflushed: usize, batch: usize, more_waiting: bool) -> bool {
    unflushed > 0 && (unflushed >= batch || !more_waiting)
}

/// What to do with a cached session before the next transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Used a moment ago: send at once (the server resets its state after
    /// each completed DATA, so no RSET is needed).
    Send,
    /// Idle for a while: RSET first, which also shows whether the server
    /// has closed it meanwhile.
    Check,
    /// Idle past `outbox.smtp.idle_secs`: QUIT it and open a new one.
    Replace,
}

/// Idle longer than this and a session is checked with RSET before use.
pub const CHECK_AFTER: Duration = Duration::from_secs(1);

pub fn reuse(idle: Duration, idle_close: Duration) -> Reuse {
    if idle >= idle_close {
        Reuse::Replace
    } else if idle >= CHECK_AFTER {
        Reuse::Check
    } else {
        Reuse::Send
    }
}

/// A send that failed on a session which had carried mail before, without
/// any reply code from the server (the connection was found closed or
/// reset), is tried once more on a new connection: the server dropped an
/// idle session, which says nothing about this message.
pub fn retry_on_fresh(reused: bool, server_replied: bool) -> bool {
    reused && !server_replied
}

/// What a transaction to many recipients did for each: the recipients
/// the server took, those it refused for good (5xx) with its reply, and
/// those it refused for now (4xx) with its reply.
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    pub accepted: Vec<String>,
    pub refused: Vec<RefusedRecipient>,
    pub later: Vec<(String, String)>,
}

/// Splits `to` by the refusals of a transaction that went through
/// (indexes into `to`; one outside it is ignored).
pub fn split_refusals(to: &[String], refusals: Vec<(usize, SendError)>) -> Split {
    let mut reply: Vec<Option<SendError>> = to.iter().map(|_| None).collect();
    for (i, e) in refusals {
        if let Some(slot) = reply.get_mut(i) {
            *slot = Some(e);
        }
    }
    let mut split = Split {
        accepted: Vec::new(),
        refused: Vec::new(),
        later: Vec::new(),
    };
    for (address, r) in to.iter().cloned().zip(reply) {
        match r {
            None => split.accepted.push(address),
            Some(SendError::Permanent(reply)) => {
                split.refused.push(RefusedRecipient { address, reply })
            }
            Some(SendError::Transient(reply)) => split.later.push((address, reply)),
        }
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_split_the_recipients_by_what_becomes_of_them() {
        let to: Vec<String> = ["a@x.example", "b@x.example", "c@y.example", "d@y.example"]
            .map(String::from)
            .to_vec();
        let s = split_refusals(
            &to,
            vec![
                (1, SendError::Permanent("550 5.1.1 unknown".into())),
                (3, SendError::Transient("450 4.2.0 greylisted".into())),
                (9, SendError::Permanent("ignored".into())),
            ],
        );
        assert_eq!(s.accepted, ["a@x.example", "c@y.example"]);
        assert_eq!(
            s.refused,
            [RefusedRecipient {
                address: "b@x.example".into(),
                reply: "550 5.1.1 unknown".into()
            }]
        );
        assert_eq!(
            s.later,
            [(
                "d@y.example".to_string(),
                "450 4.2.0 greylisted".to_string()
            )]
        );
    }

    #[test]
    fn workers_are_bounded_by_work_connections_and_budget() {
        assert_eq!(workers(0, 4, 64), 0);
        assert_eq!(workers(1, 4, 64), 1);
        assert_eq!(workers(100, 4, 64), 4);
        assert_eq!(workers(100, 8, 3), 3);
        assert_eq!(workers(2, 8, 64), 2);
    }

    #[test]
    fn a_crash_can_resend_at_most_one_message_per_session() {
        assert_eq!(in_flight_budget(4, 64), 4);
        assert_eq!(in_flight_budget(16, 64), 16);
        assert_eq!(in_flight_budget(4, 2), 2);
        assert_eq!(in_flight_budget(0, 0), 1);
        // The budget is what runs: never more sessions than units.
        assert_eq!(workers(1000, 4, in_flight_budget(4, 64)), 4);
    }

    #[test]
    fn a_full_batch_or_an_empty_channel_flushes() {
        assert!(!flush_now(0, 64, false), "nothing to flush");
        assert!(flush_now(1, 64, false), "a lone delivery is not held");
        assert!(!flush_now(1, 64, true), "more outcomes are waiting");
        assert!(!flush_now(63, 64, true));
        assert!(flush_now(64, 64, true), "a full batch flushes");
        assert!(flush_now(1, 1, true));
    }

    #[test]
    fn idle_sessions_are_checked_then_replaced() {
        let close = Duration::from_secs(5);
        assert_eq!(reuse(Duration::from_millis(10), close), Reuse::Send);
        assert_eq!(reuse(Duration::from_secs(2), close), Reuse::Check);
        assert_eq!(reuse(Duration::from_secs(5), close), Reuse::Replace);
        // An idle limit below the check threshold replaces at once.
        assert_eq!(
            reuse(Duration::from_millis(600), Duration::from_millis(500)),
            Reuse::Replace
        );
    }

    #[test]
    fn only_a_silent_failure_of_a_reused_session_is_retried() {
        assert!(retry_on_fresh(true, false));
        assert!(
            !retry_on_fresh(true, true),
            "a 4xx/5xx is about the message"
        );
        assert!(
            !retry_on_fresh(false, false),
            "a fresh connection failing is a real failure"
        );
    }
}
