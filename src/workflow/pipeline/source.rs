//! A source's ticket defaults (`label`, `constituency`, `category` of a
//! Maildir or IMAP account) on the ticket its message opens.

use crate::analysis::classify::{parse_category, Classification, ClassifiedBy};
use crate::config::SourceDefaults;
use crate::store::TicketRecord;

/// Applies `defaults` to a new ticket; what was applied, in words.
///
/// A structured report's own field (an ARF feedback type, a Shadowserver
/// report type) says more than the mailbox it came to, so it stays; the
/// mailbox beats a keyword rule, because routing a mailbox is the team's
/// own deliberate choice. A default constituency is added after those the
/// report's indicators fall into.
pub(super) fn apply(ticket: &mut TicketRecord, defaults: &SourceDefaults) -> Vec<String> {
    let mut applied = Vec::new();
    if let Some(c) = &defaults.category {
        let overridable = ticket
            .classification
            .is_none_or(|c| c.by == ClassifiedBy::Rule);
        // Checked at load; an unreadable one is left out rather than guessed.
        if let (true, Ok((category, kind))) = (overridable, parse_category(c)) {
            ticket.classification = Some(Classification {
                category,
                kind,
                by: ClassifiedBy::Source,
            });
            applied.push(format!("category {}", c.trim()));
        }
    }
    if let Some(c) = &defaults.constituency {
        let c = c.trim().to_string();
        if !ticket.constituencies.contains(&c) {
            applied.push(format!("constituency {c}"));
            ticket.constituencies.push(c);
        }
    }
    if let Some(l) = &defaults.label {
        let l = l.trim().to_string();
        if !ticket.labels.contains(&l) {
            applied.push(format!("label {l}"));
            ticket.labels.push(l);
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::classify::{Category, IncidentType};
    use crate::model::TicketId;

    fn ticket() -> TicketRecord {
        TicketRecord::new(
            TicketId { year: 2026, seq: 1 },
            "s".into(),
            vec![],
            time::OffsetDateTime::UNIX_EPOCH,
        )
    }

    fn defaults() -> SourceDefaults {
        SourceDefaults {
            label: Some("phish-desk".into()),
            constituency: Some("university".into()),
            category: Some("fraud/phishing".into()),
        }
    }

    #[test]
    fn a_new_ticket_takes_the_sources_defaults() {
        let mut t = ticket();
        let applied = apply(&mut t, &defaults());
        assert_eq!(applied.len(), 3);
        let c = t.classification.unwrap();
        assert_eq!(c.category, Category::Fraud);
        assert_eq!(c.kind, Some(IncidentType::Phishing));
        assert_eq!(c.by, ClassifiedBy::Source);
        assert_eq!(t.constituencies, vec!["university".to_string()]);
        assert_eq!(t.labels, vec!["phish-desk".to_string()]);
    }

    #[test]
    fn a_structured_classification_stays_and_found_constituencies_come_first() {
        let mut t = ticket();
        let structured = Classification {
            category: Category::Vulnerable,
            kind: None,
            by: ClassifiedBy::Structured,
        };
        t.classification = Some(structured);
        t.constituencies = vec!["hospital".into()];
        apply(&mut t, &defaults());
        assert_eq!(t.classification, Some(structured));
        assert_eq!(
            t.constituencies,
            vec!["hospital".to_string(), "university".into()]
        );
        // A rule's guess gives way.
        t.classification = Some(Classification {
            by: ClassifiedBy::Rule,
            ..structured
        });
        apply(&mut t, &defaults());
        assert_eq!(t.classification.unwrap().by, ClassifiedBy::Source);
        assert_eq!(t.labels.len(), 1, "not twice");
    }
}
