//! Whether a machine report comes from a feed the team trusts. Pure: the
//! pipeline gathers the proofs (DKIM results, the OpenPGP verdict) and acts
//! on the answer. A report from anyone else is still parsed and kept, but
//! is never grouped into constituency tickets and never notifies anyone
//! outside the team: its rows are the sender's words, and the team key
//! would otherwise sign them to a constituent.

use crate::config::{FeedConfig, FeedNotify, ReportFormat};
use crate::workflow::commands::Tlp;

/// What the message proves about its sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proofs {
    /// The `d=` domains of DKIM signatures that verified (lower case).
    pub dkim_pass: Vec<String>,
    /// The fingerprint (upper-case hex) behind a `good` OpenPGP verdict.
    pub pgp_signer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedStatus {
    /// Not a machine report: nothing to decide.
    NotMachine,
    /// A declared feed that proved itself.
    Trusted {
        feed: String,
        notify: FeedNotify,
        /// How, in words: "DKIM pass for shadowserver.org".
        proof: String,
    },
    /// A machine report nobody trusted vouches for; `reason` says why.
    Unauthenticated { reason: String },
}

impl FeedStatus {
    pub fn is_trusted(&self) -> bool {
        matches!(self, FeedStatus::Trusted { .. })
    }
}

/// Whether a report's notifications to constituents may go out: composed
/// and queued, composed and kept for a handler's release, or not composed
/// at all. The reason is recorded on the ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Send,
    Hold(String),
    Skip(String),
}

/// What may be sent for a report from `feed` whose ticket is at `tlp`
/// (FIRST TLP 2.0): nothing for an unauthenticated machine report or a
/// feed that says never; held for release at AMBER+STRICT and RED, or when
/// the feed says hold. AMBER goes only to the constituency's own contact,
/// which is all a notification ever addresses, with only its own
/// indicators.
pub fn gate(feed: &FeedStatus, tlp: Option<Tlp>) -> Gate {
    match feed {
        FeedStatus::Unauthenticated { reason } => {
            return Gate::Skip(format!("machine report from no trusted feed ({reason})"))
        }
        FeedStatus::Trusted {
            feed,
            notify: FeedNotify::Never,
            ..
        } => return Gate::Skip(format!("feed {feed} is set to notify = \"never\"")),
        _ => {}
    }
    if let Some(t @ (Tlp::AmberStrict | Tlp::Red)) = tlp {
        return Gate::Hold(format!("the ticket is {t}"));
    }
    match feed {
        FeedStatus::Trusted {
            feed,
            notify: FeedNotify::Hold,
            ..
        } => Gate::Hold(format!("feed {feed} is set to notify = \"hold\"")),
        _ => Gate::Send,
    }
}

/// `domain` is `parent` or one of its subdomains (both lower case).
fn within(domain: &str, parent: &str) -> bool {
    let domain = domain.trim_end_matches('.');
    let parent = parent.trim_end_matches('.');
    domain == parent
        || (domain.len() > parent.len()
            && domain.ends_with(parent)
            && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.')
}

fn sender_matches(feed: &FeedConfig, from: &str) -> bool {
    let want = feed.sender_lower();
    if want.contains('@') {
        from == want
    } else {
        from.rsplit_once('@')
            .is_some_and(|(_, domain)| within(domain, &want))
    }
}

/// The feed that vouches for a report in `formats` from `from` (the
/// single From address), or why none does.
pub fn judge(
    formats: &[ReportFormat],
    from: Option<&str>,
    proofs: &Proofs,
    feeds: &[FeedConfig],
) -> FeedStatus {
    if formats.is_empty() {
        return FeedStatus::NotMachine;
    }
    let named: Vec<&str> = formats.iter().map(|f| f.as_str()).collect();
    let Some(from) = from.map(|f| f.trim().to_ascii_lowercase()) else {
        return FeedStatus::Unauthenticated {
            reason: format!("{} report without a single From address", named.join("/")),
        };
    };
    let mut why = Vec::new();
    for feed in feeds.iter().filter(|f| sender_matches(f, &from)) {
        if let Some(other) = formats.iter().find(|f| !feed.formats.contains(f)) {
            why.push(format!("feed {} does not send {other} reports", feed.name));
            continue;
        }
        if let Some(d) = &feed.dkim_domain {
            let d = d.trim_start_matches('@').to_ascii_lowercase();
            if proofs.dkim_pass.iter().any(|p| within(p, &d)) {
                return FeedStatus::Trusted {
                    feed: feed.name.clone(),
                    notify: feed.notify,
                    proof: format!("DKIM pass for {d}"),
                };
            }
            why.push(format!("feed {}: no DKIM pass for {d}", feed.name));
        }
        if let Some(fp) = feed.fingerprint_hex() {
            if proofs.pgp_signer.as_deref() == Some(fp.as_str()) {
                return FeedStatus::Trusted {
                    feed: feed.name.clone(),
                    notify: feed.notify,
                    proof: format!("good OpenPGP signature by {fp}"),
                };
            }
            why.push(format!(
                "feed {}: no good OpenPGP signature by {fp}",
                feed.name
            ));
        }
    }
    let reason = if why.is_empty() {
        format!(
            "{} report from {}, which is no declared feed ([[feeds]])",
            named.join("/"),
            crate::mail::display::clean(&from)
        )
    } else {
        why.join("; ")
    };
    FeedStatus::Unauthenticated { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(sender: &str, dkim: Option<&str>, fp: Option<&str>) -> FeedConfig {
        FeedConfig {
            name: "shadowserver".into(),
            sender: sender.into(),
            dkim_domain: dkim.map(Into::into),
            pgp_fingerprint: fp.map(Into::into),
            formats: vec![ReportFormat::Shadowserver],
            notify: FeedNotify::Auto,
        }
    }

    const SS: &[ReportFormat] = &[ReportFormat::Shadowserver];

    fn dkim(d: &str) -> Proofs {
        Proofs {
            dkim_pass: vec![d.into()],
            pgp_signer: None,
        }
    }

    #[test]
    fn a_declared_feed_with_its_dkim_pass_is_trusted() {
        let feeds = [feed("shadowserver.org", Some("shadowserver.org"), None)];
        let s = judge(
            SS,
            Some("autoreports@shadowserver.org"),
            &dkim("shadowserver.org"),
            &feeds,
        );
        assert!(s.is_trusted(), "{s:?}");
        // A subdomain signs for its parent's feed.
        let s = judge(
            SS,
            Some("x@mail.shadowserver.org"),
            &dkim("mail.shadowserver.org"),
            &feeds,
        );
        assert!(s.is_trusted(), "{s:?}");
        assert_eq!(
            judge(&[], Some("a@b.example"), &Proofs::default(), &feeds),
            FeedStatus::NotMachine
        );
    }

    #[test]
    fn the_attackers_tries_are_unauthenticated() {
        let feeds = [feed("shadowserver.org", Some("shadowserver.org"), None)];
        let from = Some("autoreports@shadowserver.org");
        // An outsider with a CSV named like Shadowserver's.
        let s = judge(SS, Some("eve@evil.example"), &dkim("evil.example"), &feeds);
        assert!(
            matches!(&s, FeedStatus::Unauthenticated { reason } if reason.contains("no declared feed")),
            "{s:?}"
        );
        // The feed's address, forged: no DKIM pass, or a pass for another domain.
        for p in [
            Proofs::default(),
            dkim("evil.example"),
            dkim("notshadowserver.org"),
            dkim("shadowserver.org.evil.example"),
        ] {
            let s = judge(SS, from, &p, &feeds);
            assert!(!s.is_trusted(), "{p:?}: {s:?}");
        }
        // A look-alike sender domain.
        assert!(!judge(
            SS,
            Some("a@evilshadowserver.org"),
            &dkim("shadowserver.org"),
            &feeds
        )
        .is_trusted());
        // A format the feed does not send.
        let s = judge(
            &[ReportFormat::Arf],
            from,
            &dkim("shadowserver.org"),
            &feeds,
        );
        assert!(
            matches!(&s, FeedStatus::Unauthenticated { reason } if reason.contains("does not send arf")),
            "{s:?}"
        );
        // No single sender.
        assert!(!judge(SS, None, &dkim("shadowserver.org"), &feeds).is_trusted());
    }

    #[test]
    fn the_gate_follows_the_feed_and_the_tlp() {
        let trusted = |notify| FeedStatus::Trusted {
            feed: "ss".into(),
            notify,
            proof: String::new(),
        };
        let untrusted = FeedStatus::Unauthenticated { reason: "x".into() };
        assert_eq!(gate(&FeedStatus::NotMachine, None), Gate::Send);
        assert_eq!(
            gate(&trusted(FeedNotify::Auto), Some(Tlp::Amber)),
            Gate::Send
        );
        assert_eq!(gate(&FeedStatus::NotMachine, Some(Tlp::Green)), Gate::Send);
        for t in [Tlp::AmberStrict, Tlp::Red] {
            assert!(matches!(
                gate(&FeedStatus::NotMachine, Some(t)),
                Gate::Hold(_)
            ));
            assert!(matches!(
                gate(&trusted(FeedNotify::Auto), Some(t)),
                Gate::Hold(_)
            ));
            // Nothing at all beats held.
            assert!(matches!(gate(&untrusted, Some(t)), Gate::Skip(_)));
        }
        assert!(matches!(
            gate(&trusted(FeedNotify::Hold), None),
            Gate::Hold(_)
        ));
        assert!(matches!(
            gate(&trusted(FeedNotify::Never), None),
            Gate::Skip(_)
        ));
        assert!(matches!(gate(&untrusted, None), Gate::Skip(_)));
    }

    #[test]
    fn an_openpgp_feed_needs_its_own_key() {
        let fp = "0123456789ABCDEF0123456789ABCDEF01234567";
        let feeds = [feed(
            "reports@partner.example",
            None,
            Some("0123 4567 89ab cdef 0123 4567 89ab cdef 0123 4567"),
        )];
        let good = Proofs {
            dkim_pass: vec![],
            pgp_signer: Some(fp.into()),
        };
        assert!(judge(SS, Some("Reports@Partner.example"), &good, &feeds).is_trusted());
        // The exact address: another mailbox of the domain is not the feed.
        assert!(!judge(SS, Some("eve@partner.example"), &good, &feeds).is_trusted());
        let other = Proofs {
            dkim_pass: vec!["partner.example".into()],
            pgp_signer: Some("F".repeat(40)),
        };
        assert!(!judge(SS, Some("reports@partner.example"), &other, &feeds).is_trusted());
    }
}
