//! Issue 13's exhaustion cases: per-message budgets hold for the whole
//! message, not per part. Each case runs `csirtd ingest` as a child and
//! reads that child's own peak RSS (wait4), which must stay under 512 MiB;
//! the message is stored whole, flagged `over-budget` when a budget
//! stopped its analysis, with a warning naming the budget.
//!
//! With CSIRTD_BUDGET_MAILS=DIR set, the generated mails are also written
//! there, to measure other builds against them by hand.

mod common;
use common::*;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;
const RSS_LIMIT_MIB: f64 = 512.0;

struct Measured {
    code: i32,
    stdout: String,
    stderr: String,
    rss_mib: f64,
    took: Duration,
}

/// Runs `csirtd ingest FILE` and reaps it with wait4, which reports the
/// child's own peak RSS (RUSAGE_CHILDREN would mix in other tests' children).
// The child is reaped by wait4, which clippy does not see.
#[allow(clippy::zombie_processes)]
fn ingest_measured(env: &Env, name: &str, raw: &[u8], vars: &[(&str, &str)]) -> Measured {
    if let Some(dir) = std::env::var_os("CSIRTD_BUDGET_MAILS") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(Path::new(&dir).join(format!("{name}.eml")), raw);
    }
    let file = env.path(&format!("{name}.eml"));
    std::fs::write(&file, raw).unwrap();
    let (out, err) = (env.path("ingest.out"), env.path("ingest.err"));
    let start = Instant::now();
    let child = env
        .cmd()
        .arg("ingest")
        .arg(&file)
        .envs(vars.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("spawn ingest");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, and wait4 reaps only our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let took = start.elapsed();
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    Measured {
        code,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        // Linux reports kilobytes.
        rss_mib: usage.ru_maxrss as f64 / 1024.0,
        took,
    }
}

/// Stored whole, within the memory bound; the ticket's ID.
fn stored_within_bounds(m: &Measured, what: &str, max_secs: u64) -> String {
    eprintln!(
        "{what}: exit {}, peak RSS {:.0} MiB, {:.2} s",
        m.code,
        m.rss_mib,
        m.took.as_secs_f64()
    );
    assert_eq!(m.code, 0, "{what}: {}", m.stderr);
    assert!(
        m.rss_mib < RSS_LIMIT_MIB,
        "{what}: peak RSS {:.0} MiB",
        m.rss_mib
    );
    assert!(
        m.took < Duration::from_secs(max_secs),
        "{what}: took {:?}",
        m.took
    );
    m.stdout
        .split_whitespace()
        .next()
        .expect("ticket id")
        .to_string()
}

fn zip_csv(name: &str, chunks: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .large_file(true);
        w.start_file(name, opts).unwrap();
        for c in chunks {
            w.write_all(&c).unwrap();
        }
        w.finish().unwrap();
    }
    buf.into_inner()
}

/// `header` then `row` repeated to `total` bytes, in 1 MiB chunks.
fn repeated(header: &str, row: &str, total: usize) -> impl Iterator<Item = Vec<u8>> {
    let per_chunk = MIB / row.len();
    let chunk: Vec<u8> = row.repeat(per_chunk).into_bytes();
    let first = header.as_bytes().to_vec();
    std::iter::once(first).chain(std::iter::repeat_n(chunk, total / MIB))
}

fn b64_lines(bytes: &[u8]) -> String {
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    let mut out = String::with_capacity(b64.len() * 78 / 76 + 2);
    for line in b64.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push_str("\r\n");
    }
    out
}

/// A Shadowserver-like mail with the given (file name, bytes) attachments.
fn report_mail(mid: &str, attachments: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut m = format!(
        "From: Shadowserver <autoreports@shadowserver.example>\r\nTo: cert@cert.example\r\n\
         Subject: Shadowserver scan_ntp Report: 2026-11-16\r\nMessage-ID: <{mid}@reports.shadowserver.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nReport attached.\r\n"
    );
    for (name, bytes) in attachments {
        m.push_str(&format!(
            "--b\r\nContent-Type: application/zip; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{}",
            b64_lines(bytes)
        ));
    }
    m.push_str("--b--\r\n");
    common::from_feed(m.as_bytes())
}

const HEADER: &str = "timestamp,ip,protocol,port\n";
const ROW: &str = "2026-11-16 00:00:00,192.0.2.7,udp,123\n";

/// The zip bomb: a zipped CSV of about 290 KB named like a
/// Shadowserver report, of short identical rows that unpack to 72 MiB:
/// past the unpacking budget, and 1.9 million rows.
fn bomb(n: usize) -> (String, Vec<u8>) {
    let name = format!("2026-11-16-scan_ntp-bomb{n}-asn.csv");
    let zip = zip_csv(&name, repeated(HEADER, ROW, 72 * MIB));
    (format!("{name}.zip"), zip)
}

fn store_size(env: &Env) -> u64 {
    fn walk(p: &Path) -> u64 {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => walk(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&env.path("store"))
}

/// Ingests within the memory and time bounds, the store growing by less
/// than `max_mib`; the ticket's ID and JSON.
fn ingest_into_bounded_store(
    env: &Env,
    name: &str,
    what: &str,
    raw: &[u8],
    max_mib: u64,
) -> (String, Value) {
    let before = store_size(env);
    let m = ingest_measured(env, name, raw, &[]);
    let id = stored_within_bounds(&m, what, 60);
    let grown = store_size(env).saturating_sub(before);
    eprintln!("{what}: store grew by {grown} bytes");
    assert!(grown < max_mib * MIB as u64, "store grew by {grown} bytes");
    let t = env.ticket(&id);
    (id, t)
}

fn warnings(t: &Value) -> Vec<String> {
    t["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "warning")
        .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn assert_over(t: &Value, keys: &[&str]) {
    assert!(
        ticket_flags(t).contains(&"over-budget".into()),
        "{:?}",
        t["flags"]
    );
    let w = warnings(t);
    for k in keys {
        assert!(
            w.iter().any(|d| d.contains(k)),
            "no warning names {k}: {w:?}"
        );
    }
}

/// The raw bytes kept are the bytes received.
fn assert_stored_whole(env: &Env, id: &str, raw: &[u8]) {
    let out = env.cmd().args(["ticket", "raw", id]).output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout == raw, "stored bytes differ from the input");
}

#[test]
fn a_zipped_csv_that_unpacks_to_72_mib_stops_at_the_budgets() {
    let env = Env::with_extra(common::FEEDS);
    let (name, zip) = bomb(1);
    let raw = report_mail("bomb-one", &[(name, zip)]);
    eprintln!("one zipped CSV bomb: mail of {} bytes", raw.len());
    assert!(raw.len() < 500_000, "{} bytes", raw.len());
    let (id, t) = ingest_into_bounded_store(&env, "one-zip-bomb", "one zipped CSV bomb", &raw, 16);
    assert_over(
        &t,
        &["limits.max_decompressed_bytes", "limits.max_csv_rows"],
    );
    assert_eq!(t["totals"]["report_rows"], 250_000);
    assert_eq!(t["machine_reports"][0]["truncated"], true);
    assert_stored_whole(&env, &id, &raw);
}

#[test]
fn rows_past_the_row_budget_are_cut() {
    let env = Env::with_extra(&format!(
        "{}{}",
        common::FEEDS,
        "[limits]\nmax_csv_rows = 1000\n"
    ));
    let name = "2026-11-16-scan_ntp-rows-asn.csv".to_string();
    let zip = zip_csv(
        &name,
        [format!("{HEADER}{}", ROW.repeat(5000)).into_bytes()].into_iter(),
    );
    let (id, _) = env.ingest_ok(&report_mail("many-rows", &[(format!("{name}.zip"), zip)]));
    let t = env.ticket(&id);
    assert_over(&t, &["limits.max_csv_rows = 1000"]);
    assert_eq!(t["totals"]["report_rows"], 1000);
}

#[test]
fn three_zipped_csvs_share_one_budget() {
    let env = Env::with_extra(common::FEEDS);
    let raw = report_mail("bomb-three", &[bomb(1), bomb(2), bomb(3)]);
    let m = ingest_measured(&env, "three-zip-bombs", &raw, &[]);
    let id = stored_within_bounds(&m, "three zipped CSV bombs", 60);
    let t = env.ticket(&id);
    assert_over(&t, &["limits.max_decompressed_bytes"]);
    let rows = t["totals"]["report_rows"].as_u64().unwrap();
    assert!(rows <= 250_000, "{rows} rows");
    assert_stored_whole(&env, &id, &raw);
}

#[test]
fn identical_rows_are_one_compact_record_and_show_pages_them() {
    let env = Env::with_extra(common::FEEDS);
    let name = "2026-11-16-scan_ntp-same-asn.csv".to_string();
    let zip = zip_csv(
        &name,
        repeated(HEADER, ROW, 0).chain([ROW.repeat(250_000).into_bytes()]),
    );
    let raw = report_mail("same-rows", &[(format!("{name}.zip"), zip)]);
    // The mail was 8.8 KB; our zip writer packs these rows less tightly.
    eprintln!("250,000 identical rows: mail of {} bytes", raw.len());
    assert!(raw.len() < 64_000, "{} bytes", raw.len());
    let (id, t) = ingest_into_bounded_store(
        &env,
        "250k-identical-rows",
        "250,000 identical rows",
        &raw,
        8,
    );
    assert!(
        !ticket_flags(&t).contains(&"over-budget".into()),
        "at the budget, not over it"
    );
    assert_eq!(t["totals"]["report_rows"], 250_000);
    assert_eq!(t["report_rows"].as_array().unwrap().len(), 1000, "one page");
    assert!(
        t["events"].as_array().unwrap().len() < 10,
        "rows are not events: {}",
        t["events"]
    );
    let page = env.ok(&[
        "ticket", "show", &id, "--json", "--page", "250", "--limit", "1000",
    ]);
    let page: Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["report_rows"].as_array().unwrap().len(), 1000);
    assert_eq!(page["page"]["number"], 250);
    let human = env.ok(&["ticket", "show", &id, "--limit", "5"]);
    assert!(
        human.contains("report rows: (1–5 of 250000; --page 2 for more)"),
        "{human}"
    );
}

#[test]
fn ticket_show_of_a_250k_row_report_with_250k_addresses_is_bounded() {
    let env = Env::with_extra(common::FEEDS);
    let name = "2026-11-16-scan_ntp-wide-asn.csv".to_string();
    let mut csv = String::from(HEADER);
    for i in 0..250_000u32 {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
        csv.push_str(&format!("2026-11-16 00:00:00,{ip},udp,123\n"));
    }
    let zip = zip_csv(&name, [csv.into_bytes()].into_iter());
    let raw = report_mail("wide-rows", &[(format!("{name}.zip"), zip)]);
    let m = ingest_measured(&env, "250k-distinct-rows", &raw, &[]);
    let id = stored_within_bounds(&m, "250,000 rows, 250,000 addresses", 180);
    let start = Instant::now();
    let out = env.ok(&["ticket", "show", &id, "--json"]);
    let took = start.elapsed();
    eprintln!(
        "ticket show --json of 250,000 rows and addresses: {:.2} s, {} bytes",
        took.as_secs_f64(),
        out.len()
    );
    assert!(took < Duration::from_secs(5), "ticket show took {took:?}");
    let t: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(t["totals"]["indicators"], 250_000);
    assert_eq!(t["totals"]["report_rows"], 250_000);
    assert_eq!(t["indicators"].as_array().unwrap().len(), 1000);
    assert_eq!(t["report_rows"].as_array().unwrap().len(), 1000);
}

/// One armored OpenPGP message: a bzip2-compressed literal packet of
/// `mib` MiB of zeros (what `gpg --store --compress-algo bzip2 -z 9` makes).
fn compressed_block(mib: usize) -> String {
    use sequoia_openpgp::serialize::stream::{Armorer, Compressor, LiteralWriter, Message};
    use sequoia_openpgp::types::{CompressionAlgorithm, CompressionLevel};
    let mut sink = Vec::new();
    {
        let m = Message::new(&mut sink);
        let m = Armorer::new(m).build().unwrap();
        let m = Compressor::new(m)
            .algo(CompressionAlgorithm::BZip2)
            .level(CompressionLevel::best())
            .build()
            .unwrap();
        let mut w = LiteralWriter::new(m).build().unwrap();
        let zeros = vec![0u8; MIB];
        for _ in 0..mib {
            w.write_all(&zeros).unwrap();
        }
        w.finalize().unwrap();
    }
    String::from_utf8(sink).unwrap()
}

#[test]
fn eight_compressed_openpgp_blocks_share_one_budget() {
    let env = Env::new();
    let block = compressed_block(256);
    let mut body = String::new();
    for i in 0..8 {
        body.push_str(&format!("Part {i}:\r\n{block}\r\n"));
    }
    let raw = format!(
        "From: eve@evil.example\r\nTo: cert@cert.example\r\nSubject: blocks\r\n\
         Message-ID: <eight-blocks@evil.example>\r\n\r\n{body}"
    )
    .into_bytes();
    assert!(raw.len() < 8_000, "{} bytes", raw.len());
    let m = ingest_measured(&env, "eight-bzip2-blocks", &raw, &[]);
    let id = stored_within_bounds(&m, "eight bzip2 OpenPGP blocks", 30);
    let t = env.ticket(&id);
    assert_over(&t, &["limits.max_decompressed_bytes"]);
    assert!(
        !ticket_flags(&t).contains(&"decryption-failed".into()),
        "compressed, not encrypted: {:?}",
        t["flags"]
    );
    assert_stored_whole(&env, &id, &raw);
}

#[test]
fn more_signatures_than_the_verification_budget_are_flagged() {
    let env = Env::with_extra("[limits]\nmax_verifications = 2\n");
    let block = compressed_block(1);
    let body: String = (0..3)
        .map(|i| format!("Part {i}:\r\n{block}\r\n"))
        .collect();
    let raw = format!(
        "From: eve@evil.example\r\nTo: cert@cert.example\r\nSubject: three\r\n\
         Message-ID: <three-blocks@evil.example>\r\n\r\n{body}"
    );
    let (id, _) = env.ingest_ok(raw.as_bytes());
    assert_over(&env.ticket(&id), &["limits.max_verifications = 2"]);
}

#[test]
fn the_indicator_budget_counts_report_rows() {
    let env = Env::with_extra(&format!(
        "{}{}",
        common::FEEDS,
        "[limits]\nmax_indicators = 10\n"
    ));
    let name = "2026-11-16-scan_ntp-few-asn.csv".to_string();
    let mut csv = String::from(HEADER);
    for i in 0..50 {
        csv.push_str(&format!("2026-11-16 00:00:00,198.51.100.{i},udp,123\n"));
    }
    let zip = zip_csv(&name, [csv.into_bytes()].into_iter());
    let raw = report_mail("few-rows", &[(format!("{name}.zip"), zip)]);
    let (id, _) = env.ingest_ok(&raw);
    let t = env.ticket(&id);
    assert_over(&t, &["limits.max_indicators = 10"]);
    assert_eq!(t["totals"]["indicators"], 10);
    assert_eq!(
        t["totals"]["report_rows"], 50,
        "rows are kept; only indexing stops"
    );
}

#[test]
fn the_budgets_are_configured_and_checked() {
    let env = Env::with_extra(&format!(
        "{}{}",
        common::FEEDS,
        "[limits]\nmax_csv_rows = 0\n"
    ));
    let out = env.run(&["check-config"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("limits.max_csv_rows"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
