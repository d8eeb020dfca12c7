//! Shadowserver report mails written by others (AbuseIO's samples): every
//! zipped CSV yields its report type and all its rows, and ingesting one
//! groups the rows into one ticket per constituency, type and day. CI sets
//! CSIRTD_CORPUS; without it nothing is checked.

mod common;
use common::*;
use csirtd::analysis::shadowserver;
use serde_json::Value;
use std::path::PathBuf;

fn corpus() -> Option<PathBuf> {
    let root = std::env::var_os("CSIRTD_CORPUS").map(PathBuf::from);
    if root.is_none() {
        eprintln!("CSIRTD_CORPUS is not set: Shadowserver corpus test skipped (.ci/run sets it)");
    }
    root.map(|r| r.join("abuse/abuseio/shadowserver"))
}

/// (file, report type, data rows), the rows counted independently of csirtd.
const SAMPLES: &[(&str, &str, usize)] = &[
    (
        "2015-01-01-dns_openresolver-sample-asn.csv.zip.eml",
        "dns_openresolver",
        5,
    ),
    (
        "2015-01-01-scan_ipmi-sample-asn.csv.zip.eml",
        "scan_ipmi",
        9,
    ),
    (
        "2015-01-01-scan_memcached-sample-asn.csv.zip.eml",
        "scan_memcached",
        9,
    ),
    (
        "2015-01-01-scan_mssql-sample-asn.csv.zip.eml",
        "scan_mssql",
        10,
    ),
    (
        "2015-01-01-scan_nat_pmp-sample-asn.csv.zip.eml",
        "scan_nat_pmp",
        7,
    ),
    (
        "2015-01-01-scan_netbios-sample-asn.csv.zip.eml",
        "scan_netbios",
        8,
    ),
    ("2015-01-01-scan_ntp-sample-asn.csv.zip.eml", "scan_ntp", 9),
    (
        "2015-01-01-scan_ntpmonitor-sample-asn.csv.zip.eml",
        "scan_ntpmonitor",
        11,
    ),
    (
        "2015-01-01-scan_redis-sample-asn.csv.zip.eml",
        "scan_redis",
        13,
    ),
    (
        "2015-01-01-scan_snmp-sample-asn.csv.zip.eml",
        "scan_snmp",
        10,
    ),
    (
        "2015-01-01-scan_ssdp-sample-asn.csv.zip.eml",
        "scan_ssdp",
        9,
    ),
    (
        "2015-01-01-sinkhole_http_drone-sample-asn.csv.zip.eml",
        "sinkhole_http_drone",
        8,
    ),
    ("2019-01-06-scan_afp-sample-ip.csv.zip.eml", "scan_afp", 2),
    ("2019-10-15-scan_dns-sample-asn.csv.zip.eml", "scan_dns", 1),
    ("2019-10-15-scan_ftp-sample-asn.csv.zip.eml", "scan_ftp", 1),
    (
        "2019-10-15-scan_http-sample-asn.csv.zip.eml",
        "scan_http",
        1,
    ),
    (
        "2019-10-15-scan_ldap_tcp-sample-asn.csv.zip.eml",
        "scan_ldap_tcp",
        1,
    ),
    (
        "2019-10-15-scan_rsync-sample-asn.csv.zip.eml",
        "scan_rsync",
        1,
    ),
];

#[test]
fn every_sample_yields_its_type_and_all_its_rows() {
    let Some(dir) = corpus() else { return };
    let files = std::fs::read_dir(&dir).unwrap().flatten().count();
    assert_eq!(
        files,
        SAMPLES.len(),
        "a sample was added or removed: update SAMPLES"
    );
    for (file, kind, rows) in SAMPLES {
        let raw = std::fs::read(dir.join(file)).unwrap();
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let reports = shadowserver::parse(&m);
        assert_eq!(reports.len(), 1, "{file}");
        let r = &reports[0];
        assert_eq!(r.report_type, *kind, "{file}");
        assert_eq!(r.rows.len(), *rows, "{file}");
        assert!(!r.truncated, "{file}");
        assert!(
            r.columns.iter().any(|c| c == "ip"),
            "{file}: {:?}",
            r.columns
        );
        assert!(r.rows.iter().all(|row| row.ip.is_some()), "{file}");
        let class = csirtd::analysis::classify::from_shadowserver(&r.report_type);
        let expected = if kind.starts_with("sinkhole") {
            "malicious-code"
        } else {
            "vulnerable"
        };
        assert_eq!(class.category.as_str(), expected, "{file}");
    }
}

const CONSTITUENCIES: &str = r#"
[[constituencies]]
name = "west"
networks = ["0.0.0.0/1"]
contact = "noc@west.example"
notify_constituent = true

[[constituencies]]
name = "east"
networks = ["128.0.0.0/1"]

[[constituencies]]
name = "narrow"
networks = ["208.70.149.0/24"]
"#;

fn rows_of(t: &Value) -> usize {
    let total = t["totals"]["report_rows"].as_u64().unwrap() as usize;
    assert_eq!(
        t["report_rows"].as_array().unwrap().len(),
        total,
        "a few rows fit one page"
    );
    total
}

#[test]
fn rows_are_grouped_per_constituency_type_and_day() {
    let Some(dir) = corpus() else { return };
    let env = Env::with_extra(&format!("{}{CONSTITUENCIES}", common::FEEDS));
    let raw = common::from_feed(&std::fs::read(dir.join(SAMPLES[0].0)).unwrap());
    env.ingest_ok(&raw);
    let tickets = env.tickets();
    // 208.70.149.107 → narrow (longest prefix); 204.245.210.223 → east;
    // 40.135.0.109, 76.74.186.178, 31.42.105.195 → west.
    let mut got: Vec<(String, usize)> = tickets
        .iter()
        .map(|t| {
            let full = env.ticket(t["id"].as_str().unwrap());
            (
                full["constituency"].as_str().unwrap().to_string(),
                rows_of(&full),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![("east".into(), 1), ("narrow".into(), 1), ("west".into(), 3)]
    );
    let west = tickets
        .iter()
        .map(|t| env.ticket(t["id"].as_str().unwrap()))
        .find(|t| t["constituency"] == "west")
        .unwrap();
    assert_eq!(west["category"], "vulnerable");
    assert_eq!(west["classification"]["type"], "ddos-amplifier");
    assert!(west["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["value"] == "40.135.0.109"));

    // The same mail again is a duplicate; another mail of the same report
    // and day adds its rows to the same tickets.
    env.ingest_ok(&raw);
    assert_eq!(env.tickets().len(), 3);
    let text =
        String::from_utf8_lossy(&raw).replace("Message-ID: <", "Message-ID: <second-delivery-");
    env.ingest_ok(text.as_bytes());
    assert_eq!(env.tickets().len(), 3, "same type and day: same tickets");
    let west = env.ticket(west["id"].as_str().unwrap());
    assert_eq!(rows_of(&west), 6);
    // West asked for notifications: one per mail, with its rows.
    let to_west: Vec<Value> = env
        .outbox()
        .into_iter()
        .filter(|o| o["to"] == serde_json::json!(["noc@west.example"]))
        .collect();
    assert_eq!(to_west.len(), 2, "{to_west:#?}");
    assert!(to_west.iter().all(|o| o["ticket"] == west["id"]));
    let raw = env.ok(&[
        "ticket",
        "raw",
        west["id"].as_str().unwrap(),
        "--message",
        "2",
    ]);
    assert!(
        raw.contains("40.135.0.109") && raw.contains("76.74.186.178"),
        "{raw}"
    );
    assert!(
        !raw.contains("208.70.149.107"),
        "another constituency's row: {raw}"
    );
    let out = env.ok(&["search", "40.135.0.0/16", "--json"]);
    let found: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1, "{out}");
}
