//! Our outgoing Message-IDs name the ticket, so a reply threads even when
//! the reporter's client dropped the tag and the References header is all
//! that is left.

use crate::model::TicketId;
use rand::Rng;
use regex::Regex;

#[derive(Debug, Clone)]
pub struct MessageIds {
    prefix: String,
    domain: String,
    pattern: Regex,
}

impl MessageIds {
    pub fn new(tag: &str, domain: &str) -> MessageIds {
        let prefix = tag.to_ascii_lowercase();
        let pattern = format!(
            r"(?i)^{}\.(\d{{4}})-(\d{{1,9}})\.[a-z]+\.[0-9a-f]{{8,32}}@{}$",
            regex::escape(&prefix),
            regex::escape(domain)
        );
        MessageIds {
            prefix,
            domain: domain.to_ascii_lowercase(),
            pattern: Regex::new(&pattern).expect("built from escaped parts"),
        }
    }

    /// A fresh Message-ID (without angle brackets) for mail about `ticket`.
    pub fn generate(&self, ticket: TicketId, kind: &str) -> String {
        let nonce: u64 = rand::thread_rng().gen();
        format!(
            "{}.{ticket}.{kind}.{nonce:016x}@{}",
            self.prefix, self.domain
        )
    }

    /// The ticket named by one of our own Message-IDs.
    pub fn ticket_of(&self, message_id: &str) -> Option<TicketId> {
        let c = self.pattern.captures(message_id)?;
        let year = c.get(1)?.as_str().parse().ok()?;
        let seq = c.get(2)?.as_str().parse().ok()?;
        (seq > 0).then(|| TicketId::new(year, seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_decode_to_their_ticket() {
        let ids = MessageIds::new("CERT-EX", "cert.example");
        let t = TicketId::new(2026, 42);
        let a = ids.generate(t, "ack");
        let b = ids.generate(t, "ack");
        assert_ne!(a, b);
        assert!(a.starts_with("cert-ex.2026-00042.ack."), "{a}");
        assert!(a.ends_with("@cert.example"));
        assert_eq!(ids.ticket_of(&a), Some(t));
        assert_eq!(ids.ticket_of(&a.to_uppercase()), Some(t));
    }

    #[test]
    fn foreign_ids_do_not_decode() {
        let ids = MessageIds::new("CERT-EX", "cert.example");
        assert_eq!(
            ids.ticket_of("cert-ex.2026-00042.ack.0123456789abcdef@evil.example"),
            None
        );
        assert_eq!(
            ids.ticket_of("cert-ot.2026-00042.ack.0123456789abcdef@cert.example"),
            None
        );
        assert_eq!(ids.ticket_of("random@cert.example"), None);
        assert_eq!(
            ids.ticket_of("cert-ex.2026-00000.ack.0123456789abcdef@cert.example"),
            None
        );
    }
}
