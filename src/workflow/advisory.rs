//! Advisories to notification lists: who gets which copy, and the words
//! around the text. Pure; `publish.rs` signs, encrypts and commits.

use super::commands::Tlp;
use crate::config::{EncryptPolicy, ListConfig, MemberConfig};
use crate::model::TicketId;
use crate::store::advisory::Delivery;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no list named `{0}` in [[lists]]")]
    UnknownList(String),
    #[error("{tlp} may not go to list `{list}`: it allows at most {max}")]
    TlpTooHigh { list: String, tlp: Tlp, max: Tlp },
    #[error("the advisory text is empty")]
    EmptyText,
    #[error("the subject is empty")]
    EmptySubject,
    #[error("the subject is not signed: write `/subject TEXT` at the top (the Subject header is not covered by your signature), or use a client that protects headers")]
    UnsignedSubject,
}

/// Each recipient with how they get it. TLP above the list's maximum is
/// refused before anything is built.
pub fn recipients(
    list: &ListConfig,
    tlp: Tlp,
    has_key: impl Fn(&MemberConfig) -> bool,
) -> Result<Vec<(String, Delivery)>, Refusal> {
    if tlp > list.max_tlp {
        return Err(Refusal::TlpTooHigh {
            list: list.name.clone(),
            tlp,
            max: list.max_tlp,
        });
    }
    if let Some(a) = &list.address {
        let d = if list.clearsign {
            Delivery::Clearsigned
        } else {
            Delivery::Signed
        };
        return Ok(vec![(a.clone(), d)]);
    }
    Ok(list
        .members
        .iter()
        .map(|m| {
            let key = list.encrypt != EncryptPolicy::Never && has_key(m);
            let d = match (key, list.encrypt) {
                (true, _) => Delivery::Encrypted,
                (false, EncryptPolicy::Always) => Delivery::NoticeOnly,
                (false, _) => Delivery::Signed,
            };
            (crate::model::normalize_address(&m.email), d)
        })
        .collect())
}

/// The copies an advisory is built as, each the recipients (indexes into
/// `recipients`) it goes to. An encrypted copy is for its member alone
/// (encrypted to that key), and so is every copy when `per_copy` is 1.
/// Members who get the same bytes (signed, or the key-needed notice)
/// share copies of up to `per_copy`, in order of their domains, so that
/// one transaction's recipients sit behind as few servers as possible.
pub fn copies(recipients: &[(String, Delivery)], per_copy: usize) -> Vec<Vec<usize>> {
    let per_copy = per_copy.max(1);
    let mut out = Vec::new();
    let mut shared: Vec<Vec<usize>> = Vec::new();
    for (i, (_, d)) in recipients.iter().enumerate() {
        match d {
            Delivery::Signed | Delivery::NoticeOnly if per_copy > 1 => {
                let group = usize::from(*d == Delivery::NoticeOnly);
                if shared.len() <= group {
                    shared.resize(group + 1, Vec::new());
                }
                shared[group].push(i);
            }
            _ => out.push(vec![i]),
        }
    }
    for mut group in shared {
        group.sort_by_key(|&i| domain(&recipients[i].0));
        out.extend(group.chunks(per_copy).map(<[usize]>::to_vec));
    }
    out
}

fn domain(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// The To header's group name of a copy shared by several members.
pub fn group_name(tag: &str, list: &str) -> String {
    format!("{} list {list}", tag.to_ascii_uppercase())
}

/// `CERT-EX-ADV-2026-0001`
pub fn advisory_id(tag: &str, year: u16, seq: u32) -> String {
    format!("{}-ADV-{year:04}-{seq:04}", tag.to_ascii_uppercase())
}

pub fn subject_line(tlp: Tlp, id: &str, subject: &str) -> String {
    format!("[{tlp}] {id}: {subject}")
}

/// FIRST's TLP 2.0 definitions, shortened.
pub fn tlp_meaning(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "Disclosure is not limited.",
        Tlp::Green => "Limited disclosure: recipients may share this within their community, not publicly.",
        Tlp::Amber => "Limited disclosure: recipients may share this on a need-to-know basis within their organisation and its clients only.",
        Tlp::AmberStrict => "Limited disclosure: recipients may share this on a need-to-know basis within their organisation only.",
        Tlp::Red => "For the eyes and ears of the individual recipients only; no further disclosure.",
    }
}

pub struct Words<'a> {
    pub id: &'a str,
    pub tlp: Tlp,
    pub subject: &'a str,
    pub text: &'a str,
    pub ticket_tag: Option<String>,
    pub team_name: &'a str,
    pub team_address: &'a str,
}

pub fn body(w: &Words<'_>) -> String {
    let mut s = format!(
        "{}\n{}\n\n{}: {}\n",
        w.tlp,
        tlp_meaning(w.tlp),
        w.id,
        w.subject
    );
    if let Some(t) = &w.ticket_tag {
        s.push_str(&format!("Related ticket: {t}\n"));
    }
    s.push('\n');
    s.push_str(w.text.trim_end());
    s.push_str(&format!(
        "\n\n{}\n-- \n{} <{}>\n",
        w.tlp, w.team_name, w.team_address
    ));
    s
}

/// What a member of an `encrypt = "always"` list without a key gets.
pub fn notice_body(w: &Words<'_>, list: &str) -> String {
    format!(
        "{id} ({tlp}) was sent to the list {list}.\n\n\
         This list is encrypted, and we have no OpenPGP key for your address,\n\
         so the advisory itself was not sent to you. Please send your public\n\
         key to {addr} to receive advisories.\n\n-- \n{name} <{addr}>\n",
        id = w.id,
        tlp = w.tlp,
        addr = w.team_address,
        name = w.team_name,
    )
}

/// RFC 2919 / 2369 / 3834 headers of a list copy.
pub fn list_headers(list: &ListConfig, domain: &str) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("List-Id", list.list_id(domain)),
        ("Precedence", list.precedence.as_str().to_string()),
        ("Auto-Submitted", "auto-generated".to_string()),
    ];
    if let Some(u) = &list.unsubscribe {
        v.push((
            "List-Unsubscribe",
            format!("<mailto:{u}?subject=unsubscribe>"),
        ));
    }
    v
}

/// A Message-ID for one copy: names the advisory, never a ticket (our
/// ticket Message-ID pattern does not match it).
pub fn message_id(tag: &str, id: &str, n: usize, domain: &str) -> String {
    let nonce: u64 = rand::random();
    format!(
        "{}.{}.{n}.{nonce:016x}@{domain}",
        tag.to_ascii_lowercase(),
        id.to_ascii_lowercase()
    )
}

pub fn related(ticket: Option<TicketId>, tag: &str) -> Option<String> {
    ticket.map(|t| t.tag(tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Precedence;

    fn list(encrypt: EncryptPolicy, max: Tlp) -> ListConfig {
        ListConfig {
            name: "banks".into(),
            address: None,
            members: vec![
                MemberConfig {
                    email: "keyed@bank.example".into(),
                    fingerprint: None,
                },
                MemberConfig {
                    email: "plain@bank.example".into(),
                    fingerprint: None,
                },
            ],
            max_tlp: max,
            encrypt,
            clearsign: false,
            precedence: Precedence::List,
            unsubscribe: Some("cert-lists@cert.example".into()),
            recipients_per_copy: 100,
        }
    }

    #[test]
    fn members_with_the_same_bytes_share_copies_by_domain() {
        let r = |a: &str, d| (a.to_string(), d);
        let rs = vec![
            r("a@z.example", Delivery::Signed),
            r("k@bank.example", Delivery::Encrypted),
            r("b@a.example", Delivery::Signed),
            r("n@a.example", Delivery::NoticeOnly),
            r("c@z.example", Delivery::Signed),
            r("d@a.example", Delivery::Signed),
            r("o@b.example", Delivery::NoticeOnly),
        ];
        assert_eq!(
            copies(&rs, 100),
            vec![vec![1], vec![2, 5, 0, 4], vec![3, 6]],
            "encrypted alone; signed and notices apart, by domain"
        );
        assert_eq!(
            copies(&rs, 3),
            vec![vec![1], vec![2, 5, 0], vec![4], vec![3, 6]]
        );
        assert_eq!(
            copies(&rs, 1),
            (0..rs.len()).map(|i| vec![i]).collect::<Vec<_>>(),
            "one copy each, in member order"
        );
        assert!(copies(&[], 100).is_empty());
        // 5,000 members without keys: 50 transactions of 100.
        let many: Vec<_> = (0..5000)
            .map(|i| (format!("m{i}@d{}.example", i % 7), Delivery::Signed))
            .collect();
        let c = copies(&many, 100);
        assert_eq!(c.len(), 50);
        assert!(c.iter().all(|g| g.len() == 100));
        let mut all: Vec<usize> = c.concat();
        all.sort_unstable();
        assert_eq!(all, (0..5000).collect::<Vec<_>>(), "everyone exactly once");
    }

    fn has(m: &MemberConfig) -> bool {
        m.email.starts_with("keyed")
    }

    #[test]
    fn members_get_encrypted_signed_or_notice_copies() {
        let r = recipients(&list(EncryptPolicy::IfKey, Tlp::Amber), Tlp::Amber, has).unwrap();
        assert_eq!(r[0].1, Delivery::Encrypted);
        assert_eq!(r[1].1, Delivery::Signed);
        let r = recipients(&list(EncryptPolicy::Always, Tlp::Red), Tlp::Red, has).unwrap();
        assert_eq!(r[1].1, Delivery::NoticeOnly);
        let r = recipients(&list(EncryptPolicy::Never, Tlp::Red), Tlp::Green, has).unwrap();
        assert!(r.iter().all(|(_, d)| *d == Delivery::Signed));
    }

    #[test]
    fn red_never_goes_to_a_list_that_does_not_allow_it() {
        let e = recipients(
            &list(EncryptPolicy::Always, Tlp::AmberStrict),
            Tlp::Red,
            has,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("TLP:RED may not go to list `banks`"),
            "{e}"
        );
        assert!(recipients(
            &list(EncryptPolicy::Always, Tlp::AmberStrict),
            Tlp::AmberStrict,
            has
        )
        .is_ok());
    }

    #[test]
    fn a_list_address_gets_one_clearsigned_copy() {
        let mut l = list(EncryptPolicy::Never, Tlp::Green);
        l.members.clear();
        l.address = Some("announce@lists.cert.example".into());
        l.clearsign = true;
        assert_eq!(
            recipients(&l, Tlp::Clear, has).unwrap(),
            vec![("announce@lists.cert.example".into(), Delivery::Clearsigned)]
        );
    }

    #[test]
    fn ids_subjects_and_headers() {
        let id = advisory_id("CERT-EX", 2026, 1);
        assert_eq!(id, "CERT-EX-ADV-2026-0001");
        assert_eq!(
            subject_line(Tlp::Amber, &id, "Exim RCE"),
            "[TLP:AMBER] CERT-EX-ADV-2026-0001: Exim RCE"
        );
        let h = list_headers(&list(EncryptPolicy::IfKey, Tlp::Red), "cert.example");
        assert!(h.contains(&("List-Id", "<banks.cert.example>".into())));
        assert!(h.contains(&("Precedence", "list".into())));
        assert!(
            h.iter()
                .any(|(k, v)| *k == "List-Unsubscribe"
                    && v.contains("mailto:cert-lists@cert.example"))
        );
        let ids = crate::mail::msgid::MessageIds::new("CERT-EX", "cert.example");
        assert_eq!(
            ids.ticket_of(&message_id("CERT-EX", &id, 3, "cert.example")),
            None
        );
        let b = body(&Words {
            id: &id,
            tlp: Tlp::Amber,
            subject: "x",
            text: "text",
            ticket_tag: None,
            team_name: "T",
            team_address: "t@x.example",
        });
        assert!(b.starts_with("TLP:AMBER\n"));
    }
}

/// What a handler's mail to the advisory address asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRequest {
    pub list: String,
    pub tlp: Tlp,
    pub ticket: Option<TicketId>,
    /// `/subject TEXT`: the subject from the signed text.
    pub subject: Option<String>,
    pub text: String,
}

/// Reads `/list NAME`, `/tlp LEVEL` and optionally `/ticket ID` from the
/// top lines of a handler's advisory mail; the rest is the advisory.
pub fn parse_mail(text: &str) -> Result<MailRequest, Vec<super::commands::CommandError>> {
    use super::commands::CommandError;
    let (mut list, mut tlp, mut ticket, mut subject) = (None, None, None, None);
    let mut errors = Vec::new();
    let mut consumed = 0;
    for raw in text.split_inclusive('\n') {
        let t = raw.trim();
        if !t.is_empty() && !t.starts_with('/') {
            break;
        }
        consumed += raw.len();
        if t.is_empty() {
            continue;
        }
        let mut w = t.split_whitespace();
        let verb = w.next().unwrap_or("").to_ascii_lowercase();
        let arg = w.collect::<Vec<_>>().join(" ");
        let bad = |reason: String| CommandError {
            line: t.chars().take(200).collect(),
            reason,
        };
        match verb.as_str() {
            "/list" if !arg.is_empty() => list = Some(arg),
            "/subject" if !arg.is_empty() => subject = Some(arg),
            "/tlp" => match Tlp::parse(&arg) {
                Some(l) => tlp = Some(l),
                None => errors.push(bad(format!(
                    "unknown TLP label `{arg}`; use clear, green, amber, amber+strict or red"
                ))),
            },
            "/ticket" => match arg.parse::<TicketId>() {
                Ok(id) => ticket = Some(id),
                Err(e) => errors.push(bad(e.to_string())),
            },
            _ => errors.push(bad(
                "an advisory mail starts with /list NAME, /tlp LEVEL and /subject TEXT (and optionally /ticket ID)"
                    .into(),
            )),
        }
    }
    let missing = |what: &str| CommandError {
        line: String::new(),
        reason: format!("{what} is missing"),
    };
    if list.is_none() {
        errors.push(missing("/list NAME"));
    }
    if tlp.is_none() {
        errors.push(missing("/tlp LEVEL"));
    }
    let rest = text.get(consumed..).unwrap_or("").trim().to_string();
    if rest.is_empty() {
        errors.push(missing("the advisory text"));
    }
    match (list, tlp) {
        (Some(list), Some(tlp)) if errors.is_empty() => Ok(MailRequest {
            list,
            tlp,
            ticket,
            subject,
            text: rest,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod mail_tests {
    use super::*;

    #[test]
    fn an_advisory_mail_names_list_and_tlp_first() {
        let r = parse_mail("/list banks\n/tlp AMBER\n/ticket 2026-00004\n\nPatch now.\n").unwrap();
        assert_eq!(r.list, "banks");
        assert_eq!(r.tlp, Tlp::Amber);
        assert_eq!(r.ticket, Some(TicketId::new(2026, 4)));
        assert_eq!(r.text, "Patch now.");
        let e = parse_mail("/tlp purple\nPatch now.\n").unwrap_err();
        assert!(e.iter().any(|e| e.reason.contains("purple")));
        assert!(e.iter().any(|e| e.reason.contains("/list NAME")));
        assert!(parse_mail("/list a\n/tlp red\n").is_err(), "no text");
    }
}
