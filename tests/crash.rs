//! The crash test: `csirtd run` is SIGKILLed at random moments while it works
//! through a full Maildir; afterwards `run --drain` must leave exactly one
//! ticket, one stored report and one acknowledgement per report, nothing
//! lost and nothing doubled.
//!
//! The kill times come from a PRNG seeded from the clock; the seed is printed,
//! and `CSIRTD_CRASH_SEED=<seed>` replays the same schedule.

mod common;

use common::*;
use csirtd::model::Direction;
use csirtd::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Reports in the Maildir at the start.
const REPORTS: usize = 400;
/// Kill rounds at the least, and kills that must hit a non-empty `new/`.
const MIN_ROUNDS: usize = 4;
const MIN_KILLS_WITH_WORK: usize = 3;
/// The kill loop stops after this many rounds or this long, whichever is first.
const MAX_ROUNDS: usize = 30;
const MAX_LOOP: Duration = Duration::from_secs(25);

/// xorshift64*: deterministic, good enough to spread kill times.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// One report: its index, Message-ID (None for every tenth) and body marker.
struct Report {
    message_id: Option<String>,
    marker: String,
}

fn report(i: usize, seed: u64) -> (Report, Vec<u8>) {
    let domain = format!("r{}.example", i % 7);
    let message_id = (i % 10 != 3).then(|| format!("report-{i}.{seed:x}@{domain}"));
    let marker = format!("CRASH-MARKER-{i:05}-{seed:016x}");
    let body = format!(
        "Host 192.0.2.{} was seen scanning.\r\n{marker}\r\nEvidence line {i}.",
        i % 250
    );
    let raw = mail(
        &format!("reporter{i}@{domain}"),
        &format!("Scanning report {i}"),
        message_id.as_deref(),
        "",
        &body,
    );
    (Report { message_id, marker }, raw)
}

fn deliver_reports(env: &Env, reports: &mut Vec<Report>, count: usize, seed: u64) {
    for _ in 0..count {
        let i = reports.len();
        let (r, raw) = report(i, seed);
        env.deliver(
            &format!("{}.M{i:06}P777.crash.example", 1_763_800_000 + i),
            &raw,
        );
        reports.push(r);
    }
}

/// The marker index in a stored report's raw bytes.
fn marker_index(raw: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(raw);
    let at = text.find("CRASH-MARKER-")? + "CRASH-MARKER-".len();
    text.get(at..at + 5)?.parse().ok()
}

/// `cert-ex.2026-00042.ack.<hex>@cert.example.eml` → `2026-00042`.
fn ack_ticket(name: &str) -> Option<String> {
    let rest = name.strip_prefix("cert-ex.")?;
    let (id, _) = rest.split_once(".ack.")?;
    Some(id.to_string())
}

#[test]
fn sigkill_at_random_moments_neither_loses_nor_doubles_anything() {
    let seed = std::env::var("CSIRTD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("crash test seed: {seed} (replay with CSIRTD_CRASH_SEED={seed})");
    let mut rng = Rng::new(seed);

    // Hundreds of reports from seven domains within minutes, each to be
    // acknowledged: no rate limit may stand in the way.
    let env = Env::with_extra("[ack]\nrate_limit = 1000000\n");
    let mut reports = Vec::new();
    deliver_reports(&env, &mut reports, REPORTS, seed);

    let started = Instant::now();
    let mut rounds = 0;
    let mut kills_with_work = 0;
    let mut max_sleep = 400;
    loop {
        let pending = env.count_in("new");
        let work_left = pending > 0 || env.sent_files().len() < reports.len();
        let enough = rounds >= MIN_ROUNDS && kills_with_work >= MIN_KILLS_WITH_WORK;
        if (enough && !work_left) || rounds >= MAX_ROUNDS || started.elapsed() > MAX_LOOP {
            break;
        }
        if pending == 0 && kills_with_work < MIN_KILLS_WITH_WORK {
            // Too fast a machine: more mail, shorter lives.
            deliver_reports(&env, &mut reports, 100, seed);
            max_sleep = (max_sleep / 2).max(60);
            println!("new/ ran dry early: delivered 100 more ({} in all), sleeps now up to {max_sleep} ms", reports.len());
        }
        // Vary the batch size so that kills land before, during and after flushes.
        let group = [8, 32, 256][rng.range(0, 2) as usize];
        set_store_options(&env, &format!("group_commit = {group}"));
        let sleep = rng.range(30, max_sleep);

        let mut daemon = Daemon::start(&env, &["run"]);
        std::thread::sleep(Duration::from_millis(sleep));
        if let Ok(Some(status)) = daemon.child.try_wait() {
            panic!("seed {seed}: csirtd run exited by itself ({status}) in round {rounds}\n--- log ---\n{}", daemon.log());
        }
        let new_at_kill = env.count_in("new");
        daemon.kill();
        rounds += 1;
        if new_at_kill > 0 {
            kills_with_work += 1;
        }
        println!(
            "round {rounds}: group_commit {group}, killed after {sleep} ms; new/ {new_at_kill} at the kill, cur/ {}, acks written {}",
            env.count_in("cur"),
            env.sent_files().len()
        );
    }
    assert!(
        kills_with_work >= MIN_KILLS_WITH_WORK,
        "seed {seed}: only {kills_with_work} of {rounds} kills hit a non-empty new/"
    );

    set_store_options(&env, "");
    let mut drain = Daemon::start(&env, &["run", "--drain"]);
    let status = drain.wait_timeout(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "seed {seed}: run --drain after the crashes: {status:?}\n--- log ---\n{}",
        drain.log()
    );
    let total = reports.len();
    println!(
        "{rounds} kills ({kills_with_work} with new/ non-empty), {total} reports, drained in {:?}",
        started.elapsed()
    );

    let mut problems: Vec<String> = Vec::new();

    // The Maildir.
    let (new, cur) = (env.count_in("new"), env.count_in("cur"));
    if new != 0 || cur != total {
        problems.push(format!(
            "Maildir: new/ {new} (want 0), cur/ {cur} (want {total})"
        ));
    }

    // Tickets, through the command line.
    let tickets = env.tickets();
    if tickets.len() != total {
        problems.push(format!("{} tickets, want {total}", tickets.len()));
    }
    let ticket_ids: BTreeSet<String> = tickets
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect();
    for t in &tickets {
        if t["messages"] != 2 {
            problems.push(format!(
                "ticket {} has {} messages, want 2 (report + acknowledgement)",
                t["id"], t["messages"]
            ));
        }
    }

    // Stored reports: exactly one incoming message per ticket, each report
    // (by Message-ID, or by its body for those without) exactly once.
    let store =
        Store::open(&env.path("store"), 16).expect("open the store after the daemon stopped");
    let mut seen: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for t in store.tickets(None).expect("tickets") {
        let incoming: Vec<_> = store
            .messages(t.id)
            .expect("messages")
            .into_iter()
            .filter(|m| m.direction == Direction::In)
            .collect();
        if incoming.len() != 1 {
            let ids: Vec<_> = incoming
                .iter()
                .map(|m| (m.message_id.clone(), m.origin.clone()))
                .collect();
            problems.push(format!(
                "ticket {} has {} incoming messages: {ids:?}",
                t.id,
                incoming.len()
            ));
        }
        for m in incoming {
            let raw = store.raw(m.seq).expect("raw").unwrap_or_default();
            let Some(i) = marker_index(&raw).filter(|&i| i < total) else {
                problems.push(format!(
                    "ticket {}: message {} ({:?}) is none of ours",
                    t.id, m.seq, m.message_id
                ));
                continue;
            };
            let r = &reports[i];
            if m.message_id != r.message_id {
                problems.push(format!(
                    "ticket {}: report {i} stored with Message-ID {:?}, sent {:?}",
                    t.id, m.message_id, r.message_id
                ));
            }
            if !String::from_utf8_lossy(&raw).contains(&r.marker) {
                problems.push(format!("ticket {}: report {i} has the wrong body", t.id));
            }
            seen.entry(i)
                .or_default()
                .push(format!("{} via {}", t.id, m.origin));
        }
    }
    drop(store);
    for (i, r) in reports.iter().enumerate() {
        let what = r.message_id.as_ref().map_or_else(
            || format!("no Message-ID, {}", r.marker),
            |m| format!("<{m}>"),
        );
        match seen.get(&i).map(Vec::as_slice) {
            None | Some([]) => {
                problems.push(format!("report {i} ({what}) is missing from the store"))
            }
            Some([_]) => {}
            Some(many) => problems.push(format!(
                "report {i} ({what}) is stored {} times: {many:?}",
                many.len()
            )),
        }
    }

    // Acknowledgements on disk: one `.eml` per ticket.
    let names = sent_names(&env);
    let mut per_ticket: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in &names {
        match ack_ticket(n) {
            Some(id) => per_ticket.entry(id).or_default().push(n.clone()),
            None => problems.push(format!("unexpected file in the outbox directory: {n}")),
        }
    }
    if names.len() != total {
        problems.push(format!(
            "{} .eml files in the outbox directory, want {total}",
            names.len()
        ));
    }
    for (id, files) in &per_ticket {
        if files.len() != 1 {
            problems.push(format!(
                "ticket {id} has {} acknowledgements: {files:?}",
                files.len()
            ));
        }
        if !ticket_ids.contains(id) {
            problems.push(format!(
                "acknowledgement for ticket {id}, which does not exist: {files:?}"
            ));
        }
    }
    for id in &ticket_ids {
        if !per_ticket.contains_key(id) {
            problems.push(format!("ticket {id} has no acknowledgement file"));
        }
    }

    // The outbox records: all sent, each the file that was written.
    let outbox = env.outbox();
    if outbox.len() != total {
        problems.push(format!("outbox has {} entries, want {total}", outbox.len()));
    }
    let on_disk: BTreeSet<&String> = names.iter().collect();
    let mut outbox_tickets: BTreeMap<String, usize> = BTreeMap::new();
    for o in &outbox {
        if o["state"] != "sent" {
            problems.push(format!("outbox entry {} not sent: {o}", o["id"]));
        }
        let file = format!("{}.eml", o["message_id"].as_str().unwrap_or("?"));
        if !on_disk.contains(&file) {
            problems.push(format!(
                "outbox entry {} was not written as {file}",
                o["id"]
            ));
        }
        *outbox_tickets
            .entry(o["ticket"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    for (id, n) in outbox_tickets.iter().filter(|(_, n)| **n != 1) {
        problems.push(format!("ticket {id} has {n} outbox entries"));
    }

    if !problems.is_empty() {
        let shown = problems.len().min(40);
        panic!(
            "seed {seed}: {} problem(s) after {rounds} kills (replay with CSIRTD_CRASH_SEED={seed}):\n  {}{}\n--- drain log (tail) ---\n{}",
            problems.len(),
            problems[..shown].join("\n  "),
            if problems.len() > shown { "\n  …" } else { "" },
            tail(&drain.log(), 40)
        );
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
