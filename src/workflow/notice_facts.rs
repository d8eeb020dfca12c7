//! What analysis says about a ticket, for the handlers' notification:
//! its category, constituencies and the tickets related by indicators.

use crate::mail::notify;
use crate::mail::parse::ParsedMail;
use crate::mail::subject::TagMatcher;
use crate::model::Flag;
use crate::pgp::Verification;
use crate::store::{Commit, Store, StoreError};
use std::collections::BTreeSet;

/// Indicators of the incoming message looked up for related tickets in a
/// notification: each is one index probe on the sequential commit path.
const RELATING_IN_NOTIFICATION: usize = 20;

/// What analysis says about the ticket, for the handlers' notification.
pub(crate) fn analysis_facts(
    store: &Store,
    commit: &Commit,
    tags: &TagMatcher,
) -> Result<notify::Analysis, StoreError> {
    let t = &commit.ticket;
    let category = t.classification.map(|c| match c.kind {
        Some(k) => format!("{}/{}", c.category.as_str(), k.as_str()),
        None => c.category.as_str().to_string(),
    });
    let indicators: Vec<_> = commit
        .messages
        .first()
        .map(|m| {
            m.record
                .indicators
                .iter()
                .take(RELATING_IN_NOTIFICATION)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let related = store
        .related(t.id, &indicators, notify::MAX_RELATED_SHOWN)?
        .into_iter()
        .map(|(id, shared)| (tags.tag_for(id), shared))
        .collect();
    Ok(notify::Analysis {
        category,
        constituencies: t.constituencies.clone(),
        related,
    })
}

/// The owned words of a handlers' notification (`TicketFacts` borrows
/// them): tag, subject, sender as shown, OpenPGP verdict, flags.
pub(super) struct FactWords {
    pub(super) tag: String,
    pub(super) subject: String,
    pub(super) from: String,
    pub(super) verdict: String,
    /// DKIM, SPF and DMARC in words (`auth::Authentication::in_words`).
    pub(super) sender_auth: String,
    pub(super) flags: BTreeSet<Flag>,
}

impl FactWords {
    pub(super) fn of(
        tags: &TagMatcher,
        commit: &Commit,
        mail: &ParsedMail,
        verification: Option<&Verification>,
    ) -> FactWords {
        FactWords {
            tag: tags.tag_for(commit.ticket.id),
            subject: commit.ticket.subject.clone(),
            from: mail
                .from_display
                .clone()
                .or_else(|| mail.single_from().map(str::to_string))
                .unwrap_or_else(|| "(no single From)".into()),
            verdict: verification
                .map(crate::pgp::crypto::summary)
                .unwrap_or_else(|| "not examined".into()),
            sender_auth: commit
                .messages
                .first()
                .and_then(|m| m.record.authentication.as_ref())
                .map(|a| a.in_words())
                .unwrap_or_else(|| crate::auth::Authentication::off().in_words()),
            flags: commit.ticket.flags.clone(),
        }
    }
}
