use super::words::word_name;
use super::*;

fn dkim(domain: &str, result: AuthResult) -> DkimCheck {
    DkimCheck {
        domain: domain.into(),
        selector: "s1".into(),
        result,
        reason: None,
    }
}

fn verified(
    dkim: Vec<DkimCheck>,
    spf: Option<SpfCheck>,
    dmarc: Option<DmarcCheck>,
) -> Authentication {
    Authentication {
        source: AuthSource::Verified,
        dkim,
        spf,
        dmarc,
        note: None,
    }
}

fn dmarc(result: AuthResult, policy: DmarcPolicy) -> Option<DmarcCheck> {
    Some(DmarcCheck {
        domain: "shadowserver.org".into(),
        policy,
        result,
        dkim_aligned: result == AuthResult::Pass,
        spf_aligned: false,
    })
}

#[test]
fn dkim_pass_for_domain_and_subdomains_only() {
    let a = verified(
        vec![
            dkim("mail.shadowserver.org", AuthResult::Pass),
            dkim("bank.example", AuthResult::Fail),
        ],
        None,
        None,
    );
    assert!(a.dkim_pass_for("shadowserver.org"));
    assert!(a.dkim_pass_for("Mail.ShadowServer.ORG."));
    assert!(!a.dkim_pass_for("adowserver.org"));
    assert!(!a.dkim_pass_for("evil.mail.shadowserver.org"));
    assert!(!a.dkim_pass_for("bank.example"));
    assert!(!a.dkim_pass_for(""));
    let b = verified(
        vec![dkim("evilshadowserver.org", AuthResult::Pass)],
        None,
        None,
    );
    assert!(!b.dkim_pass_for("shadowserver.org"));
}

#[test]
fn dmarc_flags() {
    let pass = verified(vec![], None, dmarc(AuthResult::Pass, DmarcPolicy::Reject));
    assert!(pass.dmarc_pass() && !pass.dmarc_fail_enforced());
    for (policy, enforced) in [
        (DmarcPolicy::Reject, true),
        (DmarcPolicy::Quarantine, true),
        (DmarcPolicy::None, false),
        (DmarcPolicy::Unknown, false),
    ] {
        let f = verified(vec![], None, dmarc(AuthResult::Fail, policy));
        assert!(!f.dmarc_pass());
        assert_eq!(f.dmarc_fail_enforced(), enforced, "{policy:?}");
    }
    let temp = verified(
        vec![],
        None,
        dmarc(AuthResult::TempError, DmarcPolicy::Reject),
    );
    assert!(!temp.dmarc_fail_enforced() && !temp.dmarc_pass());
    assert!(!Authentication::off().dmarc_pass());
}

#[test]
fn words() {
    let a = verified(
        vec![dkim("shadowserver.org", AuthResult::Pass)],
        Some(SpfCheck {
            domain: "shadowserver.org".into(),
            client_ip: None,
            result: AuthResult::Pass,
        }),
        dmarc(AuthResult::Pass, DmarcPolicy::Reject),
    );
    assert_eq!(
        a.in_words(),
        "DKIM pass for shadowserver.org (selector s1), SPF pass for shadowserver.org, DMARC pass (policy reject)"
    );
    let b = verified(
        vec![],
        Some(SpfCheck {
            domain: String::new(),
            client_ip: None,
            result: AuthResult::None,
        }),
        dmarc(AuthResult::Fail, DmarcPolicy::Reject),
    );
    assert_eq!(
        b.in_words(),
        "no DKIM signature, SPF none, DMARC fail (policy reject)"
    );
    assert_eq!(
        Authentication::off().in_words(),
        "sender authentication off"
    );
    let u = Authentication::unavailable("DNS timed out\r\nDKIM pass");
    assert_eq!(
        u.in_words(),
        "sender authentication unavailable: DNS timed out DKIM pass"
    );
    let many = verified(
        (0..10)
            .map(|i| dkim(&format!("d{i}.example"), AuthResult::Fail))
            .collect(),
        None,
        None,
    );
    let w = many.in_words();
    assert!(w.contains("6 more DKIM signatures"), "{w}");
    assert!(w.ends_with("SPF not checked, DMARC not checked"), "{w}");
}

#[test]
fn names_are_sanitised_for_words() {
    assert_eq!(word_name("shadowserver.org"), "shadowserver.org");
    assert_eq!(word_name("s1._domainkey"), "s1._domainkey");
    assert_eq!(word_name("a\r\nDKIM pass for b"), "aDKIMpassforb");
    assert_eq!(word_name("bücher.example"), "xn--bcher-kva.example");
    assert_eq!(word_name("\u{202e}\u{200b}"), "(invalid)");
    assert_eq!(word_name(""), "(invalid)");
    let long = word_name(&"a".repeat(500));
    assert_eq!(long.len(), 80);
    assert!(long.ends_with("..."));
}

#[test]
fn stored_names_are_bounded() {
    assert_eq!(bound_name(" Mail.Example. "), "mail.example");
    assert_eq!(bound_name("a\tb\nc\u{0}"), "abc");
    assert_eq!(bound_name(&"é".repeat(300)).len(), MAX_NAME_LEN - 1);
    assert!(bound_text(&"x".repeat(1000)).len() <= MAX_REASON_LEN);
}

#[test]
fn serde_names() {
    let a = verified(
        vec![dkim("shadowserver.org", AuthResult::TempError)],
        Some(SpfCheck {
            domain: "shadowserver.org".into(),
            client_ip: Some("192.0.2.10".parse().unwrap()),
            result: AuthResult::SoftFail,
        }),
        dmarc(AuthResult::PermError, DmarcPolicy::Quarantine),
    );
    let json = serde_json::to_string(&a).unwrap();
    for word in [
        "\"temperror\"",
        "\"softfail\"",
        "\"permerror\"",
        "\"quarantine\"",
        "\"kind\":\"verified\"",
    ] {
        assert!(json.contains(word), "{word} in {json}");
    }
    let back: Authentication = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
    let t = Authentication {
        source: AuthSource::TrustedResults {
            authserv_id: "mx.cert.example".into(),
        },
        ..Authentication::off()
    };
    let json = serde_json::to_string(&t).unwrap();
    assert!(
        json.contains("\"kind\":\"trusted-results\",\"authserv_id\":\"mx.cert.example\""),
        "{json}"
    );
    assert_eq!(AuthResult::from_keyword("HardFail"), AuthResult::Fail);
    assert_eq!(
        AuthResult::from_keyword("bestguesspass"),
        AuthResult::PermError
    );
}
