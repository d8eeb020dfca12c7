//! Issue 6 correlation, driven through the real binary: reports sharing an
//! address relate both ways, `search` finds them by address, network,
//! domain and words (also through the running daemon), constituencies are
//! applied by the longest prefix and the category comes from the rules.

mod common;
use common::*;
use serde_json::Value;
use std::time::Duration;

const EXTRA: &str = r#"
[analysis]
[[analysis.rules]]
pattern = "phish"
category = "fraud/phishing"

[[constituencies]]
name = "national-isp"
networks = ["192.0.0.0/8"]
contact = "noc@isp.example"

[[constituencies]]
name = "university"
networks = ["192.0.2.0/24"]
domains = ["uni.example.org"]
contact = "cert@uni.example.org"
notify_constituent = true
"#;

fn search(env: &Env, q: &str) -> Vec<String> {
    let out = env.ok(&["search", q, "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

fn related(t: &Value) -> Vec<(String, Vec<String>)> {
    t["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let shared = r["shared"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            (r["id"].as_str().unwrap().to_string(), shared)
        })
        .collect()
}

fn ingest_three(env: &Env) -> (String, String, String) {
    let a = mail(
        "alice@bank.example",
        "Phishing kit on 192.0.2.7",
        Some("a@bank.example"),
        "",
        "Login page at hxxp://login.uni.example[.]org/x hosted on 192.0.2.7.",
    );
    let b = mail(
        "bob@other.example",
        "Brute force from our logs",
        Some("b@other.example"),
        "",
        "Attempts from 192.0.2.7 and 192.0.2.200, also 198.51.100.1, login.uni.example.org",
    );
    let c = mail(
        "carol@third.example",
        "Unrelated",
        Some("c@third.example"),
        "",
        "Host 203.0.113.9 only.",
    );
    (
        env.ingest_ok(&a).0,
        env.ingest_ok(&b).0,
        env.ingest_ok(&c).0,
    )
}

#[test]
fn shared_indicators_relate_both_ways_and_searches_find_them() {
    let env = Env::with_extra(EXTRA);
    let (a, b, c) = ingest_three(&env);

    let ta = env.ticket(&a);
    let tb = env.ticket(&b);
    let ra = related(&ta);
    assert_eq!(ra.len(), 1, "{ra:?}");
    assert_eq!(ra[0].0, b);
    assert!(ra[0].1.contains(&"192.0.2.7".to_string()), "{ra:?}");
    assert!(
        ra[0].1.contains(&"login.uni.example.org".to_string()),
        "{ra:?}"
    );
    let rb = related(&tb);
    assert_eq!(rb.len(), 1, "{rb:?}");
    assert_eq!(rb[0].0, a);
    assert!(related(&env.ticket(&c)).is_empty());

    // Newest first.
    assert_eq!(search(&env, "192.0.2.7"), vec![b.clone(), a.clone()]);
    assert_eq!(search(&env, "192.0.2.0/24"), vec![b.clone(), a.clone()]);
    assert_eq!(search(&env, "192.0.0.0/8"), vec![b.clone(), a.clone()]);
    assert_eq!(search(&env, "192.0.2.200"), vec![b.clone()]);
    assert_eq!(search(&env, "203.0.113.0/24"), vec![c.clone()]);
    assert!(search(&env, "10.0.0.0/8").is_empty());
    assert_eq!(search(&env, "uni.example.org"), vec![b.clone(), a.clone()]);
    assert!(search(&env, "example.org").contains(&a));
    assert_eq!(search(&env, "brute force"), vec![b.clone()]);

    // Longest prefix wins; every constituency is listed.
    assert_eq!(ta["constituency"], "university");
    assert_eq!(
        ta["constituencies"],
        serde_json::json!(["university", "national-isp"])
    );
    assert_eq!(tb["constituency"], "university");
    assert_eq!(env.ticket(&c)["constituency"], Value::Null);

    // The rule classifies the phishing report; the others stay unclassified.
    assert_eq!(ta["category"], "fraud");
    assert_eq!(ta["classification"]["type"], "phishing");
    assert_eq!(ta["classification"]["by"], "rule");
    assert_eq!(tb["category"], Value::Null);

    // The university asked to be told; the ISP did not.
    let notified: Vec<String> = env
        .outbox()
        .iter()
        .filter(|o| o["to"] == serde_json::json!(["cert@uni.example.org"]))
        .map(|o| o["ticket"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(notified, vec![a.clone(), b.clone()]);
    assert!(env
        .outbox()
        .iter()
        .all(|o| o["to"] != serde_json::json!(["noc@isp.example"])));
    let raw = env.ok(&["ticket", "raw", &a, "--message", "3"]);
    assert!(raw.contains("192.0.2.7"), "{raw}");
    assert!(
        !raw.contains("Login page"),
        "the report's prose is not forwarded"
    );

    // A handler's category is kept; later reports do not overwrite it.
    let store = csirtd::store::Store::open(&env.path("store"), 8).unwrap();
    let id: csirtd::model::TicketId = b.parse().unwrap();
    let (cat, kind) =
        csirtd::analysis::classify::parse_category("intrusion-attempts/brute-force").unwrap();
    store
        .set_classification(
            id,
            cat,
            kind,
            time::OffsetDateTime::now_utc(),
            "handler@cert.example",
        )
        .unwrap();
    drop(store);
    let tb = env.ticket(&b);
    assert_eq!(tb["category"], "intrusion-attempts");
    assert_eq!(tb["classification"]["by"], "handler");
}

#[test]
fn search_works_through_the_running_daemon() {
    let env = Env::with_extra(EXTRA);
    let (a, b, _) = ingest_three(&env);
    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log("control socket ready", Duration::from_secs(20)),
        "the daemon did not come up\n--- log ---\n{}",
        daemon.log()
    );
    assert_eq!(search(&env, "192.0.2.0/24"), vec![b, a]);
    // A relative --svg path is the caller's, made absolute before forwarding.
    let out = env
        .cmd()
        .current_dir(env.path(""))
        .args(["stats", "--svg", "through-daemon.svg"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.path("through-daemon.svg").is_file());
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(10));
}

#[test]
fn stats_count_by_category_constituency_and_status_and_draw_a_chart() {
    let env = Env::with_extra(EXTRA);
    let (a, _, _) = ingest_three(&env);
    env.ok(&["ticket", "status", &a, "resolved"]);
    let out = env.ok(&["stats", "--since", "30d", "--json"]);
    let s: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(s["tickets"], 3, "{s:#}");
    assert_eq!(s["by_category"]["fraud"], 1, "{s:#}");
    assert_eq!(s["by_category"]["unclassified"], 2, "{s:#}");
    assert_eq!(s["by_constituency"]["university"], 2, "{s:#}");
    assert_eq!(s["by_constituency"]["none"], 1, "{s:#}");
    assert_eq!(s["by_status"]["resolved"], 1, "{s:#}");
    assert_eq!(s["times"]["overall"]["resolve"]["count"], 1, "{s:#}");
    assert_eq!(
        s["top_indicators"][0],
        serde_json::json!(["192.0.2.7", 2]),
        "{s:#}"
    );
    let svg = env.path("chart.svg");
    env.ok(&["stats", "--svg", svg.to_str().unwrap()]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("fraud"), "{text}");
    assert!(env.run(&["stats", "--since", "soon"]).status.code() != Some(0));
}

#[test]
fn an_indicator_is_found_from_its_commit_on_before_and_after_the_flush() {
    use csirtd::store::index::Probe;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[team]\nname = \"T\"\naddress = \"cert@cert.example\"\ntag = \"CERT-EX\"\ndomain = \"cert.example\"\n\
         [store]\npath = \"{}\"\n[outbox]\ntransport = \"file\"\n[outbox.file]\ndir = \"{}\"\n",
        dir.path().join("store").display(),
        dir.path().join("outbox").display()
    );
    let cfg = csirtd::config::Config::from_toml(&toml, &dir.path().join("c.toml")).unwrap();
    let store = csirtd::store::Store::open(&cfg.store.path, 8).unwrap();
    let pipeline = csirtd::workflow::pipeline::Pipeline::new(store.clone(), cfg).unwrap();
    let raw = mail(
        "a@bank.example",
        "Scan",
        Some("s1@bank.example"),
        "",
        "From 198.51.100.77 and evil.example.net",
    );
    let id = pipeline.process(&raw, "test").unwrap().placement.ticket();
    let ip = Probe::Network("198.51.100.0".parse().unwrap(), 24);
    let dom = Probe::DomainTree("example.net".into());
    // Committed, not yet flushed: the staged entries answer.
    assert_eq!(store.find(&ip, 10).unwrap(), vec![id]);
    assert_eq!(store.find(&dom, 10).unwrap(), vec![id]);
    store.flush().unwrap();
    // Merged into the index trees: found once, not twice.
    assert_eq!(store.find(&ip, 10).unwrap(), vec![id]);
    assert_eq!(store.find(&dom, 10).unwrap(), vec![id]);
    drop(pipeline);
    drop(store);
    let store = csirtd::store::Store::open(&dir.path().join("store"), 8).unwrap();
    assert_eq!(store.find(&ip, 10).unwrap(), vec![id]);
}
