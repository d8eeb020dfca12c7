//! Executing a verified handler's commands on a ticket (and, for `/link`
//! and `/merge`, on one other). Pure: the tickets come in, changed tickets,
//! events and refusals go out; the pipeline commits them together.

use super::commands::{Command, CommandError};
use crate::config::HandlerConfig;
use crate::model::handling::Kind;
use crate::model::{Event, EventKind, TicketId};
use crate::store::TicketRecord;
use std::collections::BTreeMap;
use time::OffsetDateTime;

#[derive(Debug, Default)]
pub struct Outcome {
    pub events: Vec<Event>,
    pub refused: Vec<CommandError>,
    /// Other tickets changed, each with its events.
    pub others: BTreeMap<TicketId, (TicketRecord, Vec<Event>)>,
    /// Outbox entries of this ticket to release once the commit is made
    /// (None: all that await release).
    pub releases: Vec<Option<u64>>,
}

/// Runs `commands` by handler `by` on `ticket`. `known` holds the other
/// tickets the commands name (link and merge targets) as the store has them.
pub fn execute(
    commands: &[Command],
    ticket: &mut TicketRecord,
    known: &BTreeMap<TicketId, TicketRecord>,
    handlers: &[HandlerConfig],
    by: &str,
    now: OffsetDateTime,
) -> Outcome {
    let mut out = Outcome::default();
    for c in commands {
        let refuse = |out: &mut Outcome, reason: String| {
            out.events.push(Event::new(
                now,
                EventKind::Command,
                format!("{c} by {by} refused: {reason}"),
            ));
            out.refused.push(CommandError {
                line: c.to_string(),
                reason,
            });
        };
        let other = |out: &mut Outcome, id: TicketId| -> Option<TicketRecord> {
            if let Some((t, _)) = out.others.get(&id) {
                return Some(t.clone());
            }
            known.get(&id).cloned()
        };
        // A status change is one, whoever made it: statistics find the
        // time to resolve by these events.
        let kind = match c {
            Command::Status(_) => EventKind::StatusChange,
            Command::Hold(_) | Command::Unhold => EventKind::Hold,
            _ => EventKind::Command,
        };
        let done = |out: &mut Outcome, what: String| {
            out.events
                .push(Event::new(now, kind, format!("{c} by {by}: {what}")));
        };
        match c {
            Command::Status(s) => {
                let old = ticket.status;
                ticket.status = *s;
                done(&mut out, format!("{old} → {s}"));
            }
            Command::Assign(who) => {
                match handlers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(who) || h.email.eq_ignore_ascii_case(who))
                {
                    Some(h) => {
                        ticket.handling.assignee = Some(h.name.clone());
                        done(&mut out, format!("assigned to {}", h.name));
                    }
                    None => {
                        let names: Vec<&str> = handlers.iter().map(|h| h.name.as_str()).collect();
                        refuse(
                            &mut out,
                            format!("no handler `{who}`; known: {}", names.join(", ")),
                        );
                    }
                }
            }
            Command::Unassign => match ticket.handling.assignee.take() {
                Some(old) => done(&mut out, format!("{old} no longer assigned")),
                None => done(&mut out, "was not assigned".into()),
            },
            Command::Link(target) => {
                if *target == ticket.id {
                    refuse(&mut out, "a ticket cannot be linked to itself".into());
                    continue;
                }
                if ticket.handling.kind == Kind::Incident {
                    refuse(
                        &mut out,
                        format!("{} is an incident; link reports to it instead", ticket.id),
                    );
                    continue;
                }
                let Some(mut inc) = other(&mut out, *target) else {
                    refuse(&mut out, format!("ticket {target} does not exist"));
                    continue;
                };
                if inc.handling.kind != Kind::Incident {
                    refuse(&mut out, format!("{target} is a report, not an incident (create one with `csirtd incident create --from {target}`)"));
                    continue;
                }
                if let Some(old) = ticket.handling.incident.filter(|o| o != target) {
                    if let Some(mut prev) = other(&mut out, old) {
                        prev.handling.reports.retain(|r| *r != ticket.id);
                        let e = Event::new(
                            now,
                            EventKind::Command,
                            format!("report {} moved to incident {target} by {by}", ticket.id),
                        );
                        push_other(&mut out, prev, e);
                    }
                }
                ticket.handling.incident = Some(*target);
                if !inc.handling.reports.contains(&ticket.id) {
                    inc.handling.reports.push(ticket.id);
                }
                // Shared handling shares the strictest TLP of the two.
                let tlp = ticket.handling.tlp.max(inc.handling.tlp);
                ticket.handling.set_tlp(tlp, &ticket.requestors);
                inc.handling.set_tlp(tlp, &inc.requestors);
                inc.updated_at = now;
                let e = Event::new(
                    now,
                    EventKind::Command,
                    format!("report {} linked by {by}", ticket.id),
                );
                push_other(&mut out, inc, e);
                done(&mut out, format!("linked to incident {target}"));
            }
            Command::Merge(target) => {
                if *target == ticket.id {
                    refuse(&mut out, "a ticket cannot be merged into itself".into());
                    continue;
                }
                if ticket.handling.merged_into.is_some() {
                    refuse(&mut out, format!("{} is already merged", ticket.id));
                    continue;
                }
                let Some(mut survivor) = other(&mut out, *target) else {
                    refuse(&mut out, format!("ticket {target} does not exist"));
                    continue;
                };
                if let Some(further) = survivor.handling.merged_into {
                    refuse(
                        &mut out,
                        format!("{target} was itself merged into {further}; merge into that one"),
                    );
                    continue;
                }
                ticket.handling.merged_into = Some(*target);
                survivor.handling.merged.push(ticket.id);
                for r in &ticket.requestors {
                    if !survivor.requestors.contains(r) {
                        survivor.requestors.push(r.clone());
                    }
                }
                for r in &ticket.handling.reports {
                    if !survivor.handling.reports.contains(r) {
                        survivor.handling.reports.push(*r);
                    }
                }
                survivor.flags.extend(ticket.flags.iter().copied());
                let tlp = survivor.handling.tlp.max(ticket.handling.tlp);
                // The merged ticket's audience stays what RED content of
                // the survivor may reach; its other requestors do not.
                survivor
                    .handling
                    .set_tlp(tlp, &ticket.handling.red_audience);
                survivor.updated_at = now;
                let e = Event::new(now, EventKind::Command, format!("{} merged into this ticket by {by}; its tag and Message-IDs now route here", ticket.id));
                push_other(&mut out, survivor, e);
                done(&mut out, format!("merged into {target}"));
            }
            Command::Category(cat) => match crate::analysis::classify::parse_category(cat) {
                // The handler's word overrides what fields or rules set.
                Ok((category, kind)) => {
                    ticket.classification = Some(crate::analysis::classify::Classification {
                        category,
                        kind,
                        by: crate::analysis::classify::ClassifiedBy::Handler,
                    });
                    ticket.handling.category = Some(cat.clone());
                    done(&mut out, format!("category {cat}"));
                }
                Err(e) => refuse(&mut out, e.to_string()),
            },
            Command::Tlp(t) => {
                let before = ticket.handling.tlp;
                ticket.handling.set_tlp(Some(*t), &ticket.requestors);
                match before {
                    Some(b) if b > *t => done(&mut out, format!("{t}, lowered from {b}")),
                    _ => done(&mut out, format!("{t}")),
                }
            }
            Command::Release(id) => {
                out.releases.push(*id);
                done(
                    &mut out,
                    match id {
                        Some(id) => format!("outbox entry {id} to be released"),
                        None => "the ticket's mail awaiting release to be released".into(),
                    },
                );
            }
            Command::ReporterAckOff => {
                ticket.handling.reporter_muted = true;
                done(&mut out, "nothing more goes to the requestors".into());
            }
            Command::Hold(reason) => {
                if ticket.purged_at.is_some() {
                    refuse(&mut out, format!("{} was purged already", ticket.id));
                    continue;
                }
                ticket.hold = Some(crate::store::records::Hold {
                    by: by.to_string(),
                    reason: reason.clone(),
                    at: now,
                });
                done(&mut out, "legal hold: retention will not purge it".into());
            }
            Command::Unhold => match ticket.hold.take() {
                Some(h) => done(&mut out, format!("legal hold of {} lifted", h.by)),
                None => done(&mut out, "there was no legal hold".into()),
            },
        }
    }
    // A hold is no work on the ticket: retention's age keeps counting
    // from the last real change, or a hold lifted would start it afresh.
    if !commands
        .iter()
        .all(|c| matches!(c, Command::Hold(_) | Command::Unhold))
    {
        ticket.updated_at = now;
    }
    out
}

fn push_other(out: &mut Outcome, t: TicketRecord, e: Event) {
    let entry = out
        .others
        .entry(t.id)
        .or_insert_with(|| (t.clone(), Vec::new()));
    entry.0 = t;
    entry.1.push(e);
}

/// The tickets a command list needs to see besides its own.
pub fn targets(commands: &[Command], ticket: &TicketRecord) -> Vec<TicketId> {
    let mut v: Vec<TicketId> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Link(t) | Command::Merge(t) => Some(*t),
            _ => None,
        })
        .collect();
    v.extend(ticket.handling.incident);
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use crate::workflow::commands::Tlp;
    use std::collections::BTreeSet;

    fn t(seq: u32, kind: Kind, req: &str) -> TicketRecord {
        TicketRecord {
            id: TicketId::new(2026, seq),
            status: Status::Open,
            subject: "s".into(),
            requestors: vec![req.into()],
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            flags: BTreeSet::new(),
            message_count: 1,
            classification: None,
            constituencies: Vec::new(),
            labels: Vec::new(),
            handling: crate::model::handling::Handling {
                kind,
                ..Default::default()
            },
            hold: None,
            purged_at: None,
        }
    }

    fn hs() -> Vec<HandlerConfig> {
        vec![HandlerConfig {
            name: "alice".into(),
            email: "alice@cert.example".into(),
            fingerprint: "0".repeat(40),
            unix_user: None,
        }]
    }

    #[test]
    fn a_hold_is_kept_with_who_and_why_and_does_not_restart_the_age() {
        let mut t = t(1, Kind::Report, "r@x.example");
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(9);
        let o = execute(
            &[Command::Hold("court".into())],
            &mut t,
            &BTreeMap::new(),
            &hs(),
            "hanna",
            now,
        );
        assert!(o.refused.is_empty());
        assert_eq!(o.events[0].kind, EventKind::Hold);
        let h = t.hold.clone().unwrap();
        assert_eq!(
            (h.by.as_str(), h.reason.as_str(), h.at),
            ("hanna", "court", now)
        );
        assert_eq!(t.updated_at, OffsetDateTime::UNIX_EPOCH);
        let o = execute(
            &[Command::Unhold],
            &mut t,
            &BTreeMap::new(),
            &hs(),
            "bob",
            now,
        );
        assert!(
            o.events[0].detail.contains("legal hold of hanna lifted"),
            "{:?}",
            o.events
        );
        assert!(t.hold.is_none());
        t.purged_at = Some(now);
        let o = execute(
            &[Command::Hold("late".into())],
            &mut t,
            &BTreeMap::new(),
            &hs(),
            "hanna",
            now,
        );
        assert_eq!(o.refused.len(), 1);
    }

    #[test]
    fn simple_commands_change_the_ticket_and_are_events() {
        let mut a = t(1, Kind::Report, "r@x.example");
        let cmds = vec![
            Command::Status(Status::Resolved),
            Command::Assign("ALICE".into()),
            Command::Category("fraud/phishing".into()),
            Command::Tlp(Tlp::Amber),
            Command::ReporterAckOff,
            Command::Assign("nobody".into()),
        ];
        let o = execute(
            &cmds,
            &mut a,
            &BTreeMap::new(),
            &hs(),
            "alice",
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(a.status, Status::Resolved);
        assert_eq!(a.handling.assignee.as_deref(), Some("alice"));
        assert_eq!(a.handling.tlp, Some(Tlp::Amber));
        assert!(a.handling.reporter_muted);
        assert_eq!(o.events.len(), 6);
        assert_eq!(o.refused.len(), 1);
        assert!(o.refused[0].reason.contains("known: alice"));
    }

    #[test]
    fn a_status_change_is_one_and_unassign_clears() {
        let mut a = t(1, Kind::Report, "r@x.example");
        a.handling.assignee = Some("alice".into());
        let o = execute(
            &[Command::Status(Status::Resolved), Command::Unassign],
            &mut a,
            &BTreeMap::new(),
            &hs(),
            "alice",
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(o.events[0].kind, EventKind::StatusChange);
        assert!(o.events[0].detail.contains("open → resolved"));
        assert_eq!(o.events[1].kind, EventKind::Command);
        assert!(a.handling.assignee.is_none());
    }

    #[test]
    fn link_needs_an_existing_incident() {
        let mut a = t(1, Kind::Report, "r@x.example");
        let mut known = BTreeMap::new();
        known.insert(TicketId::new(2026, 2), t(2, Kind::Report, "x@y.example"));
        known.insert(
            TicketId::new(2026, 3),
            t(3, Kind::Incident, "cert@cert.example"),
        );
        let o = execute(
            &[
                Command::Link(TicketId::new(2026, 2)),
                Command::Link(TicketId::new(2026, 9)),
                Command::Link(TicketId::new(2026, 3)),
            ],
            &mut a,
            &known,
            &hs(),
            "alice",
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(o.refused.len(), 2);
        assert_eq!(a.handling.incident, Some(TicketId::new(2026, 3)));
        assert_eq!(
            o.others[&TicketId::new(2026, 3)].0.handling.reports,
            vec![TicketId::new(2026, 1)]
        );
    }

    #[test]
    fn merge_points_the_old_ticket_at_the_survivor() {
        let mut a = t(1, Kind::Report, "r@x.example");
        let mut known = BTreeMap::new();
        known.insert(TicketId::new(2026, 2), t(2, Kind::Report, "x@y.example"));
        let o = execute(
            &[Command::Merge(TicketId::new(2026, 2))],
            &mut a,
            &known,
            &hs(),
            "alice",
            OffsetDateTime::UNIX_EPOCH,
        );
        assert!(o.refused.is_empty());
        assert_eq!(a.handling.merged_into, Some(TicketId::new(2026, 2)));
        let s = &o.others[&TicketId::new(2026, 2)].0;
        assert_eq!(
            s.requestors,
            vec!["x@y.example".to_string(), "r@x.example".to_string()]
        );
        assert_eq!(s.handling.merged, vec![TicketId::new(2026, 1)]);
        let o = execute(
            &[Command::Merge(TicketId::new(2026, 1))],
            &mut a,
            &known,
            &hs(),
            "alice",
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(o.refused.len(), 1);
    }

    #[test]
    fn merge_and_link_take_the_strictest_tlp() {
        let mut red = t(1, Kind::Report, "r@x.example");
        red.handling.tlp = Some(Tlp::Red);
        let mut known = BTreeMap::new();
        known.insert(TicketId::new(2026, 2), t(2, Kind::Report, "x@y.example"));
        let mut inc = t(3, Kind::Incident, "cert@cert.example");
        inc.handling.tlp = Some(Tlp::Green);
        known.insert(TicketId::new(2026, 3), inc);
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut linked = red.clone();
        let o = execute(
            &[Command::Link(TicketId::new(2026, 3))],
            &mut linked,
            &known,
            &hs(),
            "alice",
            now,
        );
        assert!(o.refused.is_empty(), "{:?}", o.refused);
        assert_eq!(
            o.others[&TicketId::new(2026, 3)].0.handling.tlp,
            Some(Tlp::Red)
        );
        assert_eq!(linked.handling.tlp, Some(Tlp::Red));
        let o = execute(
            &[Command::Merge(TicketId::new(2026, 2))],
            &mut red,
            &known,
            &hs(),
            "alice",
            now,
        );
        assert_eq!(
            o.others[&TicketId::new(2026, 2)].0.handling.tlp,
            Some(Tlp::Red)
        );
        // A handler may lower it, and the event says so.
        let o = execute(
            &[Command::Tlp(Tlp::Amber)],
            &mut red,
            &known,
            &hs(),
            "alice",
            now,
        );
        assert_eq!(red.handling.tlp, Some(Tlp::Amber));
        assert!(
            o.events[0].detail.contains("lowered from TLP:RED"),
            "{:?}",
            o.events
        );
    }
}
