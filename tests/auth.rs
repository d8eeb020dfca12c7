//! Sender authentication against real parts: nsd serves the DKIM keys, SPF
//! and DMARC records on a loopback port, OpenDKIM signs the mails, and
//! `csirtd::auth::Verifier` checks them through that server.

mod common;

use common::dkim::DkimKey;
use common::dns::{zone_text, DnsServer};
use csirtd::auth::{
    trusted, AuthResult, AuthSource, Authentication, DmarcPolicy, Verifier, VerifierSettings,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const GOOD_IP: &str = "192.0.2.10";
const BAD_IP: &str = "198.51.100.66";

struct World {
    dns: DnsServer,
    feeds: DkimKey,
    monitor: DkimKey,
    signer: DkimKey,
    _dir: tempfile::TempDir,
}

/// One zone `example.` holds every test domain, so that every name the
/// verifiers ask for (DMARC's tree walk goes up to `_dmarc.example`) gets
/// an authoritative answer.
fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let feeds = DkimKey::generate(dir.path(), "feeds.example", "s1");
    let monitor = DkimKey::generate(dir.path(), "monitor.example", "m1");
    let signer = DkimKey::generate(dir.path(), "signer.example", "k2");
    let records = format!(
        "feeds.example. IN TXT \"v=spf1 ip4:{GOOD_IP} -all\"\n\
         _dmarc.feeds.example. IN TXT \"v=DMARC1; p=reject\"\n\
         {}\n\
         monitor.example. IN TXT \"v=spf1 ip4:{GOOD_IP} -all\"\n\
         _dmarc.monitor.example. IN TXT \"v=DMARC1; p=none\"\n\
         {}\n\
         signer.example. IN TXT \"v=spf1 -all\"\n\
         {}\n",
        feeds.zone_record(),
        monitor.zone_record(),
        signer.zone_record()
    );
    let dns = DnsServer::start(&[("example", &zone_text("example", &records))]);
    World {
        dns,
        feeds,
        monitor,
        signer,
        _dir: dir,
    }
}

fn verifier(addr: SocketAddr, timeout: Duration) -> Verifier {
    Verifier::new(VerifierSettings {
        resolvers: vec![addr],
        timeout,
        ..VerifierSettings::default()
    })
    .expect("verifier")
}

fn mail(from: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Reports <{from}>\r\nTo: cert@cert.example\r\nSubject: Daily report\r\n\
         Date: Mon, 1 Jun 2026 10:00:00 +0000\r\nMessage-ID: <{}@test>\r\n\r\n{body}\r\n",
        body.len()
    )
    .into_bytes()
}

/// What the receiving MTA adds on top after signing: the envelope sender
/// and its Received line.
fn delivered(signed: &[u8], client_ip: &str, mail_from: &str) -> Vec<u8> {
    let mut m = format!(
        "Return-Path: <{mail_from}>\r\nReceived: from mail.sender.example (mail.sender.example [{client_ip}])\r\n\
         \tby mx.cert.example (Postfix) with ESMTPS id 4Q1 for <cert@cert.example>;\r\n\
         \tMon, 1 Jun 2026 10:00:01 +0000 (UTC)\r\n"
    )
    .into_bytes();
    m.extend_from_slice(signed);
    m
}

fn verified(a: &Authentication) {
    assert_eq!(a.source, AuthSource::Verified, "{a:?}");
}

#[test]
fn genuine_signed_mail_passes_everything() {
    let w = world();
    let v = verifier(w.dns.addr, Duration::from_secs(5));
    let signed = w.feeds.sign(
        "feeds.example",
        &mail("noreply@feeds.example", "report rows"),
    );
    let a = v.verify_one(&delivered(&signed, GOOD_IP, "bounce@feeds.example"));
    verified(&a);
    assert_eq!(a.dkim.len(), 1, "{a:?}");
    assert_eq!(a.dkim[0].domain, "feeds.example");
    assert_eq!(a.dkim[0].selector, "s1");
    assert_eq!(a.dkim[0].result, AuthResult::Pass, "{a:?}");
    let spf = a.spf.as_ref().expect("spf");
    assert_eq!(spf.result, AuthResult::Pass, "{a:?}");
    assert_eq!(spf.domain, "feeds.example");
    assert_eq!(spf.client_ip, Some(GOOD_IP.parse().unwrap()));
    let d = a.dmarc.as_ref().expect("dmarc");
    assert_eq!(d.domain, "feeds.example");
    assert_eq!(d.result, AuthResult::Pass);
    assert_eq!(d.policy, DmarcPolicy::Reject);
    assert!(d.dkim_aligned && d.spf_aligned, "{d:?}");
    assert!(a.dkim_pass_for("feeds.example") && a.dmarc_pass() && !a.dmarc_fail_enforced());
    assert_eq!(
        a.in_words(),
        "DKIM pass for feeds.example (selector s1), SPF pass for feeds.example, DMARC pass (policy reject)"
    );
    assert_eq!(a.note, None);
}

#[test]
fn body_altered_after_signing_fails_dkim_and_dmarc() {
    let w = world();
    let v = verifier(w.dns.addr, Duration::from_secs(5));
    let signed = w.feeds.sign(
        "feeds.example",
        &mail("noreply@feeds.example", "amount: 10"),
    );
    let text = String::from_utf8(signed).expect("utf8");
    let forged = text.replace("amount: 10", "amount: 99");
    assert_ne!(forged, text);
    // From a host SPF does not allow, so that only DKIM could save DMARC.
    let a = v.verify_one(&delivered(
        forged.as_bytes(),
        BAD_IP,
        "bounce@feeds.example",
    ));
    verified(&a);
    assert_eq!(a.dkim[0].result, AuthResult::Fail, "{a:?}");
    assert_eq!(
        a.dkim[0].reason.as_deref(),
        Some("body hash did not verify")
    );
    assert_eq!(a.spf.as_ref().map(|s| s.result), Some(AuthResult::Fail));
    let d = a.dmarc.as_ref().expect("dmarc");
    assert_eq!(
        (d.result, d.policy),
        (AuthResult::Fail, DmarcPolicy::Reject)
    );
    assert!(!d.dkim_aligned && !d.spf_aligned);
    assert!(!a.dkim_pass_for("feeds.example"));
    assert!(a.dmarc_fail_enforced());
}

#[test]
fn signature_by_another_key_for_the_same_selector_fails() {
    let w = world();
    let v = verifier(w.dns.addr, Duration::from_secs(5));
    let dir = tempfile::tempdir().expect("tempdir");
    let impostor = DkimKey::generate(dir.path(), "feeds.example", "s1");
    let signed = impostor.sign("feeds.example", &mail("noreply@feeds.example", "rows"));
    let a = v.verify_one(&delivered(&signed, BAD_IP, "bounce@feeds.example"));
    assert_eq!(a.dkim.len(), 1);
    assert_eq!(a.dkim[0].result, AuthResult::Fail, "{a:?}");
    assert!(!a.dkim_pass_for("feeds.example"));
    assert!(a.dmarc_fail_enforced(), "{a:?}");
}

#[test]
fn third_party_signature_passes_dkim_but_not_dmarc() {
    let w = world();
    let v = verifier(w.dns.addr, Duration::from_secs(5));
    let signed = w
        .signer
        .sign("feeds.example", &mail("noreply@feeds.example", "relayed"));
    let a = v.verify_one(&delivered(&signed, BAD_IP, "bounce@signer.example"));
    assert_eq!(a.dkim[0].domain, "signer.example");
    assert_eq!(a.dkim[0].result, AuthResult::Pass, "{a:?}");
    assert!(a.dkim_pass_for("signer.example"));
    assert!(!a.dkim_pass_for("feeds.example"));
    let d = a.dmarc.as_ref().expect("dmarc");
    assert_eq!(d.domain, "feeds.example");
    assert_eq!(d.result, AuthResult::Fail, "{a:?}");
    assert!(!d.dkim_aligned && !d.spf_aligned);
    assert!(a.dmarc_fail_enforced());
}

#[test]
fn unsigned_mail_from_the_wrong_address_fails_spf() {
    let w = world();
    let v = verifier(w.dns.addr, Duration::from_secs(5));
    let raw = mail("noreply@feeds.example", "unsigned");
    let a = v.verify_one(&delivered(&raw, BAD_IP, "bounce@feeds.example"));
    assert!(a.dkim.is_empty());
    let spf = a.spf.as_ref().expect("spf");
    assert_eq!(spf.result, AuthResult::Fail);
    assert_eq!(spf.client_ip, Some(BAD_IP.parse().unwrap()));
    assert!(a.dmarc_fail_enforced());
    assert_eq!(
        a.in_words(),
        "no DKIM signature, SPF fail for feeds.example, DMARC fail (policy reject)"
    );
    // The same unsigned mail from the allowed address passes on SPF alone.
    let a = v.verify_one(&delivered(&raw, GOOD_IP, "bounce@feeds.example"));
    assert_eq!(a.spf.as_ref().map(|s| s.result), Some(AuthResult::Pass));
    let d = a.dmarc.as_ref().expect("dmarc");
    assert!(d.result == AuthResult::Pass && d.spf_aligned && !d.dkim_aligned);
}

#[test]
fn failure_under_p_none_is_not_enforced() {
    let w = world();
    let v = verifier(w.dns.addr, Duration::from_secs(5));
    let signed = w
        .monitor
        .sign("monitor.example", &mail("noreply@monitor.example", "x"));
    let text = String::from_utf8(signed)
        .expect("utf8")
        .replace("\r\nx\r\n", "\r\ny\r\n");
    let a = v.verify_one(&delivered(
        text.as_bytes(),
        BAD_IP,
        "bounce@monitor.example",
    ));
    let d = a.dmarc.as_ref().expect("dmarc");
    assert_eq!(
        (d.result, d.policy),
        (AuthResult::Fail, DmarcPolicy::None),
        "{a:?}"
    );
    assert!(!a.dmarc_pass());
    assert!(!a.dmarc_fail_enforced());
}

#[test]
fn missing_envelope_headers_mean_spf_none_with_a_reason() {
    let w = world();
    let v = verifier(w.dns.addr, Duration::from_secs(5));
    let signed = w
        .feeds
        .sign("feeds.example", &mail("noreply@feeds.example", "direct"));
    let a = v.verify_one(&signed);
    assert_eq!(a.dkim[0].result, AuthResult::Pass);
    assert_eq!(a.spf.as_ref().map(|s| s.result), Some(AuthResult::None));
    assert_eq!(
        a.note.as_deref(),
        Some("SPF not checked: no Received header at hop 0")
    );
    // DKIM alone still aligns.
    assert!(a.dmarc_pass(), "{a:?}");
}

fn assert_all_temperror(a: &Authentication) {
    verified(a);
    assert_eq!(a.dkim.len(), 1, "{a:?}");
    assert_eq!(a.dkim[0].result, AuthResult::TempError, "{a:?}");
    assert_eq!(
        a.spf.as_ref().map(|s| s.result),
        Some(AuthResult::TempError),
        "{a:?}"
    );
    assert_eq!(
        a.dmarc.as_ref().map(|d| d.result),
        Some(AuthResult::TempError),
        "{a:?}"
    );
    assert!(!a.dkim_pass_for("feeds.example") && !a.dmarc_pass() && !a.dmarc_fail_enforced());
}

#[test]
fn dns_down_is_temperror_within_the_time_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = DkimKey::generate(dir.path(), "feeds.example", "s1");
    let signed = key.sign("feeds.example", &mail("noreply@feeds.example", "rows"));
    let raw = delivered(&signed, GOOD_IP, "bounce@feeds.example");
    let limit = Duration::from_secs(2);

    // Nothing listens: the resolver is refused at once.
    let closed = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr")
    };
    let v = verifier(closed, limit);
    let start = Instant::now();
    let a = v.verify_one(&raw);
    assert!(
        start.elapsed() < limit + Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_all_temperror(&a);

    // A server that never answers: the time limit ends it.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let silent_tcp = std::net::TcpListener::bind(silent.local_addr().expect("addr")).ok();
    let v = verifier(silent.local_addr().expect("addr"), limit);
    let start = Instant::now();
    let a = v.verify_one(&raw);
    let took = start.elapsed();
    assert!(took < limit + Duration::from_secs(2), "took {took:?}");
    assert_all_temperror(&a);
    assert!(a.note.is_some(), "{a:?}");
    drop(silent_tcp);
}

#[test]
fn a_batch_of_fifty_concurrently_then_from_the_cache() {
    let w = world();
    let v = verifier(w.dns.addr, Duration::from_secs(10));
    let mut batch = Vec::new();
    for i in 0..50 {
        let (key, domain, ip) = match i % 3 {
            0 => (&w.feeds, "feeds.example", GOOD_IP),
            1 => (&w.monitor, "monitor.example", GOOD_IP),
            _ => (&w.feeds, "feeds.example", BAD_IP),
        };
        let signed = key.sign(
            domain,
            &mail(&format!("r{i}@{domain}"), &format!("row {i}")),
        );
        batch.push(delivered(&signed, ip, &format!("bounce@{domain}")));
    }
    let refs: Vec<&[u8]> = batch.iter().map(|m| m.as_slice()).collect();
    let check = |results: &[Authentication]| {
        assert_eq!(results.len(), 50);
        for (i, a) in results.iter().enumerate() {
            let domain = if i % 3 == 1 {
                "monitor.example"
            } else {
                "feeds.example"
            };
            assert!(a.dkim_pass_for(domain), "{i}: {a:?}");
            let spf = a.spf.as_ref().map(|s| s.result);
            let want = if i % 3 == 2 {
                AuthResult::Fail
            } else {
                AuthResult::Pass
            };
            assert_eq!(spf, Some(want), "{i}: {a:?}");
            assert!(a.dmarc_pass(), "{i}: {a:?}");
        }
    };
    let start = Instant::now();
    let first = v.verify_all(&refs);
    let first_took = start.elapsed();
    check(&first);
    let hits_before = v.cache_hits();
    let start = Instant::now();
    let second = v.verify_all(&refs);
    let second_took = start.elapsed();
    check(&second);
    assert_eq!(first, second);
    // Every message's DKIM key, SPF and DMARC records come from the cache.
    let hits = v.cache_hits() - hits_before;
    assert!(hits >= 150, "only {hits} cache hits in the second batch");
    eprintln!("batch of 50: {first_took:?} cold, {second_took:?} cached ({hits} cache hits)");
}

#[test]
fn trusted_results_from_a_real_signature_header() {
    // The trusted-results reader on a mail OpenDKIM really signed, with the
    // A-R an MTA would add on top and a forged one the sender put below.
    let dir = tempfile::tempdir().expect("tempdir");
    let key = DkimKey::generate(dir.path(), "feeds.example", "s1");
    let signed = key.sign("feeds.example", &mail("noreply@feeds.example", "rows"));
    let mut forged = b"Authentication-Results: mx.cert.example; dkim=pass header.d=bank.example;\r\n dmarc=pass header.from=bank.example\r\n".to_vec();
    forged.extend_from_slice(&signed);
    let mut m = b"Authentication-Results: mx.cert.example;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=feeds.example header.i=@feeds.example header.a=rsa-sha256 header.s=s1 header.b=abcd1234;\r\n\tspf=pass smtp.mailfrom=bounce@feeds.example;\r\n\tdmarc=pass (p=reject dis=none) header.from=feeds.example\r\n".to_vec();
    m.extend_from_slice(&delivered(&forged, GOOD_IP, "bounce@feeds.example"));
    let a = trusted::from_results(&m, "mx.cert.example");
    assert!(a.dkim_pass_for("feeds.example") && !a.dkim_pass_for("bank.example"));
    assert!(a.dmarc_pass());
    let d = a.dmarc.as_ref().expect("dmarc");
    assert!(d.dkim_aligned && d.spf_aligned && d.policy == DmarcPolicy::Reject);
}
