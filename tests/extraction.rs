//! Tricky report text for the indicator extractor (issue 6): trailing
//! punctuation, URLs in angle brackets, IPv6 forms, version numbers that
//! are not addresses, hashes inside longer hex runs, non-ASCII domains.

use csirtd::analysis::indicators::{Extractor, Found, Ignore, Kind};

fn values(text: &str) -> Vec<(Kind, String)> {
    Extractor::new(Ignore::default())
        .extract(text, &Found::Body)
        .into_iter()
        .map(|i| (i.kind, i.value))
        .collect()
}

fn has(text: &str, kind: Kind, value: &str) -> bool {
    values(text).contains(&(kind, value.to_string()))
}

#[test]
fn trailing_punctuation_and_angle_brackets_are_not_part_of_a_url() {
    let t = "See <https://evil.example.com/a?b=1>, or (http://evil.example.net/x). Also https://evil.example.org/y!";
    assert!(
        has(t, Kind::Url, "https://evil.example.com/a?b=1"),
        "{:?}",
        values(t)
    );
    assert!(
        has(t, Kind::Url, "http://evil.example.net/x"),
        "{:?}",
        values(t)
    );
    assert!(
        has(t, Kind::Url, "https://evil.example.org/y"),
        "{:?}",
        values(t)
    );
    let t = "host evil.example.com, then 192.0.2.9.";
    assert!(has(t, Kind::Domain, "evil.example.com"), "{:?}", values(t));
    assert!(has(t, Kind::Ipv4, "192.0.2.9"), "{:?}", values(t));
}

#[test]
fn ipv6_forms() {
    for (text, want) in [
        ("src 2001:DB8:0:0:0:0:0:1 seen", "2001:db8::1"),
        ("src [2001:db8::2]:443 seen", "2001:db8::2"),
        ("mapped ::ffff:192.0.2.1 seen", "::ffff:192.0.2.1"),
        (
            "link fe80::1ff:fe23:4567:890a%eth0",
            "fe80::1ff:fe23:4567:890a",
        ),
    ] {
        assert!(has(text, Kind::Ipv6, want), "{text}: {:?}", values(text));
    }
    assert!(
        values("MAC 00:1a:2b:3c:4d:5e")
            .iter()
            .all(|(k, _)| *k != Kind::Ipv6),
        "{:?}",
        values("MAC 00:1a:2b:3c:4d:5e")
    );
}

#[test]
fn version_numbers_are_not_addresses() {
    for t in [
        "Firefox 115.0.2 and OpenSSL 3.0.13",
        "build 1.2.3.4567",
        "v10.0.19045.3803",
    ] {
        assert!(
            values(t).iter().all(|(k, _)| *k != Kind::Ipv4),
            "{t}: {:?}",
            values(t)
        );
    }
}

#[test]
fn hashes_inside_longer_hex_runs_are_not_hashes() {
    let run = "a".repeat(10) + "d41d8cd98f00b204e9800998ecf8427e" + &"b".repeat(40);
    assert!(values(&run).is_empty(), "{:?}", values(&run));
    let h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let t = format!("sha256:{h}.");
    assert!(has(&t, Kind::Sha256, h), "{:?}", values(&t));
}

#[test]
fn non_ascii_domains_are_found_in_their_ascii_form() {
    let t = "phishing at bücher-login.de and https://xn--bcher-kva.de/x";
    assert!(
        has(t, Kind::Domain, "xn--bcher-login-thb.de"),
        "{:?}",
        values(t)
    );
    assert!(has(t, Kind::Domain, "xn--bcher-kva.de"), "{:?}", values(t));
}

#[test]
fn dotted_version_strings_are_not_addresses() {
    for t in [
        "Version 1.2.3.4.5",
        "firmware 10.0.0.1.2 fixes it",
        "OID 1.3.6.1.4.1.311.21",
        "build 5.1.2.3.4, released",
    ] {
        assert!(
            values(t)
                .iter()
                .all(|(k, _)| *k != Kind::Ipv4 && *k != Kind::Cidr),
            "{t}: {:?}",
            values(t)
        );
    }
    // An address that ends a sentence, or stands before other text, still is one.
    for (t, want) in [
        ("the host was 192.0.2.9.", "192.0.2.9"),
        ("hosts 192.0.2.10.\nNext line 3", "192.0.2.10"),
        ("(192.0.2.11). Version 2", "192.0.2.11"),
        ("at 192.0.2.12.x", "192.0.2.12"),
    ] {
        assert!(has(t, Kind::Ipv4, want), "{t}: {:?}", values(t));
    }
}
