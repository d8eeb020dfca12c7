//! `csirtd bench --web N`: the web desk over a store of N generated
//! tickets (the list's fill, with an address and a domain each) plus a few
//! real reports ingested with their messages. The daemon (this binary,
//! `run`) serves the desk on loopback; the bench logs in and times each
//! page from the request's first byte to the response's last over a fresh
//! loopback connection, which is the server's time plus well under a
//! millisecond. `csirtd search` is timed in-process on the same store for
//! the same queries, before the daemon takes the store's lock. The RSS the
//! desk adds is the daemon's idle RSS with `[web]` minus without it.

use super::signed::{cert, setup, KeyKind};
use super::TEAM;
use crate::config::Config;
use crate::store::Store;
use anyhow::{bail, Context};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench password";
const REQUESTS: usize = 200;

pub fn run(dir: &Path, n: usize, seed: u64) -> anyhow::Result<()> {
    let (_, pgp) = setup(dir, KeyKind::Ed25519)?;
    let handler = cert(KeyKind::Ed25519, "Hanna <handler@cert.example>")?;
    {
        use sequoia_openpgp::serialize::SerializeInto;
        std::fs::write(dir.join("keyring/handler.asc"), handler.armored().to_vec()?)?;
    }
    let hash = crate::web::auth::hash_password(PASSWORD).map_err(anyhow::Error::msg)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let maildir = dir.join("maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let base = format!(
        r#"
{TEAM}[store]
path = "{store}"
cache_mb = 256
[intake.maildir]
path = "{maildir}"
[outbox]
transport = "file"
[outbox.file]
dir = "{outbox}"
[sla]
first_reply_hours = 24
resolve_days = 30
{pgp}
[[handlers]]
name = "hanna"
email = "handler@cert.example"
fingerprint = "{fpr}"
"#,
        store = dir.join("store").display(),
        maildir = maildir.display(),
        outbox = dir.join("outbox").display(),
        fpr = handler.fingerprint().to_hex(),
    );
    let web = format!(
        "{base}\n[web]\nlisten = \"{addr}\"\n[[web.users]]\nname = \"bench\"\nhandler = \"hanna\"\npassword_hash = \"{hash}\"\n"
    );
    let (plain_toml, web_toml) = (dir.join("plain.toml"), dir.join("web.toml"));
    std::fs::write(&plain_toml, &base)?;
    std::fs::write(&web_toml, &web)?;
    let cfg = Config::from_toml(&web, &web_toml)?;

    super::list::fill(&cfg, n, seed, true)?;
    let full = ingest_full_tickets(&web_toml)?;
    let queries = search_queries(n);
    let cli = {
        let store = Store::open(&cfg.store.path, cfg.store.cache_mb)?;
        let mut cli = Vec::new();
        for q in &queries {
            let mut times = Vec::new();
            let mut out = Vec::new();
            let budget = Instant::now();
            // A query that scans every subject takes seconds at a
            // million tickets: then fewer repetitions.
            while times.len() < REQUESTS / 4
                && (times.len() < 3 || budget.elapsed() < Duration::from_secs(10))
            {
                out.clear();
                let t = Instant::now();
                let args = crate::cli::search::SearchArgs {
                    query: q.clone(),
                    json: false,
                    limit: 100,
                };
                crate::cli::search::run(&store, &cfg, args, &mut out)?;
                times.push(t.elapsed());
            }
            cli.push((times, out.iter().filter(|b| **b == b'\n').count()));
        }
        cli
    };

    // Idle RSS without the desk, then with it, each a fresh daemon on the
    // same store, measured the same time after it is ready.
    let plain_rss = {
        let mut d = Daemon::start(&plain_toml, dir, "plain")?;
        d.wait_for("intake started")?;
        std::thread::sleep(Duration::from_secs(3));
        let rss = d.rss_kb();
        d.stop();
        rss
    };
    let mut d = Daemon::start(&web_toml, dir, "web")?;
    d.wait_for("intake started")?;
    d.wait_for("web desk listening")?;
    std::thread::sleep(Duration::from_secs(3));
    let web_rss = d.rss_kb();
    println!(
        "idle RSS: daemon {:.1} MiB without [web], {:.1} MiB with it: the desk adds {:.1} MiB",
        plain_rss as f64 / 1024.0,
        web_rss as f64 / 1024.0,
        (web_rss as f64 - plain_rss as f64) / 1024.0
    );

    // The login form first: its pre-session cookie and token (login CSRF).
    let form = request(addr, "GET", "/login", "", "")?;
    let form_cookie =
        set_cookie(&form).with_context(|| format!("no login cookie: {}", form.head))?;
    let form_body = String::from_utf8_lossy(&form.body);
    let token = form_body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .context("no token in the login form")?;
    let login = request(
        addr,
        "POST",
        "/login",
        &form_cookie,
        &format!(
            "user=bench&password={}&csrf={}",
            PASSWORD.replace(' ', "+"),
            urlencode(token)
        ),
    )?;
    let cookie =
        set_cookie(&login).with_context(|| format!("no session from the login: {}", login.head))?;

    println!("queue page, {REQUESTS} requests each (ms: p50 / p99 / max; bytes):");
    for q in [
        "",
        "?status=open",
        "?status=open&assignee=alice",
        "?requestor=%40isp42.example",
        "?requestor=reporter42%40isp42.example",
        "?category=fraud&status=new&sort=-created",
        "?constituency=net7&tlp=red",
        "?since=7d&sort=-created",
        "?sort=status",
        "?overdue=on&status=new",
    ] {
        time_page(addr, &cookie, &format!("/queue{q}"), REQUESTS)?;
    }
    println!("ticket page:");
    let middle = crate::model::TicketId::new(2026, (n as u32 / 2).max(1));
    let mut pages = vec![format!("/ticket/{middle}")];
    pages.extend(full.iter().map(|id| format!("/ticket/{id}")));
    for p in pages {
        time_page(addr, &cookie, &p, REQUESTS)?;
    }
    println!("search page vs `csirtd search` (the same query, in-process, same store):");
    for (q, (times, lines)) in queries.iter().zip(cli) {
        let n_runs = times.len();
        let (p50, p99, _) = percentiles(times);
        println!(
            "  csirtd search {q:<36} p50 {p50:>7.2}  p99 {p99:>7.2} ms  ({lines} lines, {n_runs} runs)"
        );
        let path = format!("/search?q={}", urlencode(q));
        time_page(addr, &cookie, &path, REQUESTS / 4)?;
    }
    let busy = d.rss_kb();
    println!(
        "daemon RSS after the requests: {:.1} MiB",
        busy as f64 / 1024.0
    );
    d.stop();
    Ok(())
}

/// An address of the 40th generated ticket, its /16, a domain and a requestor.
fn search_queries(n: usize) -> Vec<String> {
    let k = (n as u64).min(40);
    let ip = super::analysis::ip_of(k);
    let o = ip.octets();
    vec![
        ip.to_string(),
        format!("{}.{}.0.0/16", o[0], o[1]),
        format!("host{}.victim{}.com", k % 100, k % 50_000),
        "reporter42@isp42.example".to_string(),
    ]
}

/// A few reports with text, HTML and an attachment through `csirtd
/// ingest`, as a ticket page normally looks; returns their ticket IDs.
fn ingest_full_tickets(config: &Path) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = (0..40)
            .map(|l| format!("line {l}: phishing at https://login{i}-{l}.bank.example.net/ from 192.0.2.{l}\r\n"))
            .collect::<String>();
        let raw = format!(
            "From: SOC <soc{i}@bank.example>\r\nTo: cert@cert.example\r\n\
             Subject: Phishing wave {i}\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n\
             Message-ID: <bench-web-{i}@bank.example>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
             --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{body}</p>\r\n\
             --b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"hosts.csv\"\r\n\r\n{body}\r\n--b--\r\n"
        );
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--config")
            .arg(config)
            .arg("ingest")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("ingest's stdin")?
            .write_all(raw.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("ingest: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // `ingest` prints the ticket ID, then what happened.
        let id = text
            .split_whitespace()
            .next()
            .with_context(|| format!("a ticket ID from ingest: {text}"))?;
        ids.push(id.to_string());
    }
    Ok(ids)
}

fn time_page(addr: SocketAddr, cookie: &str, path: &str, n: usize) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(n);
    let mut size = 0;
    let budget = Instant::now();
    while times.len() < n && (times.len() < 3 || budget.elapsed() < Duration::from_secs(20)) {
        let t = Instant::now();
        let r = request(addr, "GET", path, cookie, "")?;
        times.push(t.elapsed());
        if r.status != 200 {
            bail!("{path}: HTTP {}: {}", r.status, r.head);
        }
        size = r.body.len();
    }
    let runs = times.len();
    let (p50, p99, max) = percentiles(times);
    println!("  {path:<52} p50 {p50:>7.2}  p99 {p99:>7.2}  max {max:>7.2} ms  {size:>7} B  ({runs} runs)");
    Ok(())
}

fn percentiles(mut t: Vec<Duration>) -> (f64, f64, f64) {
    t.sort();
    let at = |q: f64| super::percentile(&t, q).as_secs_f64() * 1e3;
    (at(0.50), at(0.99), at(1.0))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// The first cookie a reply sets, as `name=value`.
fn set_cookie(r: &Reply) -> Option<String> {
    r.head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

/// One request on a fresh connection, read to its end.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> anyhow::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_nodelay(true)?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !cookie.is_empty() {
        req.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("a response head")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("a status line")?;
    Ok(Reply {
        status,
        head,
        body: raw.split_off(split + 4),
    })
}

/// The daemon, this binary's `run`, with its log in a file.
struct Daemon {
    child: Child,
    log: std::path::PathBuf,
}

impl Daemon {
    fn start(config: &Path, dir: &Path, name: &str) -> anyhow::Result<Daemon> {
        let log = dir.join(format!("daemon-{name}.log"));
        let child = Command::new(std::env::current_exe()?)
            .arg("--config")
            .arg(config)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        Ok(Daemon { child, log })
    }

    fn wait_for(&mut self, needle: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains(needle) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the daemon exited ({status}): {text}");
            }
            if Instant::now() > deadline {
                bail!("no \"{needle}\" from the daemon: {text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn rss_kb(&self) -> u64 {
        super::status_kb(&self.child.id().to_string(), "VmRSS:")
    }

    fn stop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child's PID.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}
