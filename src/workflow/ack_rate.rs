//! How many acknowledgements one address got within the rate window.
//!
//! Kept as counts per time bucket rather than one timestamp per
//! acknowledgement: the record is read and rewritten for every message from
//! that sender, and an automated reporter (a scanner feed, a provider's
//! feedback loop) can legitimately be allowed thousands per window. With
//! one timestamp each, its record, and so the cost of every one of its
//! messages, would grow with the limit; with buckets it stays at most
//! [`BUCKETS_PER_WINDOW`] + 1 entries.

use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The window is cut into this many buckets. Counting whole buckets errs
/// on the side of counting an acknowledgement up to one bucket (1/60 of
/// the window) longer than the window: a loop is suppressed slightly
/// early, never late.
pub const BUCKETS_PER_WINDOW: i64 = 60;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckHistory {
    /// (bucket start in Unix seconds, acknowledgements in it), oldest first.
    buckets: Vec<(i64, u32)>,
}

fn bucket_len(window_secs: u64) -> i64 {
    (i64::try_from(window_secs).unwrap_or(i64::MAX) / BUCKETS_PER_WINDOW).max(1)
}

impl AckHistory {
    /// Reads the stored form. Stores written before the buckets existed
    /// hold a plain list of timestamps; those are folded into buckets.
    pub fn decode(bytes: &[u8], window_secs: u64) -> Option<AckHistory> {
        if let Some(h) = decode_binary(bytes) {
            return Some(h);
        }
        if let Ok(h) = serde_json::from_slice::<AckHistory>(bytes) {
            return Some(h);
        }
        let stamps: Vec<i64> = serde_json::from_slice(bytes).ok()?;
        let mut h = AckHistory::default();
        for t in stamps {
            h.add(t, window_secs);
        }
        Some(h)
    }

    /// A version byte, then 12 bytes a bucket (start, count; big-endian).
    /// Binary rather than JSON: a sender's record is read for every
    /// message and rewritten for every acknowledgement, and JSON's
    /// encoding of up to 61 buckets was a measurable share of intake. (The
    /// domain and global histories are not stored at all: see
    /// `store::ack_totals`.)
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 12 * self.buckets.len());
        out.push(BINARY_V1);
        for &(start, count) in &self.buckets {
            out.extend_from_slice(&start.to_be_bytes());
            out.extend_from_slice(&count.to_be_bytes());
        }
        out
    }

    /// Only what may still fall within the window ending at `now`.
    pub fn within(mut self, now: i64, window_secs: u64) -> AckHistory {
        let len = bucket_len(window_secs);
        let horizon = now.saturating_sub(i64::try_from(window_secs).unwrap_or(i64::MAX));
        self.buckets
            .retain(|&(start, _)| start.saturating_add(len) > horizon);
        self
    }

    pub fn count(&self) -> u32 {
        self.buckets
            .iter()
            .fold(0u32, |n, &(_, c)| n.saturating_add(c))
    }

    /// One more acknowledgement at `at`; drops buckets outside the window.
    pub fn record(self, at: i64, window_secs: u64) -> AckHistory {
        let mut h = self.within(at, window_secs);
        h.add(at, window_secs);
        h
    }

    /// Adds another history's counts, bucket by bucket (both made with
    /// the same window, so their bucket starts line up).
    pub fn merge(&mut self, other: &AckHistory) {
        for &(start, count) in &other.buckets {
            match self.buckets.iter_mut().find(|(s, _)| *s == start) {
                Some((_, c)) => *c = c.saturating_add(count),
                None => self.buckets.push((start, count)),
            }
        }
        self.buckets.sort_unstable();
    }

    fn add(&mut self, at: i64, window_secs: u64) {
        let len = bucket_len(window_secs);
        let start = at.div_euclid(len) * len;
        match self.buckets.iter_mut().find(|(s, _)| *s == start) {
            Some((_, c)) => *c = c.saturating_add(1),
            None => {
                self.buckets.push((start, 1));
                self.buckets.sort_unstable();
            }
        }
    }
}

/// Marks the binary form; JSON (the older form) starts with `{` or `[`.
const BINARY_V1: u8 = 1;

fn decode_binary(bytes: &[u8]) -> Option<AckHistory> {
    let (&BINARY_V1, rest) = bytes.split_first()? else {
        return None;
    };
    if rest.len() % 12 != 0 {
        return None;
    }
    let mut buckets: Vec<(i64, u32)> = rest
        .chunks_exact(12)
        .map(|c| {
            let (start, count) = c.split_at(8);
            (
                i64::from_be_bytes(start.try_into().unwrap_or_default()),
                u32::from_be_bytes(count.try_into().unwrap_or_default()),
            )
        })
        .collect();
    // Kept sorted by `add`; sorting again costs nothing and keeps the
    // oldest-first order true whatever was stored.
    buckets.sort_unstable();
    Some(AckHistory { buckets })
}

/// The key of the one history every acknowledgement counts in. Never an
/// address key (those have a local part before `@`) nor a domain key
/// (those start with `@`).
pub const GLOBAL_KEY: &str = "*";

/// Where an acknowledgement counts: its mailbox, the mailbox's domain, and
/// all senders. Each is limited on its own (ack.rate_limit,
/// ack.rate_limit_per_domain, ack.rate_limit_global).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateKeys {
    /// The mailbox however it was spelled (see [`address_key`]).
    pub address: String,
    /// `@` and the registrable domain, or the address literal.
    pub domain: String,
}

impl RateKeys {
    pub fn of(address: &str) -> RateKeys {
        let address = address_key(address);
        let domain = match address.rsplit_once('@') {
            Some((_, d)) => format!("@{}", registrable(d)),
            None => format!("@{address}"),
        };
        RateKeys { address, domain }
    }

    /// The domain as people write it, for messages.
    pub fn domain_name(&self) -> &str {
        self.domain.trim_start_matches('@')
    }
}

/// The acknowledgement histories a decision is made on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentAcks {
    /// None when there is no single sender (nothing will be acknowledged).
    pub keys: Option<RateKeys>,
    pub address: AckHistory,
    pub domain: AckHistory,
    pub global: AckHistory,
}

impl RecentAcks {
    /// The records to write back once one more acknowledgement is sent at
    /// `at`: every bucket it counts in.
    pub fn record(self, at: i64, window_secs: u64) -> Vec<(String, AckHistory)> {
        let Some(keys) = self.keys else {
            return Vec::new();
        };
        vec![
            (keys.address, self.address.record(at, window_secs)),
            (keys.domain, self.domain.record(at, window_secs)),
            (GLOBAL_KEY.to_string(), self.global.record(at, window_secs)),
        ]
    }
}

/// One spelling per mailbox, so that a sender cannot step around its rate
/// limit by writing its address another way: case folded, a `+tag`
/// sub-address dropped, the trailing dot of an absolute domain dropped,
/// an address literal written one way (`[192.0.2.9]` also for
/// `[IPv6:::ffff:192.0.2.9]` and a bare `192.0.2.9`), an internationalised
/// domain in its IDNA form.
pub fn address_key(address: &str) -> String {
    let a = address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_lowercase();
    let Some((local, domain)) = a.rsplit_once('@') else {
        return a;
    };
    // A quoted local part may hold `+` as plain text; only a dot-atom
    // (which intake makes of every quoted form it can) has a sub-address.
    let local = match local.split_once('+') {
        Some((base, _)) if !base.is_empty() && !local.starts_with('"') => base,
        _ => local,
    };
    format!("{local}@{}", domain_key(domain))
}

fn domain_key(domain: &str) -> String {
    let d = domain.trim_end_matches('.');
    if let Some(literal) = d.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
        return address_literal(literal);
    }
    if let Some(ip) = lenient_ipv4(d) {
        return format!("[{ip}]");
    }
    idna::domain_to_ascii(d).unwrap_or_else(|_| d.to_string())
}

fn address_literal(literal: &str) -> String {
    let lower = literal.trim().to_ascii_lowercase();
    if let Some(ip) = lower
        .strip_prefix("ipv6:")
        .and_then(|v6| v6.parse::<Ipv6Addr>().ok())
    {
        return match ip.to_ipv4_mapped() {
            Some(v4) => format!("[{v4}]"),
            None => format!("[ipv6:{ip}]"),
        };
    }
    match lenient_ipv4(&lower) {
        Some(ip) => format!("[{ip}]"),
        None => format!("[{lower}]"),
    }
}

/// A dotted quad, leading zeros allowed (`192.000.002.009`), as mail
/// software reads an address literal.
fn lenient_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = part.parse().ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

/// The registrable domain of a normalised domain key (`bank.example` for
/// `mail.bank.example`), so that sub-domains share their domain's budget;
/// an address literal is its own domain.
fn registrable(domain: &str) -> &str {
    if domain.starts_with('[') {
        return domain;
    }
    psl::domain_str(domain).unwrap_or(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mailbox_is_one_key_however_spelled() {
        for spelling in [
            "victim@bank.example",
            "victim+1@bank.example",
            "victim@bank.example.",
            "Victim@Bank.Example",
            "<VICTIM+a+b@BANK.EXAMPLE.>",
        ] {
            assert_eq!(address_key(spelling), "victim@bank.example", "{spelling}");
        }
        for spelling in [
            "victim@[192.0.2.9]",
            "victim+x@[192.000.002.009]",
            "Victim@[IPv6:::ffff:192.0.2.9]",
            "victim@192.0.2.9",
            "victim@[192.0.2.9].",
        ] {
            assert_eq!(address_key(spelling), "victim@[192.0.2.9]", "{spelling}");
        }
        assert_eq!(
            address_key("v@[IPv6:2001:DB8:0:0:0:0:0:1]"),
            "v@[ipv6:2001:db8::1]"
        );
        assert_eq!(
            address_key("jörg@bücher.example"),
            "jörg@xn--bcher-kva.example"
        );
        assert_eq!(
            address_key("JÖRG@BÜCHER.example"),
            "jörg@xn--bcher-kva.example"
        );
        // Not sub-addresses: a leading `+`, a `+` inside quotes.
        assert_eq!(address_key("+1@x.example"), "+1@x.example");
        assert_eq!(address_key("\"a+b c\"@x.example"), "\"a+b c\"@x.example");
        assert_ne!(
            address_key("alice@bank.example"),
            address_key("victim@bank.example")
        );
    }

    #[test]
    fn sub_domains_share_their_domains_budget() {
        let keys = RateKeys::of("Eve+x@Mail.Bank.Example.");
        assert_eq!(keys.address, "eve@mail.bank.example");
        assert_eq!(keys.domain, "@bank.example");
        assert_eq!(keys.domain_name(), "bank.example");
        assert_eq!(
            RateKeys::of("a@shop.example.co.uk").domain,
            "@example.co.uk"
        );
        assert_eq!(RateKeys::of("a@[192.0.2.9]").domain, "@[192.0.2.9]");
        for key in [&keys.address, &keys.domain] {
            assert_ne!(key, GLOBAL_KEY);
        }
    }

    #[test]
    fn a_sent_acknowledgement_counts_in_every_bucket() {
        let t0 = 1_800_000_000;
        let recent = RecentAcks {
            keys: Some(RateKeys::of("a@bank.example")),
            ..RecentAcks::default()
        };
        let written = recent.record(t0, 3600);
        let keys: Vec<&str> = written.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a@bank.example", "@bank.example", GLOBAL_KEY]);
        assert!(written.iter().all(|(_, h)| h.count() == 1));
        assert!(RecentAcks::default().record(t0, 3600).is_empty());
    }

    const HOUR: u64 = 3600;

    #[test]
    fn merged_histories_count_both() {
        let w = 3600;
        let a = AckHistory::default().record(1000, w).record(1010, w);
        let b = AckHistory::default().record(1005, w).record(2000, w);
        let mut sum = a.clone();
        sum.merge(&b);
        assert_eq!(sum.count(), 4);
        let mut other_way = b;
        other_way.merge(&a);
        assert_eq!(sum, other_way);
    }

    #[test]
    fn counts_what_falls_in_the_window() {
        let t0 = 1_800_000_000;
        let h = AckHistory::default()
            .record(t0, HOUR)
            .record(t0 + 10, HOUR)
            .record(t0 + 1800, HOUR);
        assert_eq!(h.clone().within(t0 + 1800, HOUR).count(), 3);
        // An hour and a bucket later the first two have left the window.
        assert_eq!(h.within(t0 + 3600 + 61, HOUR).count(), 1);
    }

    #[test]
    fn an_acknowledgement_is_never_forgotten_early() {
        let t0 = 1_800_000_000;
        let h = AckHistory::default().record(t0, HOUR);
        for dt in [0, 1, 59, 60, 1000, 3599, 3600] {
            assert_eq!(h.clone().within(t0 + dt, HOUR).count(), 1, "after {dt} s");
        }
    }

    #[test]
    fn stays_small_whatever_the_volume() {
        let t0 = 1_800_000_000;
        let mut h = AckHistory::default();
        for i in 0..100_000 {
            h = h.record(t0 + i / 10, HOUR);
        }
        assert!(h.buckets.len() <= BUCKETS_PER_WINDOW as usize + 1);
        assert!(h.encode().len() < 2048);
        assert!(h.count() >= 36_000);
    }

    #[test]
    fn reads_the_older_list_of_timestamps() {
        let t0 = 1_800_000_000i64;
        let old = serde_json::to_vec(&vec![t0, t0 + 5, t0 + 7200]).unwrap();
        let h = AckHistory::decode(&old, HOUR).unwrap();
        assert_eq!(h.within(t0 + 7200, HOUR).count(), 1);
        assert!(AckHistory::decode(b"garbage", HOUR).is_none());
    }

    #[test]
    fn the_binary_form_round_trips_and_json_is_still_read() {
        let t0 = 1_800_000_000;
        let h = AckHistory::default()
            .record(t0, HOUR)
            .record(t0 + 100, HOUR)
            .record(t0 + 100, HOUR);
        let bytes = h.encode();
        assert_eq!(bytes[0], BINARY_V1);
        assert_eq!(bytes.len(), 1 + 12 * 2);
        assert_eq!(AckHistory::decode(&bytes, HOUR), Some(h.clone()));
        let json = serde_json::to_vec(&h).unwrap();
        assert_eq!(AckHistory::decode(&json, HOUR), Some(h));
        // Torn or foreign bytes are not read as a history.
        assert!(AckHistory::decode(&bytes[..bytes.len() - 1], HOUR).is_none());
        assert_eq!(
            AckHistory::decode(&[BINARY_V1], HOUR),
            Some(AckHistory::default())
        );
    }
}
