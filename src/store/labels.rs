//! Setting a ticket's RSIT classification by hand (a handler's `/category`
//! or an operator), recorded as an event.

use super::*;
use crate::analysis::classify::{Category, Classification, ClassifiedBy, IncidentType};

impl Store {
    /// Sets the classification; returns the previous one. A handler's
    /// choice is never overwritten by later reports.
    pub fn set_classification(
        &self,
        id: TicketId,
        category: Category,
        kind: Option<IncidentType>,
        now: OffsetDateTime,
        by: &str,
    ) -> Result<Option<Classification>> {
        let _writer = self.write_guard();
        let Some(mut ticket) = self.ticket(id)? else {
            return Err(StoreError::Conflict(format!("ticket {id} does not exist")));
        };
        let old = ticket.classification;
        ticket.classification = Some(Classification {
            category,
            kind,
            by: ClassifiedBy::Handler,
        });
        ticket.updated_at = now;
        let shown = match kind {
            Some(k) => format!("{category}/{k}"),
            None => category.to_string(),
        };
        let event = Event::new(
            now,
            crate::model::EventKind::Classified,
            format!("category {shown} by {by}"),
        );
        self.apply(&Commit::events_only(ticket, vec![event]), now)?;
        self.flush()?;
        Ok(old)
    }
}
