//! A DKIM-authenticated feed end to end (issue 14): nsd serves the feed's
//! DKIM key, SPF and DMARC (p=reject) on a loopback port, OpenDKIM signs
//! the report, and the csirtd binary (`[auth] mode = "verify"`) checks it
//! through that server. The genuine report notifies the constituent; the
//! forged and the altered ones are flagged and notify nobody.

mod common;

use common::dkim::DkimKey;
use common::dns::{zone_text, DnsServer};
use common::*;
use serde_json::Value;

const FEED_IP: &str = "192.0.2.10";
const OTHER_IP: &str = "198.51.100.66";

struct World {
    env: Env,
    key: DkimKey,
    _dns: DnsServer,
}

fn world() -> World {
    let keys = tempfile::tempdir().expect("tempdir");
    let key = DkimKey::generate(keys.path(), "feeds.example", "s1");
    let records = format!(
        "feeds.example. IN TXT \"v=spf1 ip4:{FEED_IP} -all\"\n\
         _dmarc.feeds.example. IN TXT \"v=DMARC1; p=reject\"\n{}\n",
        key.zone_record()
    );
    let dns = DnsServer::start(&[("example", &zone_text("example", &records))]);
    let env = Env::with_extra(&format!(
        "[auth]\nmode = \"verify\"\nresolvers = [\"{}\"]\ntimeout_secs = 5\n\
         [[feeds]]\nname = \"feeds\"\nsender = \"feeds.example\"\ndkim_domain = \"feeds.example\"\n\
         formats = [\"shadowserver\"]\n\
         [[constituencies]]\nname = \"university\"\nnetworks = [\"203.0.113.0/24\"]\n\
         contact = \"noc@uni.example\"\nnotify_constituent = true\n",
        dns.addr
    ));
    // The key files must outlive the signing calls only.
    std::mem::forget(keys);
    World {
        env,
        key,
        _dns: dns,
    }
}

fn report(mid: &str) -> Vec<u8> {
    let csv = "timestamp,ip,protocol,port,asn\r\n2026-12-01 00:00:05,203.0.113.7,udp,123,64500\r\n";
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, csv);
    format!(
        "From: Reports <autoreports@feeds.example>\r\nTo: cert@cert.example\r\nSubject: Daily scan_ntp report\r\n\
         Date: Tue, 1 Dec 2026 06:00:00 +0000\r\nMessage-ID: <{mid}@feeds.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nReport attached.\r\n\
         --b\r\nContent-Type: text/csv; name=\"2026-12-01-scan_ntp-x.csv\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"2026-12-01-scan_ntp-x.csv\"\r\n\r\n{b64}\r\n--b--\r\n"
    )
    .into_bytes()
}

/// What the receiving MTA adds on top: the envelope sender and its Received line.
fn delivered(msg: &[u8], client_ip: &str) -> Vec<u8> {
    let mut m = format!(
        "Return-Path: <bounce@feeds.example>\r\nReceived: from mail.feeds.example (mail.feeds.example [{client_ip}])\r\n\
         \tby mx.cert.example (Postfix) with ESMTPS id 4Q1 for <cert@cert.example>;\r\n\
         \tTue, 1 Dec 2026 06:00:01 +0000 (UTC)\r\n"
    )
    .into_bytes();
    m.extend_from_slice(msg);
    m
}

fn notifications(env: &Env) -> Vec<Value> {
    env.outbox()
        .into_iter()
        .filter(|o| o["to"].to_string().contains("noc@uni.example"))
        .collect()
}

fn auth_of(t: &Value) -> Value {
    t["messages"][0]["authentication"].clone()
}

#[test]
fn the_signed_feed_is_verified_over_dns_and_notifies() {
    let w = world();
    let signed = w.key.sign("feeds.example", &report("good-1"));
    let (id, _) = w.env.ingest_ok(&delivered(&signed, FEED_IP));
    let t = w.env.ticket(&id);
    let a = auth_of(&t);
    assert_eq!(a["source"]["kind"], "verified", "{a}");
    assert_eq!(a["dkim"][0]["domain"], "feeds.example", "{a}");
    assert_eq!(a["dkim"][0]["result"], "pass", "{a}");
    assert_eq!(a["spf"]["result"], "pass", "{a}");
    assert_eq!(a["dmarc"]["result"], "pass", "{a}");
    assert!(
        a["words"]
            .as_str()
            .unwrap()
            .contains("DKIM pass for feeds.example"),
        "{a}"
    );
    assert!(
        !t["flags"].to_string().contains("unauthenticated-feed"),
        "{t}"
    );
    assert_eq!(t["constituency"], "university");
    let notes = notifications(&w.env);
    assert_eq!(notes.len(), 1, "{:?}", w.env.outbox());
    assert_eq!(notes[0]["state"], "queued");
}

#[test]
fn a_forged_or_altered_feed_is_flagged_and_notifies_nobody() {
    let w = world();
    // The feed's From, unsigned, from another address.
    let (forged, _) = w.env.ingest_ok(&delivered(&report("forged-1"), OTHER_IP));
    // Signed, then a row added in transit.
    let signed = w.key.sign("feeds.example", &report("altered-1"));
    let altered = String::from_utf8_lossy(&signed).replace(
        "Report attached.",
        "Report attached. Reply with your VPN password.",
    );
    let (altered, _) = w.env.ingest_ok(&delivered(altered.as_bytes(), FEED_IP));
    let t = w.env.ticket(&forged);
    let flags = t["flags"].to_string();
    assert!(flags.contains("unauthenticated-feed"), "{flags}");
    assert!(flags.contains("dmarc-fail"), "{flags}");
    assert_eq!(auth_of(&t)["spf"]["result"], "fail", "{}", auth_of(&t));
    assert_eq!(auth_of(&t)["dmarc"]["result"], "fail", "{}", auth_of(&t));
    // Altered in transit but sent from the feed's address: DKIM fails,
    // DMARC still passes on SPF, and the feed (which must sign) is not
    // trusted.
    let t = w.env.ticket(&altered);
    assert!(
        t["flags"].to_string().contains("unauthenticated-feed"),
        "{t}"
    );
    assert_eq!(auth_of(&t)["dkim"][0]["result"], "fail", "{}", auth_of(&t));
    assert_eq!(auth_of(&t)["dmarc"]["result"], "pass", "{}", auth_of(&t));
    assert!(notifications(&w.env).is_empty(), "{:?}", w.env.outbox());
}
