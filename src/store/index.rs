//! The correlation index: indicator → tickets, written in the same
//! transaction as the message that carried the indicator.
//!
//! Entries of two kinds (addresses and terms: the tree byte of a run's
//! entries, once two sled trees), both with the ticket key (6 bytes) at
//! the end of each entry and nothing in the value, so that one ticket
//! under one indicator is one entry and re-indexing is idempotent:
//!
//! - addresses: the 16-byte big-endian IPv6 form (IPv4 as `::ffff:a.b.c.d`),
//!   so that a CIDR query is one range scan;
//! - terms: a kind letter, the normalised value and a 0 byte; domains with
//!   their labels reversed (`com.example.www.`), so that a domain's
//!   subdomains are one prefix scan.
//!
//! The message's transaction writes its entries as one pending record
//! (`indicator_pending`, keyed by message sequence); merge steps sort them
//! into runs (runs.rs), and a search reads the records, the runs and the
//! two trees (where stores written before the runs keep their entries).

use super::*;
use crate::analysis::indicators::{parse_network, Indicator, Kind};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Tickets read per indicator when relating or searching: an indicator on
/// more tickets than this (a shared resolver, a big hoster) relates
/// everything and says nothing; the newest are kept.
pub const MAX_HITS_PER_INDICATOR: usize = 10_000;

/// Indicators of one ticket looked up when relating it to others.
pub const MAX_RELATING_INDICATORS: usize = 2_000;

/// An IP address as 16 bytes in network order; IPv4 mapped into IPv6.
pub fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// First and last 16-byte address of `net/len` (IPv4 in its mapped range).
pub fn ip_range(net: IpAddr, len: u8) -> ([u8; 16], [u8; 16]) {
    let (bits, len) = match net {
        IpAddr::V4(_) => (
            u128::from_be_bytes(ip_bytes(net)),
            96 + u32::from(len.min(32)),
        ),
        IpAddr::V6(a) => (u128::from(a), u32::from(len.min(128))),
    };
    let host = if len >= 128 { 0 } else { u128::MAX >> len };
    let first = bits & !host;
    ((first).to_be_bytes(), (first | host).to_be_bytes())
}

/// `www.example.com` → `com.example.www.`; the trailing dot makes
/// `com.example.` a prefix of its subdomains but not of `com.example2.`.
pub fn reversed_domain(d: &str) -> String {
    let mut s: String = d
        .trim_end_matches('.')
        .to_ascii_lowercase()
        .rsplit('.')
        .collect::<Vec<_>>()
        .join(".");
    s.push('.');
    s
}

/// The term-tree prefix of an indicator (everything before the ticket key),
/// or None for kinds kept in the address tree.
pub fn term_prefix(kind: Kind, value: &str) -> Option<Vec<u8>> {
    let (tag, v) = match kind {
        Kind::Ipv4 | Kind::Ipv6 => return None,
        Kind::Domain => (b'd', reversed_domain(value)),
        Kind::Cidr => (b'n', value.to_ascii_lowercase()),
        Kind::Url => (b'u', value.to_string()),
        Kind::Email => (b'e', value.to_ascii_lowercase()),
        Kind::Md5 | Kind::Sha1 | Kind::Sha256 => (b'h', value.to_ascii_lowercase()),
        Kind::Cve => (b'c', value.to_ascii_uppercase()),
        Kind::Asn => (b'a', value.to_ascii_uppercase()),
    };
    // A 0 byte would end the value early; such a value is not an indicator.
    if v.contains('\0') || v.len() > 2048 {
        return None;
    }
    let mut k = Vec::with_capacity(v.len() + 8);
    k.push(tag);
    k.extend_from_slice(v.as_bytes());
    Some(k)
}

/// The full key(s) of one indicator on one ticket: (tree, key).
pub(crate) fn entry(i: &Indicator, ticket: TicketId) -> Option<(usize, Vec<u8>)> {
    let tk = ticket.to_key();
    match i.kind {
        Kind::Ipv4 | Kind::Ipv6 => {
            let ip: IpAddr = i.value.parse().ok()?;
            let mut k = ip_bytes(ip).to_vec();
            k.extend_from_slice(&tk);
            Some((T_IND_IP, k))
        }
        kind => {
            let mut k = term_prefix(kind, &i.value)?;
            k.push(0);
            k.extend_from_slice(&tk);
            Some((T_IND_TERM, k))
        }
    }
}

/// Records a message's index entries inside the commit's transaction, as
/// one pending record that [`Store::merge_pending_index`] later spreads
/// into the two trees. sled reads every key it writes in a transaction, so
/// writing 20-60 entries there directly made the index most of the commit,
/// and commits are sequential; one record is one key, and the merge runs
/// beside the next commits. Searches read pending records too, so a
/// message is findable from the moment its transaction is.
pub(crate) fn index_tx(
    trees: &[sled::transaction::TransactionalTree],
    ticket: TicketId,
    message_seq: u64,
    indicators: &[Indicator],
) -> std::result::Result<(), sled::transaction::UnabortableTransactionError> {
    let entries = entries(ticket, indicators);
    if !entries.is_empty() {
        trees[T_IND_PENDING].insert(&message_seq.to_be_bytes(), encode_pending(&entries))?;
    }
    Ok(())
}

/// [`index_tx`] for a message shared by several tickets (a report group's
/// parts): each part's entries are added to the one record, where
/// `index_tx` would keep only the last part's.
pub(crate) fn index_tx_append(
    trees: &[sled::transaction::TransactionalTree],
    ticket: TicketId,
    message_seq: u64,
    indicators: &[Indicator],
) -> std::result::Result<(), sled::transaction::UnabortableTransactionError> {
    let entries = entries(ticket, indicators);
    if !entries.is_empty() {
        let key = message_seq.to_be_bytes();
        let mut record = trees[T_IND_PENDING]
            .get(key)?
            .map(|v| v.to_vec())
            .unwrap_or_default();
        record.extend_from_slice(&encode_pending(&entries));
        trees[T_IND_PENDING].insert(&key, record)?;
    }
    Ok(())
}

/// The index keys of a message's indicators: (tree, key).
fn entries(ticket: TicketId, indicators: &[Indicator]) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::with_capacity(indicators.len());
    for i in indicators {
        if let Some(e) = entry(i, ticket) {
            out.push(e);
        }
        // A CIDR is also kept under its first address, so that a search
        // for a containing range finds the ticket that named the range.
        if i.kind == Kind::Cidr {
            if let Some((net, _)) = parse_network(&i.value) {
                let mut k = ip_bytes(net).to_vec();
                k.extend_from_slice(&ticket.to_key());
                out.push((T_IND_IP, k));
            }
        }
    }
    out
}

/// One pending record: per entry a tree byte (0 addresses, 1 terms), a
/// big-endian u16 length and the key (the encoding of a run's blocks too).
fn encode_pending(entries: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(entries.iter().map(|(_, k)| k.len() + 3).sum());
    for (tree, key) in entries {
        super::runs::push_entry(&mut v, super::runs::tree_byte(*tree), key);
    }
    v
}

/// A pending record's indicator entries; the list's facet entries
/// (summary.rs) are not indicators and are left out.
fn decode_pending(v: &[u8]) -> Vec<(usize, &[u8])> {
    super::runs::decode_entries(v)
        .into_iter()
        .filter_map(|(t, k)| match t {
            0 => Some((T_IND_IP, k)),
            1 => Some((T_IND_TERM, k)),
            _ => None,
        })
        .collect()
}

/// What a search or relation looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// One address, or every address in a network.
    Network(IpAddr, u8),
    /// An exact indicator value of a kind kept in the term tree.
    Term(Kind, String),
    /// A domain and all its subdomains.
    DomainTree(String),
}

/// Where a probe's entries lie: an inclusive key range or a key prefix,
/// in one of the two trees.
pub(super) enum Span {
    Range(Vec<u8>, Vec<u8>),
    Prefix(Vec<u8>),
}

impl Span {
    fn of(probe: &Probe) -> Option<(usize, Span)> {
        match probe {
            Probe::Network(net, len) => {
                let (lo, hi) = ip_range(*net, *len);
                let mut end = hi.to_vec();
                end.extend_from_slice(&[0xff; 6]);
                Some((T_IND_IP, Span::Range(lo.to_vec(), end)))
            }
            Probe::Term(kind, value) => {
                let mut p = term_prefix(*kind, value)?;
                p.push(0);
                Some((T_IND_TERM, Span::Prefix(p)))
            }
            Probe::DomainTree(d) => Some((T_IND_TERM, Span::Prefix(term_prefix(Kind::Domain, d)?))),
        }
    }

    pub(super) fn contains(&self, key: &[u8]) -> bool {
        match self {
            Span::Range(lo, hi) => key >= lo.as_slice() && key <= hi.as_slice(),
            Span::Prefix(p) => key.starts_with(p),
        }
    }

    /// The smallest key the span can hold.
    pub(super) fn low(&self) -> &[u8] {
        match self {
            Span::Range(lo, _) => lo,
            Span::Prefix(p) => p,
        }
    }

    /// Whether `key`, and so every larger key, lies beyond the span.
    pub(super) fn past(&self, key: &[u8]) -> bool {
        match self {
            Span::Range(_, hi) => key > hi.as_slice(),
            Span::Prefix(p) => key > p.as_slice() && !key.starts_with(p),
        }
    }
}

/// The ticket an index entry names: the last 6 bytes of its key.
pub(super) fn ticket_of(key: &[u8]) -> Option<TicketId> {
    key.len()
        .checked_sub(6)
        .and_then(|at| TicketId::from_key(&key[at..]))
}

impl Store {
    /// Tickets matching a probe, newest first, at most `limit`.
    pub fn find(&self, probe: &Probe, limit: usize) -> Result<Vec<TicketId>> {
        let Some((tree, span)) = Span::of(probe) else {
            return Ok(Vec::new());
        };
        let mut hits: Vec<TicketId> = Vec::new();
        let bound = MAX_HITS_PER_INDICATOR.max(limit);
        // A merge step moves entries from the records to a run under the
        // other side of this lock: never seen in neither, nor missed.
        let _view = self.index_view.read().unwrap_or_else(|p| p.into_inner());
        self.find_in_runs(tree, &span, bound, &mut hits)?;
        let entries = match &span {
            Span::Range(lo, hi) => self.trees()[tree].range(lo.as_slice()..=hi.as_slice()),
            Span::Prefix(p) => self.trees()[tree].scan_prefix(p),
        };
        collect(entries, bound, &mut hits)?;
        self.find_pending(tree, &span, &mut hits)?;
        hits.sort_unstable_by(|a, b| b.cmp(a));
        hits.dedup();
        hits.truncate(limit);
        Ok(hits)
    }

    /// Probes the records not merged yet (a few batches' worth while the
    /// intake runs; more only after a crash or a burst of `csirtd ingest`).
    fn find_pending(&self, tree: usize, span: &Span, hits: &mut Vec<TicketId>) -> Result<()> {
        for item in self.trees()[T_IND_PENDING].iter() {
            let (_, v) = item?;
            for (t, key) in decode_pending(&v) {
                if t == tree && span.contains(key) {
                    hits.extend(ticket_of(key));
                }
            }
        }
        Ok(())
    }

    /// Records not merged yet.
    pub fn pending_index(&self) -> usize {
        self.trees()[T_IND_PENDING].len()
    }

    /// Tickets whose subject holds every word of `words` (lower case),
    /// newest first. A scan: subjects are not indexed.
    pub fn search_subjects(&self, words: &str, limit: usize) -> Result<Vec<TicketId>> {
        let words: Vec<&str> = words.split_whitespace().collect();
        let mut out = Vec::new();
        for item in self.trees()[T_TICKETS].iter().rev() {
            let (k, v) = item?;
            let t: super::TicketRecord = decode(&v, "ticket")?;
            let subject = t.subject.to_lowercase();
            if words.iter().all(|w| subject.contains(w)) {
                if let Some(id) = TicketId::from_key(&k) {
                    out.push(id);
                }
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Other tickets sharing indicators with `ticket`, each with the shared
    /// values, most shared first (then newest first).
    pub fn related<I: std::borrow::Borrow<Indicator>>(
        &self,
        ticket: TicketId,
        indicators: &[I],
        limit: usize,
    ) -> Result<Vec<(TicketId, Vec<String>)>> {
        let mut shared: BTreeMap<TicketId, Vec<String>> = BTreeMap::new();
        // A ticket of 50,000 CSV rows is related through its first
        // indicators as well as through all of them, and answers in time.
        for i in indicators.iter().take(MAX_RELATING_INDICATORS) {
            let i: &Indicator = i.borrow();
            let probe = match i.kind {
                Kind::Ipv4 | Kind::Ipv6 => match i.value.parse::<IpAddr>() {
                    Ok(ip) => Probe::Network(ip, if ip.is_ipv4() { 32 } else { 128 }),
                    Err(_) => continue,
                },
                kind => Probe::Term(kind, i.value.clone()),
            };
            for t in self.find(&probe, MAX_HITS_PER_INDICATOR)? {
                if t != ticket {
                    let values = shared.entry(t).or_default();
                    if !values.contains(&i.value) {
                        values.push(i.value.clone());
                    }
                }
            }
        }
        let mut out: Vec<_> = shared.into_iter().collect();
        out.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(b.0.cmp(&a.0)));
        out.truncate(limit);
        Ok(out)
    }
}

/// The tickets of index entries. Keys are in value order, not ticket order,
/// so newest first needs them all (bounded) before sorting.
fn collect(iter: sled::Iter, bound: usize, hits: &mut Vec<TicketId>) -> Result<()> {
    for key in iter.keys().take(bound) {
        hits.extend(ticket_of(&key?));
    }
    Ok(())
}

#[cfg(test)]
mod pending_tests {
    use super::*;
    use crate::workflow::test_support::pipeline;

    const WITH_IP: &[u8] = b"From: Bob <bob@isp.example>\r\nTo: cert@cert.example\r\nSubject: Scan\r\nMessage-ID: <s1@isp.example>\r\n\r\nScanning from 185.220.101.7 against www.evil-login.com\r\n";
    const DOMAIN_ONLY: &[u8] = b"From: Alice <alice@bank.example>\r\nTo: cert@cert.example\r\nSubject: Phishing\r\nMessage-ID: <p1@bank.example>\r\n\r\nSee https://evil-login.com/bank\r\n";

    #[test]
    fn a_ticket_is_found_before_and_after_its_index_record_is_merged() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline(dir.path());
        let now = time::OffsetDateTime::now_utc();
        let mut ids = Vec::new();
        for raw in [DOMAIN_ONLY, WITH_IP] {
            let prepared = p.prepare(raw);
            let done = p.commit_prepared(prepared, raw, "test", now).unwrap();
            ids.push(done.placement.ticket());
        }
        let store = p.store();
        assert_eq!(store.pending_index(), 2);
        let net = Probe::Network("185.220.101.0".parse().unwrap(), 24);
        let dom = Probe::DomainTree("evil-login.com".into());
        assert_eq!(store.find(&net, 10).unwrap(), vec![ids[1]]);
        assert_eq!(store.find(&dom, 10).unwrap(), vec![ids[1], ids[0]]);

        assert_eq!(store.merge_pending_index(1).unwrap(), 1);
        assert_eq!(store.merge_pending_index(10).unwrap(), 1);
        assert_eq!(store.pending_index(), 0);
        assert_eq!(store.find(&net, 10).unwrap(), vec![ids[1]]);
        assert_eq!(store.find(&dom, 10).unwrap(), vec![ids[1], ids[0]]);
        assert_eq!(store.merge_pending_index(10).unwrap(), 0);
    }

    #[test]
    fn pending_records_round_trip_and_truncated_ones_stop_cleanly() {
        let t = TicketId::new(2026, 9);
        let entries = vec![
            (T_IND_IP, vec![1u8; 22]),
            (T_IND_TERM, b"dcom.example.\0abcdef".to_vec()),
        ];
        let v = encode_pending(&entries);
        let back: Vec<(usize, Vec<u8>)> = decode_pending(&v)
            .into_iter()
            .map(|(t, k)| (t, k.to_vec()))
            .collect();
        assert_eq!(back, entries);
        assert_eq!(decode_pending(&v[..v.len() - 1]).len(), 1);
        assert!(decode_pending(&[1, 0xff]).is_empty());
        let _ = t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_ranges_are_mapped_and_inclusive() {
        let net: IpAddr = "192.0.2.0".parse().unwrap();
        let (lo, hi) = ip_range(net, 24);
        let inside = ip_bytes("192.0.2.7".parse().unwrap());
        let outside = ip_bytes("192.0.3.0".parse().unwrap());
        assert!(lo <= inside && inside <= hi);
        assert!(outside > hi);
        assert_eq!(ip_range(net, 32).0, ip_bytes(net));
        assert_eq!(ip_range(net, 32).0, ip_range(net, 32).1);
        let v6: IpAddr = "2001:db8::".parse().unwrap();
        let (lo, hi) = ip_range(v6, 32);
        let a = ip_bytes("2001:db8:ffff::1".parse().unwrap());
        assert!(lo <= a && a <= hi);
        assert!(ip_bytes("2001:db9::".parse().unwrap()) > hi);
    }

    #[test]
    fn domains_are_reversed_so_subdomains_share_a_prefix() {
        assert_eq!(reversed_domain("www.Example.com"), "com.example.www.");
        let parent = reversed_domain("example.com");
        assert!(reversed_domain("a.b.example.com").starts_with(&parent));
        assert!(!reversed_domain("example.community").starts_with(&parent));
        assert!(!reversed_domain("badexample.com").starts_with(&parent));
    }

    #[test]
    fn terms_are_namespaced_by_kind() {
        let h = term_prefix(Kind::Md5, "ABC").unwrap();
        let u = term_prefix(Kind::Url, "ABC").unwrap();
        assert_ne!(h, u);
        assert_eq!(term_prefix(Kind::Ipv4, "192.0.2.1"), None);
        assert_eq!(term_prefix(Kind::Url, "a\0b"), None);
    }
}
