//! A handler's words to the ticket's requestors, as the team: the one
//! composition behind a signed reply by mail and `csirtd ticket reply`.

use super::{FactWords, Out, Relay};
use crate::model::{Event, EventKind};
use crate::pgp::crypto::Crypto;
use crate::store::{Commit, MessageRecord, Store, StoreError};
use crate::workflow::decide::SUBJECT_MAX_CHARS;
use crate::workflow::handler::{Audience, Notice, NoticeKind, Sender};
use crate::workflow::outgoing::requestor_thread;
use time::OffsetDateTime;

/// What became of a reply: per requestor queued, kept for release, or held.
#[derive(Debug, Default)]
pub struct Replied {
    /// (requestor, Message-ID) of each mail queued to go out.
    pub queued: Vec<(String, String)>,
    /// Requestors whose mail waits for a handler's release (TLP:RED).
    pub kept: Vec<String>,
    /// What the other handlers must be told.
    pub notices: Vec<Notice>,
}

impl Relay {
    /// Queues `text` by handler `by` to each requestor of the commit's
    /// ticket: team-signed (encrypted per `ack.encrypt`), tagged, threaded
    /// to the last mail with the requestors (`history`: the ticket's
    /// stored messages). A new ticket becomes open.
    pub fn relay_reply(
        &self,
        commit: &mut Commit,
        crypto: &Crypto,
        history: &[MessageRecord],
        text: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Replied {
        let mut done = Replied::default();
        let id = commit.ticket.id;
        let requestors = commit.ticket.requestors.clone();
        let (irt, refs) = requestor_thread(history, &requestors);
        let subject = self
            .tags
            .compose(id, &commit.ticket.subject, SUBJECT_MAX_CHARS);
        for r in &requestors {
            let out = Out {
                to: r.clone(),
                subject: subject.clone(),
                body: format!("{text}\n"),
                kind: "relay",
                in_reply_to: irt.clone(),
                references: refs.clone(),
                reply_to: None,
                encrypt: self.requestor_encrypt,
                automatic: false,
            };
            if !commit.ticket.handling.may_relay_to(r) {
                // RED content reaches only who had it when it became
                // RED; a requestor added since waits for a handler.
                let why = format!(
                    "the ticket is TLP:RED and {r} was not among its requestors when it became RED"
                );
                tracing::warn!(ticket = %id, "{why}");
                commit.events.push(Event::new(
                    now,
                    EventKind::Warning,
                    format!("relay by {by}: {why}"),
                ));
                self.queue_for_release(commit, crypto, out, &why, now);
                done.kept.push(r.clone());
                done.notices.push(Notice {
                    audience: Audience::All,
                    kind: NoticeKind::Warning(format!(
                        "a relay by {by} was kept for release: {why}"
                    )),
                });
                continue;
            }
            if let Some(mid) = self.queue(commit, crypto, out, now) {
                commit.events.push(Event::new(
                    now,
                    EventKind::Relayed,
                    format!("reply by {by} relayed to {r} as <{mid}>"),
                ));
                done.queued.push((r.clone(), mid));
            }
        }
        // A handler answering is work on the ticket (as in RT).
        if commit.ticket.status == crate::model::Status::New {
            commit.ticket.status = crate::model::Status::Open;
            commit.events.push(Event::new(
                now,
                EventKind::StatusChange,
                format!("new → open: {by} answered the requestors"),
            ));
        }
        done
    }

    /// Tells the handlers of a step taken at the command line as the mail
    /// path tells them of one taken by mail; `text` is the step's words.
    #[allow(clippy::too_many_arguments)]
    pub fn notify_desk(
        &self,
        commit: &mut Commit,
        crypto: &Crypto,
        store: &Store,
        notices: &[Notice],
        handler: &str,
        by: &str,
        text: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if notices.is_empty() {
            return Ok(());
        }
        let none = "none: given at the command line, not by mail".to_string();
        let words = FactWords {
            tag: self.tags.tag_for(commit.ticket.id),
            subject: commit.ticket.subject.clone(),
            from: by.to_string(),
            verdict: none.clone(),
            sender_auth: none,
            flags: commit.ticket.flags.clone(),
        };
        let analysis = crate::workflow::notice_facts::analysis_facts(store, commit, &self.tags)?;
        let facts = self.facts(&words, text, analysis);
        let sender = Some(Sender::Handler {
            name: handler.to_string(),
        });
        for n in notices {
            self.notify(commit, crypto, n, &facts, &sender, None, now);
        }
        Ok(())
    }
}
