//! ARF reports written by others: the five RFC 5965 samples that mail-auth
//! ships with its expected parse, and a dozen mailbox providers' real
//! feedback-loop mails. CI sets CSIRTD_CORPUS; without it nothing is checked.

use csirtd::analysis::arf;
use std::path::PathBuf;

fn corpus() -> Option<PathBuf> {
    let root = std::env::var_os("CSIRTD_CORPUS").map(PathBuf::from);
    if root.is_none() {
        eprintln!("CSIRTD_CORPUS is not set: ARF corpus test skipped (.ci/run sets it)");
    }
    root
}

fn parse_file(path: &std::path::Path) -> Option<arf::ArfReport> {
    let raw = std::fs::read(path).unwrap();
    let m = mail_parser::MessageParser::default().parse(&raw)?;
    arf::parse(&m)
}

#[test]
fn mail_auth_samples_match_their_expected_fields() {
    let Some(root) = corpus() else { return };
    let dir = root.join("abuse/mail-auth-arf");
    let mut checked = 0;
    for n in 1..=5 {
        let eml = dir.join(format!("{n:03}.eml"));
        let want: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{n:03}.json"))).unwrap())
                .unwrap();
        let got =
            parse_file(&eml).unwrap_or_else(|| panic!("{}: not recognised as ARF", eml.display()));
        let case = eml.display().to_string();
        assert_eq!(
            got.feedback_type,
            want["feedback_type"]
                .as_str()
                .unwrap()
                .to_ascii_lowercase()
                .replace("authfailure", "auth-failure")
                .replace("notspam", "not-spam"),
            "{case}"
        );
        assert_eq!(
            got.user_agent.as_deref(),
            want["user_agent"].as_str(),
            "{case}"
        );
        assert_eq!(
            got.source_ip.map(|ip| ip.to_string()).as_deref(),
            want["source_ip"].as_str(),
            "{case}"
        );
        let domains: Vec<String> = want["reported_domain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_ascii_lowercase())
            .collect();
        assert_eq!(got.reported_domains, domains, "{case}");
        let uris: Vec<String> = want["reported_uri"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect();
        assert_eq!(got.reported_uris, uris, "{case}");
        if let Some(from) = want["original_mail_from"].as_str() {
            assert_eq!(
                got.original_mail_from.as_deref(),
                Some(from.trim_matches(['<', '>']).to_ascii_lowercase().as_str()),
                "{case}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn provider_feedback_loops_yield_type_and_source() {
    let Some(root) = corpus() else { return };
    let dir = root.join("abuse/abuseio/feedback-loop");
    let mut recognised = 0;
    let mut total = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        total += 1;
        if let Some(r) = parse_file(&e.path()) {
            assert!(
                !r.feedback_type.is_empty(),
                "{}: no Feedback-Type",
                e.path().display()
            );
            recognised += 1;
        }
    }
    eprintln!("feedback loops: {recognised} of {total} recognised as ARF");
    assert!(total >= 20);
    assert!(
        recognised * 4 >= total * 3,
        "only {recognised} of {total} provider reports recognised as ARF"
    );
}

#[test]
fn blocklist_de_xarf_reports_yield_source_and_type() {
    let Some(root) = corpus() else { return };
    for name in ["Blocklistde_Example_1.eml", "Blocklistde_Example_2.eml"] {
        let path = root.join("abuse/abuseio/blocklistde").join(name);
        let raw = std::fs::read(&path).unwrap();
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let r = csirtd::analysis::xarf::parse(&m)
            .unwrap_or_else(|| panic!("{name}: not recognised as X-ARF"));
        assert!(
            r.source
                .as_deref()
                .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
            "{name}: {r:?}"
        );
        assert!(r.report_type.is_some(), "{name}: {r:?}");
        assert_eq!(r.category.as_deref(), Some("abuse"), "{name}");
    }
}
