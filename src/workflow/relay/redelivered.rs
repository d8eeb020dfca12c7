//! The handlers' warning about a changed re-delivery (`redelivery.rs`):
//! never relayed and no commands run, but a report re-sent under its
//! Message-ID with another From or Subject is what a forged re-send looks
//! like, so the handlers are told what differs.

use super::{FactWords, Relay};
use crate::mail::parse::ParsedMail;
use crate::pgp::crypto::Crypto;
use crate::pgp::Verification;
use crate::store::{Commit, Store, StoreError};
use crate::workflow::handler::{Audience, Notice, NoticeKind};
use time::OffsetDateTime;

/// A changed re-delivery, as its notice needs it.
pub struct Redelivered<'a> {
    pub mail: &'a ParsedMail,
    pub raw: &'a [u8],
    pub plaintext: Option<&'a [u8]>,
    pub verification: Option<&'a Verification>,
    /// The header fields that differ from the stored copy.
    pub changed: &'a [String],
    pub origin: &'a str,
}

impl Relay {
    /// Adds to the commit a warning to the handlers (the assignee, else
    /// all) with what differs; never a relay, never its commands.
    pub fn notice_redelivery(
        &self,
        commit: &mut Commit,
        r: &Redelivered<'_>,
        store: &Store,
        crypto: &Crypto,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if self.handlers.is_empty() {
            return Ok(());
        }
        let id = commit.ticket.id;
        let text = crate::mail::body::text_of(r.raw, r.plaintext, self.max_size);
        let words = FactWords::of(&self.tags, commit, r.mail, r.verification);
        let analysis = crate::workflow::notice_facts::analysis_facts(store, commit, &self.tags)?;
        let facts = self.facts(&words, &text, analysis);
        let mid = r.mail.message_id.as_deref().unwrap_or("");
        let warning = format!(
            "a message already on this ticket (<{}>) arrived again via {} with other {}: kept as evidence, not relayed, no commands run. A report re-sent with another From or Subject can be a forgery; compare the deliveries with `csirtd ticket show {}`.",
            crate::mail::display::clean(mid),
            r.origin,
            r.changed.join(", "),
            id
        );
        let notice = Notice {
            audience: Audience::Assignee,
            kind: NoticeKind::Warning(warning),
        };
        self.notify(
            commit,
            crypto,
            &notice,
            &facts,
            &None,
            r.mail.message_id.as_deref(),
            now,
        );
        Ok(())
    }
}
