//! Issue 6 benchmarks: `search` for an address over a store of generated
//! tickets (`--search-tickets N`), and one Shadowserver mail with a zipped
//! CSV of N rows through the real intake (`--shadowserver-rows N`).

use super::TEAM;
use crate::analysis::indicators::{Found, Indicator, Kind};
use crate::config::Config;
use crate::model::TicketId;
use crate::store::{Store, TicketRecord};
use crate::workflow::pipeline::Pipeline;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

pub(super) fn config(dir: &Path, extra: &str) -> anyhow::Result<Config> {
    let toml = format!(
        r#"
{TEAM}[store]
path = "{store}"
cache_mb = 256
[outbox]
transport = "file"
[outbox.file]
dir = "{outbox}"
{extra}"#,
        store = dir.join("store").display(),
        outbox = dir.join("outbox").display(),
    );
    Ok(Config::from_toml(&toml, &dir.join("bench.toml"))?)
}

pub(super) fn ip_of(i: u64) -> std::net::Ipv4Addr {
    // Spread over 10.0.0.0/8 so that ranges of all sizes hold tickets.
    std::net::Ipv4Addr::from(
        0x0a00_0000u32 | ((i.wrapping_mul(2_654_435_761)) as u32 & 0x00ff_ffff),
    )
}

/// `csirtd search QUERY` as the command line runs it, output captured.
fn search_once(store: &Store, cfg: &Config, q: &str, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let args = crate::cli::search::SearchArgs {
        query: q.to_string(),
        json: false,
        limit: 100,
    };
    crate::cli::search::run(store, cfg, args, out)
}

/// Generates `n` tickets with three indicators each (an address, a
/// domain, a URL) straight into a store, then times searches.
pub fn search(dir: &Path, n: usize, seed: u64) -> anyhow::Result<()> {
    let cfg = config(dir, "")?;
    let _ = std::fs::remove_dir_all(&cfg.store.path);
    let store = Store::open(&cfg.store.path, cfg.store.cache_mb)?;
    let now = time::OffsetDateTime::now_utc();
    let t0 = Instant::now();
    let chunk = 50_000;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seq = 0u32;
    while (seq as usize) < n {
        let mut batch = Vec::with_capacity(chunk);
        for _ in 0..chunk.min(n - seq as usize) {
            seq += 1;
            let k = u64::from(seq);
            let host = format!(
                "host{}.victim{}.example.com",
                rng.gen_range(0..100),
                k % 50_000
            );
            let mut ticket = TicketRecord::new(
                TicketId::new(2026, seq),
                format!("Report {seq} about {}", ip_of(k)),
                vec![format!("reporter{}@isp{}.example", k % 1000, k % 97)],
                now,
            );
            ticket.message_count = 1;
            let ind = |kind, value: String| Indicator {
                kind,
                value,
                source: Found::Body,
            };
            let indicators = vec![
                ind(Kind::Ipv4, ip_of(k).to_string()),
                ind(Kind::Domain, host.clone()),
                ind(Kind::Url, format!("http://{host}/login?id={k}")),
            ];
            batch.push((ticket, indicators));
        }
        store.bulk_load_tickets(&batch)?;
        // sled keeps dirty pages in memory until a flush: without one per
        // batch a million tickets take gigabytes of RAM.
        store.flush()?;
    }
    println!(
        "generated {n} tickets (3 indicators each) in {:.1} s; peak RSS {:.0} MiB",
        t0.elapsed().as_secs_f64(),
        super::peak_rss_kb() as f64 / 1024.0
    );
    drop(store);

    // Reopened, as `csirtd search` would find it.
    let t_open = Instant::now();
    let store = Store::open(&cfg.store.path, cfg.store.cache_mb)?;
    let open = t_open.elapsed();
    let mut times: Vec<(String, Duration, usize)> = Vec::new();
    let probe_ip = ip_of(u64::from(seq / 2)).to_string();
    let queries = [
        probe_ip.clone(),
        probe_ip.clone(),
        "10.1.2.0/24".to_string(),
        "10.1.0.0/16".to_string(),
        format!("victim{}.example.com", (seq / 3) % 50_000),
    ];
    for q in queries {
        let mut out = Vec::new();
        let t = Instant::now();
        search_once(&store, &cfg, &q, &mut out)?;
        let took = t.elapsed();
        let hits = out.iter().filter(|b| **b == b'\n').count();
        times.push((q, took, hits));
    }
    println!(
        "store reopened in {:.1} ms (sled recovery); peak RSS now {:.0} MiB",
        open.as_secs_f64() * 1e3,
        super::peak_rss_kb() as f64 / 1024.0
    );
    for (q, took, hits) in &times {
        println!(
            "  search {q:<32} {:>8.2} ms  ({hits} result lines, tickets loaded and printed)",
            took.as_secs_f64() * 1e3
        );
    }
    let mut ips = Vec::new();
    for i in 0..200u64 {
        let q = ip_of(i * 4_999 % u64::from(seq.max(1)) + 1).to_string();
        let t = Instant::now();
        search_once(&store, &cfg, &q, &mut Vec::new())?;
        ips.push(t.elapsed());
    }
    ips.sort();
    println!(
        "  200 random address searches: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ips[100].as_secs_f64() * 1e3,
        ips[198].as_secs_f64() * 1e3,
        ips[199].as_secs_f64() * 1e3
    );
    Ok(())
}

/// One Shadowserver mail with a zipped `scan_ntp` CSV of `rows` rows over
/// four constituencies, through parse, grouping, one commit and a flush.
pub fn shadowserver(dir: &Path, rows: usize, seed: u64) -> anyhow::Result<()> {
    let extra = r#"
[[constituencies]]
name = "net-a"
networks = ["10.0.0.0/10"]
[[constituencies]]
name = "net-b"
networks = ["10.64.0.0/10"]
[[constituencies]]
name = "net-c"
networks = ["10.128.0.0/9"]
[[constituencies]]
name = "net-c-core"
networks = ["10.200.0.0/16"]
"#;
    let cfg = config(dir, extra)?;
    let _ = std::fs::remove_dir_all(&cfg.store.path);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut csv = String::from(
        "\"timestamp\",\"ip\",\"protocol\",\"port\",\"hostname\",\"asn\",\"geo\",\"region\",\"city\",\"version\"\n",
    );
    for i in 0..rows as u64 {
        csv.push_str(&format!(
            "\"2026-11-16 {:02}:{:02}:{:02}\",\"{}\",\"udp\",123,\"host{i}.example.net\",{},\"NL\",\"NOORD-HOLLAND\",\"AMSTERDAM\",\"4\"\n",
            i / 3600 % 24,
            i / 60 % 60,
            i % 60,
            ip_of(rng.gen()),
            64_500 + i % 20,
        ));
    }
    let mut zipped = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut zipped);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("2026-11-16-scan_ntp-bench-asn.csv", opts)?;
        w.write_all(csv.as_bytes())?;
        w.finish()?;
    }
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, zipped.get_ref());
    let mut body = String::new();
    for line in b64.as_bytes().chunks(76) {
        body.push_str(&String::from_utf8_lossy(line));
        body.push_str("\r\n");
    }
    let raw = format!(
        "From: Shadowserver <autoreports@shadowserver.example>\r\nTo: cert@cert.example\r\nSubject: Shadowserver scan_ntp Report: 2026-11-16\r\nMessage-ID: <bench-{seed}@reports.shadowserver.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nReport attached.\r\n--b\r\nContent-Type: application/zip; name=\"2026-11-16-scan_ntp-bench-asn.csv.zip\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"2026-11-16-scan_ntp-bench-asn.csv.zip\"\r\n\r\n{body}--b--\r\n"
    );
    println!(
        "generated a Shadowserver mail: {rows} rows, CSV {:.1} MB, zipped {:.1} MB, mail {:.1} MB",
        csv.len() as f64 / 1e6,
        zipped.get_ref().len() as f64 / 1e6,
        raw.len() as f64 / 1e6
    );
    let store = Store::open(&cfg.store.path, cfg.store.cache_mb)?;
    let store_path = cfg.store.path.clone();
    let shown_cfg = cfg.clone();
    let pipeline = Pipeline::new(store.clone(), cfg)?;
    store.flush()?;
    let before = super::dir_size(&store_path);
    let t = Instant::now();
    let prepared = pipeline.prepare(raw.as_bytes());
    let parsed = t.elapsed();
    let done = pipeline.commit_prepared(
        prepared,
        raw.as_bytes(),
        "bench",
        time::OffsetDateTime::now_utc(),
    )?;
    let committed = t.elapsed();
    store.flush()?;
    let total = t.elapsed();
    let grown = super::dir_size(&store_path).saturating_sub(before);
    let tickets = store.tickets(None)?;
    println!(
        "store grew by {:.1} MB ({:.0} bytes per row, the mail itself {:.1} MB); peak RSS {:.0} MiB",
        grown as f64 / 1e6,
        grown as f64 / rows.max(1) as f64,
        raw.len() as f64 / 1e6,
        super::peak_rss_kb() as f64 / 1024.0
    );
    println!(
        "ingested in {:.2} s (parse and unzip {:.2} s, group and commit {:.2} s, flush {:.2} s): {} tickets, first {}",
        total.as_secs_f64(),
        parsed.as_secs_f64(),
        (committed - parsed).as_secs_f64(),
        (total - committed).as_secs_f64(),
        tickets.len(),
        done.placement.ticket()
    );
    for t in &tickets {
        let rows: u64 = store.reports(t.id)?.iter().map(|r| r.header.rows).sum();
        // What `ticket show --json` does, store open (as in the daemon).
        let shown = Instant::now();
        let json = crate::cli::ticket::ticket_json(&store, &shown_cfg, t, Default::default())?;
        let bytes = serde_json::to_string_pretty(&json)?.len();
        println!(
            "  {} {:<12} {rows} rows; ticket show --json {:.0} ms ({:.1} MB)",
            t.id,
            t.constituencies.first().map_or("-", String::as_str),
            shown.elapsed().as_secs_f64() * 1e3,
            bytes as f64 / 1e6
        );
    }
    Ok(())
}
