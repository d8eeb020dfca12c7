use super::*;
use crate::auth::{AuthResult, AuthSource, DmarcPolicy};

const ID: &str = "mx.cert.example";

fn msg(headers: &str) -> Vec<u8> {
    let mut m = headers.replace('\n', "\r\n").into_bytes();
    m.extend_from_slice(
        b"From: Reports <noreply@shadowserver.org>\r\nSubject: report\r\n\r\nbody\r\n",
    );
    m
}

fn trusted(a: &Authentication) -> bool {
    matches!(&a.source, AuthSource::TrustedResults { authserv_id } if authserv_id == ID)
}

#[test]
fn postfix_opendkim_header() {
    let m = msg("Received: from mail.shadowserver.org (mail.shadowserver.org [184.105.143.1])\n\
         \tby mx.cert.example (Postfix) with ESMTPS id 4Q1;\n\tMon,  1 Jun 2026 10:00:00 +0000 (UTC)\n\
         Authentication-Results: mx.cert.example;\n\
         \tdkim=pass (2048-bit key; unprotected) header.d=shadowserver.org\n\
         \theader.i=@shadowserver.org header.a=rsa-sha256 header.s=s1 header.b=XyZ1+2/=;\n\
         \tdkim-atps=neutral\n");
    let a = from_results(&m, ID);
    assert!(trusted(&a), "{a:?}");
    assert_eq!(a.dkim.len(), 1);
    assert_eq!(a.dkim[0].domain, "shadowserver.org");
    assert_eq!(a.dkim[0].selector, "s1");
    assert_eq!(a.dkim[0].result, AuthResult::Pass);
    assert!(a.spf.is_none() && a.dmarc.is_none());
    assert!(a.dkim_pass_for("shadowserver.org"));
    assert_eq!(
        a.in_words(),
        "DKIM pass for shadowserver.org (selector s1), SPF not checked, DMARC not checked, \
         as reported by mx.cert.example"
    );
}

#[test]
fn opendkim_failure_with_quoted_reason() {
    let m = msg("Authentication-Results: mx.cert.example;\n\
         \tdkim=fail reason=\"signature verification failed\" (2048-bit key; unprotected)\n\
         \theader.d=shadowserver.org header.i=@shadowserver.org header.b=\"AbCd\"\n");
    let a = from_results(&m, ID);
    assert_eq!(a.dkim[0].result, AuthResult::Fail);
    assert_eq!(
        a.dkim[0].reason.as_deref(),
        Some("signature verification failed")
    );
    assert!(!a.dkim_pass_for("shadowserver.org"));
}

#[test]
fn combined_header_with_dmarc_policy_comment_and_version() {
    // rspamd / OpenDMARC style, with an authres-version after the id.
    let m = msg("Authentication-Results: MX.Cert.Example 1;\n\
         \tdkim=pass header.d=mail.shadowserver.org header.s=s1 header.b=AbCd;\n\
         \tspf=pass (mx.cert.example: domain of noreply@shadowserver.org designates\n\
         \t 184.105.143.1 as permitted sender) smtp.mailfrom=noreply@shadowserver.org;\n\
         \tdmarc=pass (p=REJECT sp=NONE dis=NONE) header.from=shadowserver.org\n");
    let a = from_results(&m, ID);
    assert!(trusted(&a));
    let spf = a.spf.as_ref().expect("spf");
    assert_eq!(spf.result, AuthResult::Pass);
    assert_eq!(spf.domain, "shadowserver.org");
    assert_eq!(spf.client_ip, Some("184.105.143.1".parse().unwrap()));
    let d = a.dmarc.as_ref().expect("dmarc");
    assert_eq!(d.domain, "shadowserver.org");
    assert_eq!(d.policy, DmarcPolicy::Reject);
    assert_eq!(d.result, AuthResult::Pass);
    assert!(d.dkim_aligned && d.spf_aligned);
    assert!(a.dmarc_pass() && !a.dmarc_fail_enforced());
    assert!(a.dkim_pass_for("shadowserver.org"));
}

#[test]
fn gmail_style_uses_header_i_and_policy_dmarc() {
    let m = msg("Authentication-Results: mx.google.com;\n\
         \tdkim=pass header.i=@feeds.example header.s=20230601 header.b=Q2xQd3Ab;\n\
         \tspf=softfail (google.com: domain of transitioning a@bounce.example does not\n\
         \t designate 2001:db8::25 as permitted sender) smtp.mailfrom=a@bounce.example;\n\
         \tdmarc=fail policy.dmarc=quarantine header.from=feeds.example\n");
    let a = from_results(&m, "mx.google.com");
    assert_eq!(a.dkim[0].domain, "feeds.example");
    assert_eq!(a.dkim[0].selector, "20230601");
    let spf = a.spf.as_ref().expect("spf");
    assert_eq!(spf.result, AuthResult::SoftFail);
    assert_eq!(spf.domain, "bounce.example");
    assert_eq!(spf.client_ip, Some("2001:db8::25".parse().unwrap()));
    let d = a.dmarc.as_ref().expect("dmarc");
    assert_eq!(d.policy, DmarcPolicy::Quarantine);
    assert!(d.dkim_aligned && !d.spf_aligned);
    assert!(a.dmarc_fail_enforced());
}

#[test]
fn microsoft_style() {
    // Exchange Online writes no authserv-id at all: never trusted.
    let m = msg("Authentication-Results: spf=pass (sender IP is 40.107.22.52)\n \
         smtp.mailfrom=feeds.example; dkim=pass (signature was verified)\n \
         header.d=feeds.example;dmarc=pass action=none\n header.from=feeds.example;compauth=pass reason=100\n");
    let a = from_results(&m, ID);
    assert_eq!(a.source, AuthSource::Unavailable);
    assert!(a.dkim.is_empty());
    // The same resinfo behind an id: `action=` is read, `compauth` ignored.
    let m = msg("Authentication-Results: mx.cert.example; spf=fail (sender IP is 192.0.2.66)\n \
         smtp.mailfrom=bank.example; dkim=none (message not signed)\n \
         header.d=none;dmarc=fail action=oreject\n header.from=bank.example;compauth=fail reason=000\n");
    let a = from_results(&m, ID);
    assert!(trusted(&a));
    assert_eq!(a.dkim[0].result, AuthResult::None);
    assert_eq!(
        a.spf.as_ref().map(|s| s.client_ip),
        Some(Some("192.0.2.66".parse().unwrap()))
    );
    let d = a.dmarc.as_ref().expect("dmarc");
    assert_eq!(
        (d.result, d.policy),
        (AuthResult::Fail, DmarcPolicy::Reject)
    );
    assert!(a.dmarc_fail_enforced());
}

#[test]
fn forged_header_below_the_real_one_is_ignored() {
    let m = msg(
        "Authentication-Results: mx.cert.example; dkim=fail header.d=bank.example;\n\
         \tdmarc=fail (p=reject) header.from=bank.example\n\
         Received: from evil (evil [192.0.2.66]) by relay.evil.example\n\
         Authentication-Results: mx.cert.example; dkim=pass header.d=bank.example;\n\
         \tdmarc=pass header.from=bank.example\n",
    );
    let a = from_results(&m, ID);
    assert!(trusted(&a));
    assert_eq!(a.dkim.len(), 1);
    assert_eq!(a.dkim[0].result, AuthResult::Fail);
    assert!(!a.dkim_pass_for("bank.example"));
    assert!(!a.dmarc_pass() && a.dmarc_fail_enforced());
}

#[test]
fn our_id_further_down_does_not_count_when_the_topmost_is_another() {
    let m = msg(
        "Authentication-Results: evil.example; dkim=pass header.d=bank.example\n\
         Authentication-Results: mx.cert.example; dkim=pass header.d=bank.example;\n\
         \tdmarc=pass header.from=bank.example\n",
    );
    let a = from_results(&m, ID);
    assert_eq!(a.source, AuthSource::Unavailable);
    assert!(a.dkim.is_empty() && a.dmarc.is_none());
    assert_eq!(
        a.note.as_deref(),
        Some("no Authentication-Results from mx.cert.example (topmost is from evil.example)")
    );
    assert!(!a.dkim_pass_for("bank.example"));
    assert_eq!(
        a.in_words(),
        "sender authentication unavailable: no Authentication-Results from mx.cert.example \
         (topmost is from evil.example)"
    );
}

#[test]
fn our_id_as_a_substring_is_not_our_id() {
    for id in [
        "mx.cert.example.evil.example",
        "evil-mx.cert.example",
        "mx.cert.example\"",
        "\"mx.cert.example\"x",
    ] {
        let m = msg(&format!(
            "Authentication-Results: {id}; dkim=pass header.d=bank.example\n"
        ));
        let a = from_results(&m, ID);
        assert_eq!(a.source, AuthSource::Unavailable, "{id}: {a:?}");
        assert!(!a.dkim_pass_for("bank.example"), "{id}");
    }
    // A quoted id is an RFC 8601 value like any other.
    let m = msg("Authentication-Results: \"mx.cert.example\"; dkim=pass header.d=bank.example\n");
    assert!(trusted(&from_results(&m, ID)));
}

#[test]
fn missing_header_and_header_in_body() {
    let a = from_results(b"From: a@b.example\r\n\r\nbody\r\n", ID);
    assert_eq!(a.source, AuthSource::Unavailable);
    assert_eq!(
        a.note.as_deref(),
        Some("no Authentication-Results from mx.cert.example")
    );
    let a = from_results(
        b"From: a@b.example\n\nAuthentication-Results: mx.cert.example; dkim=pass header.d=b.example\n",
        ID,
    );
    assert_eq!(a.source, AuthSource::Unavailable);
    assert!(from_results(b"", ID).dkim.is_empty());
}

#[test]
fn no_result_and_garbage() {
    let a = from_results(&msg("Authentication-Results: mx.cert.example; none\n"), ID);
    assert!(trusted(&a));
    assert!(a.dkim.is_empty() && a.spf.is_none() && a.dmarc.is_none());
    assert_eq!(
        a.in_words(),
        "no DKIM signature, SPF not checked, DMARC not checked, as reported by mx.cert.example"
    );
    for garbage in [
        "mx.cert.example;;;===((((",
        "mx.cert.example; =pass; dkim=; spf",
        "mx.cert.example; dkim pass header.d=bank.example",
        "mx.cert.example; \u{0}\u{7f}\u{feff}=\u{202e}pass",
        "(((((",
        "",
        ";",
        "mx.cert.example; dkim=pass header.d",
    ] {
        let m = msg(&format!("Authentication-Results: {garbage}\n"));
        let a = from_results(&m, ID);
        assert!(!a.dkim_pass_for("bank.example"), "{garbage}: {a:?}");
        assert!(!a.dmarc_pass(), "{garbage}");
        let _ = a.in_words();
    }
    // Invalid UTF-8 in the header is read lossily, not a panic.
    let mut m = b"Authentication-Results: mx.cert.example; dkim=pass header.d=\xff\xfe.example\r\n"
        .to_vec();
    m.extend_from_slice(b"\r\n");
    let a = from_results(&m, ID);
    assert_eq!(a.dkim.len(), 1);
    assert!(!a.in_words().contains('\u{fffd}'));
}

#[test]
fn huge_headers_are_bounded() {
    let long = format!(
        "Authentication-Results: mx.cert.example; dkim=pass header.d={}.example\n",
        "a".repeat(40_000)
    );
    let a = from_results(&msg(&long), ID);
    assert_eq!(a.source, AuthSource::Unavailable);
    assert!(a.note.as_deref().unwrap_or("").contains("longer than"));

    let mut many = String::from("Authentication-Results: mx.cert.example");
    // 300 results, still under the field limit: only the first 16 count.
    for i in 0..300 {
        many.push_str(&format!(";\n dkim=pass header.d=d{i}.example"));
    }
    many.push('\n');
    let a = from_results(&msg(&many), ID);
    assert_eq!(a.dkim.len(), crate::auth::MAX_DKIM_CHECKS);

    let name = "x".repeat(300);
    let m = msg(&format!(
        "Authentication-Results: mx.cert.example; dkim=pass header.d={name}.example header.s={name}\n"
    ));
    let a = from_results(&m, ID);
    assert!(a.dkim[0].domain.len() <= crate::auth::MAX_NAME_LEN);
    assert!(a.in_words().len() < 400, "{}", a.in_words());
}

#[test]
fn comment_and_quote_injection() {
    let m = msg("Authentication-Results: mx.cert.example;\n\
         \tdkim=fail (bad (nested; dkim=pass header.d=bank.example) sig; dkim=pass) header.d=bank.example\n\
         \treason=\"x; dkim=pass header.d=bank.example\";\n\
         \tdmarc=fail (p=none; p=reject?) header.from=bank.example\n");
    let a = from_results(&m, ID);
    assert_eq!(a.dkim.len(), 1, "{a:?}");
    assert_eq!(a.dkim[0].result, AuthResult::Fail);
    assert_eq!(a.dkim[0].domain, "bank.example");
    assert_eq!(
        a.dkim[0].reason.as_deref(),
        Some("x; dkim=pass header.d=bank.example")
    );
    assert_eq!(a.dmarc.as_ref().map(|d| d.policy), Some(DmarcPolicy::None));
    assert!(!a.dkim_pass_for("bank.example"));

    // An unclosed comment swallows the rest rather than ending early.
    let m = msg("Authentication-Results: mx.cert.example; dkim=fail (oops dkim=pass header.d=bank.example;\n\
         \tdkim=pass header.d=bank.example\n");
    let a = from_results(&m, ID);
    assert_eq!(a.dkim.len(), 1);
    assert!(!a.dkim_pass_for("bank.example"));

    // Words planted in a selector or domain do not reach the notification.
    let m = msg("Authentication-Results: mx.cert.example; dkim=fail\n\
         \theader.d=\"evil.example, DKIM pass for bank.example\" header.s=\"x\\\" DMARC pass\"\n");
    let a = from_results(&m, ID);
    let w = a.in_words();
    assert_eq!(w.matches("DKIM").count(), 1, "{w}");
    assert!(!w.contains("DMARC pass"), "{w}");
    assert!(w.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{w}");
}
