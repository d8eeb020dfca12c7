//! `csirtd stats` on a scripted history with known answers. The history
//! is made by the real workflow at chosen times — reports through the
//! pipeline (`process_at`), replies, notes and status changes through the
//! handler's desk, a held acknowledgement released from the outbox — and
//! the figures are read from the built binary: exact p50/p90 per group,
//! tickets without a reply counted as "none yet" (never 0), notifications
//! and acknowledgements never taken for a handler's reply, periods given
//! as dates, and a chart with a slot for every day, empty days included.

mod common;
use common::gpg::{fingerprint, handler_env, Gpg};
use common::*;
use csirtd::config::{Config, EncryptPolicy};
use csirtd::model::{Status, TicketId};
use csirtd::store::{OutboxState, Store};
use csirtd::workflow::commands::Command;
use csirtd::workflow::desk::{self, Actor};
use csirtd::workflow::pipeline::Pipeline;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const H: i64 = 3600;

fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap_or_else(|e| panic!("{s}: {e}"))
}

struct History {
    env: Env,
    /// The tickets created within 2026-03-01..=2026-03-10, in order.
    march: Vec<String>,
}

/// Tickets, UTC (ack: time to acknowledge; reply: first handler reply):
///
/// | ticket | created     | category     | constituency | ack          | reply   | resolved |
/// |--------|-------------|--------------|--------------|--------------|---------|----------|
/// | T0     | 02-20 08:00 | fraud        | university   | 0            | 1 h     | -        |
/// | T1     | 03-02 08:00 | fraud        | university   | 0            | 2 h     | 24 h     |
/// | T2     | 03-02 12:00 | fraud        | university   | 30 min (rel.)| 6 h     | -        |
/// | T3     | 03-04 09:00 | unclassified | isp          | 0            | -, note | 24 h     |
/// | T4     | 03-06 10:00 | fraud        | isp          | - (held)     | 1 h     | 4 h      |
/// | T5     | 03-09 00:00 | unclassified | none         | 0            | -       | -        |
/// | T6     | 04-02 08:00 | unclassified | none         | 0            | -       | -        |
fn history() -> History {
    let hanna = Gpg::new();
    hanna.gen("Hanna <handler@cert.example>");
    let bob = Gpg::new();
    bob.gen("Bob <bob@cert.example>");
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let bob_fpr = fingerprint(&bob, "bob@cert.example");
    // The first line lands in hanna's [[handlers]] table.
    let env = handler_env(
        &team,
        &hanna,
        &[(&bob, "bob@cert.example")],
        &format!(
            "unix_user = \"deskuser\"\n\
             [[handlers]]\nname = \"bob\"\nemail = \"bob@cert.example\"\nfingerprint = \"{bob_fpr}\"\n\
             [ack]\nencrypt = \"never\"\n\
             [analysis]\n[[analysis.rules]]\npattern = \"phish\"\ncategory = \"fraud/phishing\"\n\
             [[constituencies]]\nname = \"university\"\nnetworks = [\"192.0.2.0/24\"]\ncontact = \"noc@uni.example\"\n\
             [[constituencies]]\nname = \"isp\"\nnetworks = [\"198.51.100.0/24\"]\ncontact = \"noc@isp.example\"\n"
        ),
    );
    let cfg = Config::load(&env.config).expect("config");
    // Acknowledgements to reporters without a key are held under `always`:
    // one is released later, one never is.
    let mut holding = cfg.clone();
    holding.ack.encrypt = EncryptPolicy::Always;
    let store = Store::open(&cfg.store.path, 8).expect("store");
    let plain = Pipeline::new(store.clone(), cfg.clone()).expect("pipeline");
    let held = Pipeline::new(store.clone(), holding).expect("pipeline");
    let mut n = 0;
    let mut report = |p: &Pipeline, subject: &str, body: &str, when: &str| -> TicketId {
        n += 1;
        let from = format!("r{n}@bank{n}.example");
        let raw = mail(
            &from,
            subject,
            Some(&format!("m{n}@bank{n}.example")),
            "",
            body,
        );
        let id = p
            .process_at(&raw, "stdin", at(when))
            .expect("process")
            .placement
            .ticket();
        store.flush().expect("flush");
        id
    };
    let hanna_desk = Actor {
        handler: Some("hanna".into()),
        unix_user: "deskuser".into(),
        web_user: None,
    };
    let reply = |id: TicketId, when: &str| {
        let (replied, _) =
            desk::reply(&store, &cfg, id, "We are on it.", &hanna_desk, at(when)).expect("reply");
        assert_eq!(replied.queued.len(), 1, "{replied:?}");
    };
    let note = |id: TicketId, when: &str| {
        desk::note(&store, &cfg, id, "Looked at it.", &hanna_desk, at(when)).expect("note");
    };
    let resolve = |id: TicketId, when: &str| {
        desk::command(
            &store,
            &cfg,
            id,
            &Command::Status(Status::Resolved),
            &hanna_desk,
            at(when),
        )
        .expect("status");
    };
    let release_ack = |id: TicketId, when: &str| {
        let rec = store
            .outbox()
            .expect("outbox")
            .into_iter()
            .find(|r| r.ticket == id && r.state == OutboxState::Held)
            .expect("a held acknowledgement");
        store
            .release_held(rec.id, b"sealed again", "encrypted", "hanna", at(when))
            .expect("release");
    };

    let t0 = report(
        &plain,
        "Phishing",
        "Kit on 192.0.2.1",
        "2026-02-20T08:00:00Z",
    );
    reply(t0, "2026-02-20T09:00:00Z");
    let t1 = report(
        &plain,
        "Phishing site",
        "On 192.0.2.7",
        "2026-03-02T08:00:00Z",
    );
    note(t1, "2026-03-02T08:30:00Z");
    reply(t1, "2026-03-02T10:00:00Z");
    resolve(t1, "2026-03-03T08:00:00Z");
    let t2 = report(
        &held,
        "Phishing kit",
        "At 192.0.2.9",
        "2026-03-02T12:00:00Z",
    );
    release_ack(t2, "2026-03-02T12:30:00Z");
    reply(t2, "2026-03-02T18:00:00Z");
    let t3 = report(&plain, "Scan", "From 198.51.100.5", "2026-03-04T09:00:00Z");
    note(t3, "2026-03-04T10:00:00Z");
    resolve(t3, "2026-03-05T09:00:00Z");
    let t4 = report(
        &held,
        "Phishing mail",
        "Via 198.51.100.20",
        "2026-03-06T10:00:00Z",
    );
    reply(t4, "2026-03-06T11:00:00Z");
    resolve(t4, "2026-03-06T14:00:00Z");
    let t5 = report(
        &plain,
        "A question",
        "Whom do I ask?",
        "2026-03-09T00:00:00Z",
    );
    report(&plain, "Later", "Nothing to see", "2026-04-02T08:00:00Z");
    store.flush().expect("flush");
    drop((plain, held, store));
    History {
        env,
        march: [t1, t2, t3, t4, t5].iter().map(|t| t.to_string()).collect(),
    }
}

fn stats(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["stats"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = env.ok(&all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn fig(count: u64, none_yet: u64, p50: Option<i64>, p90: Option<i64>) -> Value {
    json!({"count": count, "none_yet": none_yet, "p50_secs": p50, "p90_secs": p90})
}

#[test]
fn stats_on_a_scripted_history_have_the_known_answers() {
    let h = history();
    let env = &h.env;

    // The history holds outgoing mail that is neither an acknowledgement
    // nor a reply (notifications of the notes and of new tickets): the
    // old count took these for handler replies.
    let t3 = env.ticket(&h.march[2]);
    let out_kinds: Vec<&str> = t3["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "out")
        .map(|m| m["origin"].as_str().unwrap())
        .collect();
    assert!(out_kinds.contains(&"notify"), "{out_kinds:?}\n{t3:#}");
    assert!(!out_kinds.contains(&"relay"), "{out_kinds:?}");

    let s = stats(env, &["--since", "2026-03-01", "--until", "2026-03-10"]);
    assert_eq!(s["tickets"], 5, "{s:#}");
    assert_eq!(s["period"]["first_day"], "2026-03-01");
    assert_eq!(s["period"]["last_day"], "2026-03-10");
    assert_eq!(s["period"]["until"], "2026-03-11T00:00:00Z");
    assert_eq!(s["period"]["bucket"], "day");
    assert_eq!(s["by_category"], json!({"fraud": 3, "unclassified": 2}));
    assert_eq!(
        s["by_constituency"],
        json!({"isp": 2, "none": 1, "university": 2})
    );
    assert_eq!(
        s["by_status"],
        json!({"new": 1, "open": 1, "resolved": 3}),
        "{s:#}"
    );

    let all = &s["times"]["overall"];
    assert_eq!(all["tickets"], 5);
    assert_eq!(all["acknowledge"], fig(4, 1, Some(0), Some(1800)), "{s:#}");
    assert_eq!(
        all["first_reply"],
        fig(3, 2, Some(2 * H), Some(6 * H)),
        "{s:#}"
    );
    assert_eq!(
        all["resolve"],
        fig(3, 2, Some(24 * H), Some(24 * H)),
        "{s:#}"
    );

    let cat = &s["times"]["by_category"];
    assert_eq!(cat["fraud"]["acknowledge"], fig(2, 1, Some(0), Some(1800)));
    assert_eq!(
        cat["fraud"]["first_reply"],
        fig(3, 0, Some(2 * H), Some(6 * H))
    );
    assert_eq!(
        cat["fraud"]["resolve"],
        fig(2, 1, Some(4 * H), Some(24 * H))
    );
    // Notes told to the handlers, acknowledgements: no reply, and not a 0.
    assert_eq!(cat["unclassified"]["first_reply"], fig(0, 2, None, None));
    assert_eq!(
        cat["unclassified"]["acknowledge"],
        fig(2, 0, Some(0), Some(0))
    );
    assert_eq!(
        cat["unclassified"]["resolve"],
        fig(1, 1, Some(24 * H), Some(24 * H))
    );

    let con = &s["times"]["by_constituency"];
    assert_eq!(con["university"]["tickets"], 2);
    assert_eq!(
        con["university"]["first_reply"],
        fig(2, 0, Some(2 * H), Some(6 * H))
    );
    assert_eq!(
        con["university"]["acknowledge"],
        fig(2, 0, Some(0), Some(1800))
    );
    assert_eq!(con["isp"]["first_reply"], fig(1, 1, Some(H), Some(H)));
    assert_eq!(con["isp"]["acknowledge"], fig(1, 1, Some(0), Some(0)));
    assert_eq!(con["isp"]["resolve"], fig(2, 0, Some(4 * H), Some(24 * H)));
    assert_eq!(con["none"]["first_reply"], fig(0, 1, None, None));

    // One entry per day of the period, empty days as zero.
    let series = s["series"].as_array().unwrap();
    let per_day: Vec<(String, u64, Value)> = series
        .iter()
        .map(|b| {
            (
                b["start"].as_str().unwrap().to_string(),
                b["tickets"].as_u64().unwrap(),
                b["first_reply_p50_secs"].clone(),
            )
        })
        .collect();
    let expected: Vec<(String, u64, Value)> = [
        ("01", 0, Value::Null),
        ("02", 2, json!(2 * H)),
        ("03", 0, Value::Null),
        ("04", 1, Value::Null),
        ("05", 0, Value::Null),
        ("06", 1, json!(H)),
        ("07", 0, Value::Null),
        ("08", 0, Value::Null),
        ("09", 1, Value::Null),
        ("10", 0, Value::Null),
    ]
    .into_iter()
    .map(|(d, n, v)| (format!("2026-03-{d}"), n, v))
    .collect();
    assert_eq!(per_day, expected);
    assert_eq!(series[3]["first_reply_none_yet"], 1);

    // The same figures in words; the unanswered group shows none, not 0.
    let text = env.ok(&["stats", "--since", "2026-03-01", "--until", "2026-03-10"]);
    assert!(
        text.starts_with("5 tickets created 2026-03-01 to 2026-03-10 (UTC)"),
        "{text}"
    );
    let block: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("  category unclassified"))
        .take(4)
        .collect();
    assert!(block[2].contains("to first handler reply"), "{text}");
    let cells: Vec<&str> = block[2].split_whitespace().collect();
    assert_eq!(cells[4..], ["-", "-", "0", "2"], "{text}");
}

#[test]
fn periods_by_date_and_time_and_a_chart_of_every_day() {
    let h = history();
    let env = &h.env;

    // RFC 3339 bounds: from T2 exactly up to (not including) T4.
    let s = stats(
        env,
        &[
            "--since",
            "2026-03-02T12:00:00Z",
            "--until",
            "2026-03-06T10:00:00Z",
        ],
    );
    assert_eq!(s["tickets"], 2, "{s:#}");
    assert_eq!(s["by_category"], json!({"fraud": 1, "unclassified": 1}));

    // A quarter: weekly buckets from the Monday before to the last week.
    let q = stats(env, &["--since", "2026-01-01", "--until", "2026-03-31"]);
    assert_eq!(q["tickets"], 6, "{q:#}");
    assert_eq!(q["period"]["bucket"], "week");
    let weeks = q["series"].as_array().unwrap();
    assert_eq!(weeks.len(), 14);
    assert_eq!(weeks[0]["start"], "2025-12-29");
    assert_eq!(weeks[13]["start"], "2026-03-30");
    assert_eq!(
        weeks
            .iter()
            .map(|w| w["tickets"].as_u64().unwrap())
            .sum::<u64>(),
        6
    );
    // T0's reply (1 h) joins the overall figure for the quarter.
    assert_eq!(
        q["times"]["overall"]["first_reply"],
        fig(4, 2, Some(H), Some(6 * H)),
        "{q:#}"
    );

    // A whole year: months.
    let y = stats(env, &["--since", "2026-01-01", "--until", "2026-12-31"]);
    assert_eq!(y["tickets"], 7);
    assert_eq!(y["period"]["bucket"], "month");
    let months: Vec<u64> = y["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["tickets"].as_u64().unwrap())
        .collect();
    assert_eq!(months, [0, 1, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0]);

    // Refused with the flag named, as a usage error.
    for args in [
        &["stats", "--since", "2026-03-10", "--until", "2026-03-01"][..],
        &["stats", "--since", "soon"][..],
        &["stats", "--until", "2026-02-30"][..],
    ] {
        let out = env.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(err.contains("--since") || err.contains("--until"), "{err}");
    }

    // The chart spans the whole period: ten days, six of them empty.
    let svg = env.path("march.svg");
    env.ok(&[
        "stats",
        "--since",
        "2026-03-01",
        "--until",
        "2026-03-10",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("per day, 2026-03-01 to 2026-03-10 (UTC)"),
        "{text}"
    );
    assert_eq!(text.matches(r#"<g class="bucket""#).count(), 10, "{text}");
    assert_eq!(text.matches(r#"data-tickets="0""#).count(), 6, "{text}");
    for day in ["01", "03", "05", "07", "08", "10"] {
        let slot = format!(r#"data-start="2026-03-{day}" data-tickets="0""#);
        assert!(text.contains(&slot), "{slot}\n{text}");
    }
    assert!(text.contains(r#"data-start="2026-03-02" data-tickets="2""#));
    // Reply-time points only where a ticket of the day was answered.
    assert_eq!(
        text.matches(r#"<circle class="reply""#).count(),
        2,
        "{text}"
    );
    assert!(text.contains(r#"data-start="2026-03-02" data-secs="7200""#));
    assert!(text.contains(r#"data-start="2026-03-06" data-secs="3600""#));
    // The bars are spread over the width: the last day is far from the first.
    let x_of = |day: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.contains(&format!(r#"data-start="2026-03-{day}" data-secs"#)))
            .unwrap();
        let cx = line.split("cx=\"").nth(1).unwrap();
        cx[..cx.find('"').unwrap()].parse().unwrap()
    };
    assert!(x_of("06") - x_of("02") > 200.0, "{text}");
}
