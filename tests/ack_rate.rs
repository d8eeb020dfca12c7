//! The acknowledgement rate limit (issue 13): one mailbox however it is
//! spelled is one bucket, and budgets per domain and for all senders stop
//! a flood spread over many addresses.

mod common;

use common::{mail, Env};

/// Ingests a report from `from`; returns its ticket and why its
/// acknowledgement was suppressed, if it was.
fn report(env: &Env, from: &str, n: usize) -> (String, Option<String>) {
    let (id, word) = env.ingest_ok(&mail(
        from,
        &format!("report {n}"),
        Some(&format!("rate{n}@reports.example")),
        "",
        "something happened",
    ));
    assert_eq!(word, "created", "{from}");
    let ticket = env.ticket(&id);
    let why = ticket["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "ack-suppressed")
        .map(|e| e["detail"].as_str().unwrap_or("").to_string());
    (id, why)
}

#[test]
fn one_mailbox_however_spelled_is_one_rate_bucket() {
    let env = Env::with_extra("[ack]\nrate_limit = 1\nrate_window_secs = 3600\n");
    let mut n = 0;
    let mut next = |from: &str| {
        n += 1;
        report(&env, from, n)
    };
    assert_eq!(next("victim@bank.example").1, None);
    for spelling in [
        "victim+1@bank.example",
        "victim@bank.example.",
        "Victim@Bank.Example",
        "VICTIM+other@BANK.EXAMPLE.",
        "\"victim\"@bank.example",
    ] {
        let why = next(spelling).1;
        let why = why.unwrap_or_else(|| panic!("{spelling} got another acknowledgement"));
        assert!(
            why.contains("rate limit") && why.contains("victim@bank.example"),
            "{spelling}: {why}"
        );
    }
    // An address literal is one bucket however the address is written.
    assert_eq!(next("victim@[192.0.2.9]").1, None);
    for spelling in ["victim+2@[192.0.2.9]", "Victim@[192.000.002.009]"] {
        let why = next(spelling).1;
        assert!(
            why.as_deref().is_some_and(|w| w.contains("rate limit")),
            "{spelling}: {why:?}"
        );
    }
    // Another mailbox at the same bank is not limited by the victim's.
    assert_eq!(next("alice@bank.example").1, None);
    assert_eq!(env.outbox().len(), 3, "{:#?}", env.outbox());
}

#[test]
fn a_domain_budget_stops_a_flood_from_many_addresses() {
    let env = Env::with_extra(
        "[ack]\nrate_limit = 5\nrate_limit_per_domain = 2\nrate_limit_global = 100\nrate_window_secs = 3600\n",
    );
    assert_eq!(report(&env, "a@bank.example", 1).1, None);
    assert_eq!(report(&env, "b@bank.example", 2).1, None);
    for (i, from) in ["c@bank.example", "d@mail.bank.example", "e@BANK.example."]
        .iter()
        .enumerate()
    {
        let why = report(&env, from, 3 + i).1.unwrap_or_default();
        assert!(
            why.contains("bank.example") && why.contains("domain") && why.contains("rate limit"),
            "{from}: {why}"
        );
    }
    assert_eq!(report(&env, "a@other.example", 9).1, None);
    assert_eq!(env.outbox().len(), 3);
}

#[test]
fn a_global_budget_caps_all_acknowledgements() {
    let env = Env::with_extra(
        "[ack]\nrate_limit = 5\nrate_limit_per_domain = 5\nrate_limit_global = 3\nrate_window_secs = 3600\n",
    );
    for (i, from) in ["a@one.example", "b@two.example", "c@three.example"]
        .iter()
        .enumerate()
    {
        assert_eq!(report(&env, from, i).1, None, "{from}");
    }
    let why = report(&env, "d@four.example", 4).1.unwrap_or_default();
    assert!(
        why.contains("rate limit") && why.contains("all senders"),
        "{why}"
    );
    assert_eq!(env.outbox().len(), 3);
    let out = env.ok(&["check-config"]);
    assert!(
        out.contains("5 per domain") && out.contains("3 in all"),
        "{out}"
    );
}

#[test]
fn the_budgets_hold_within_one_process_and_across_restarts() {
    // One `run --drain` takes a whole batch: the domain and global counts
    // it keeps in memory must see each acknowledgement it just committed,
    // and the next process must find them again.
    let env = Env::with_extra(
        "[ack]\nrate_limit = 5\nrate_limit_per_domain = 2\nrate_limit_global = 3\nrate_window_secs = 3600\n",
    );
    let deliver = |from: &str, n: usize| {
        env.deliver(
            &format!("1700000000.{n}.rate"),
            &mail(
                from,
                &format!("report {n}"),
                Some(&format!("drain{n}@reports.example")),
                "",
                "x",
            ),
        )
    };
    for (n, from) in ["a@bank.example", "b@bank.example", "c@bank.example"]
        .iter()
        .enumerate()
    {
        deliver(from, n);
    }
    env.ok(&["run", "--drain"]);
    assert_eq!(env.outbox().len(), 2, "the domain allows two");
    deliver("x@other.example", 10);
    deliver("y@third.example", 11);
    env.ok(&["run", "--drain"]);
    assert_eq!(env.outbox().len(), 3, "all senders together allow three");
}
