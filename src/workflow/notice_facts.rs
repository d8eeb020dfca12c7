//! What analysis says about a ticket, for the handlers' notification:
//! its category, constituencies and the tickets related by indicators.

use crate::mail::notify;
use crate::mail::subject::TagMatcher;
use crate::store::{Commit, Store, StoreError};

/// Indicators of the incoming message looked up for related tickets in a
/// notification: each is one index probe on the sequential commit path.
const RELATING_IN_NOTIFICATION: usize = 20;

/// What analysis says about the ticket, for the handlers' notification.
pub(super) fn analysis_facts(
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
