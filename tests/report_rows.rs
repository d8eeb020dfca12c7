//! Machine-report rows follow the same rules as text: `[analysis] ignore`
//! keeps an address out of the indicators and the correlation index
//! whether it came in prose or in a Shadowserver CSV row.

mod common;
use common::*;
use std::io::Write;

fn shadowserver_mail(csv: &str) -> Vec<u8> {
    let name = "2026-11-16-scan_ntp-ignore-asn.csv";
    let mut zipped = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut zipped);
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(csv.as_bytes()).unwrap();
        w.finish().unwrap();
    }
    let b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        zipped.into_inner(),
    );
    let m = format!(
        "From: autoreports@shadowserver.example\r\nTo: cert@cert.example\r\nSubject: Shadowserver scan_ntp Report\r\n\
         Message-ID: <ignore-rows@shadowserver.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nReport attached.\r\n\
         --b\r\nContent-Type: application/zip; name=\"{name}.zip\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{name}.zip\"\r\n\r\n{b64}\r\n--b--\r\n"
    );
    from_feed(m.as_bytes())
}

fn values(t: &serde_json::Value) -> Vec<String> {
    t["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ignored_networks_are_not_indicators_in_csv_rows_either() {
    let env = Env::with_extra(&format!("{FEEDS}[analysis]\nignore = [\"10.0.0.0/8\"]\n"));
    let text = mail(
        "rep@isp.example",
        "Scan",
        Some("ignore-text@isp.example"),
        "",
        "Scans from 10.1.2.3 and 192.0.2.99",
    );
    let (id, _) = env.ingest_ok(&text);
    assert_eq!(values(&env.ticket(&id)), vec!["192.0.2.99"]);

    let csv = "timestamp,ip,protocol,port\n2026-11-16 00:00:01,10.1.2.3,udp,123\n2026-11-16 00:00:02,192.0.2.7,udp,123\n";
    let (id, _) = env.ingest_ok(&shadowserver_mail(csv));
    let t = env.ticket(&id);
    assert_eq!(values(&t), vec!["192.0.2.7"], "{}", t["indicators"]);
    // The row is still evidence on the ticket; it is only not an indicator.
    assert_eq!(t["totals"]["report_rows"], 2);
    assert!(t["report_rows"][0]
        .as_str()
        .unwrap()
        .contains("ip=10.1.2.3"));
    let found: serde_json::Value =
        serde_json::from_str(&env.ok(&["search", "10.1.2.3", "--json"])).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 0, "{found}");
}
