//! The web desk's outbox page over real HTTP against the running daemon:
//! held mail listed, release refused while the requestor has no key,
//! cancel only with the CSRF token and a reason, recorded as an event
//! naming the web user; retry only for failed entries.

mod common;
use common::http::form;
use common::web::*;
use common::*;

#[test]
fn the_outbox_page_releases_and_cancels_held_mail() {
    let w = world_with("always", "");
    let env = &w.env;
    let (id, _) = env.ingest_ok(&mail(
        &format!("Reporter <{REPORTER}>"),
        "Phishing",
        Some("r1@bank.example"),
        "",
        "https://phish.example/login",
    ));
    let state_of = |entry: u64| {
        env.outbox()
            .into_iter()
            .find(|o| o["id"].as_u64() == Some(entry))
            .map(|o| o["state"].as_str().unwrap_or("").to_string())
    };
    let held: Vec<u64> = env
        .outbox()
        .iter()
        .filter(|o| o["state"] == "held")
        .filter_map(|o| o["id"].as_u64())
        .collect();
    assert_eq!(
        held.len(),
        1,
        "the ack to a requestor without a key: {:#?}",
        env.outbox()
    );
    let entry = held[0];
    let mut daemon = w.start_desk();

    let r = w.get("/outbox", None);
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    let path = format!("/outbox/{entry}/cancel");
    assert_eq!(w.post(&path, None, &[], "reason=x&csrf=x").status, 403);
    let cookie = w
        .login(None, "alice", PASSWORD, &totp_now())
        .cookie()
        .unwrap();
    let c = Some(cookie.as_str());
    let r = w.get("/outbox", c);
    assert_eq!(r.status, 200, "{r:?}");
    secure(&r, "outbox");
    assert!(
        r.body.contains(&format!("id=\"outbox-{entry}\"")),
        "{}",
        r.body
    );
    assert!(r.body.contains(REPORTER), "{}", r.body);
    let csrf = csrf_of(&r.body);

    // Release: the requestor still has no key, so it stays held, and says so.
    let r = w.post(
        &format!("/outbox/{entry}/release"),
        c,
        &[],
        &form(&[("csrf", &csrf)]),
    );
    assert_eq!(r.status, 303);
    let page = w.get("/outbox", c).body;
    assert!(
        page.contains("Refused:") && page.contains("stays held"),
        "{page}"
    );
    assert_eq!(state_of(entry).as_deref(), Some("held"));

    // Cancel: the token and a reason are required.
    assert_eq!(
        w.post(&path, c, &[], &form(&[("reason", "wrong address")]))
            .status,
        403
    );
    w.post(&path, c, &[], &form(&[("reason", " "), ("csrf", &csrf)]));
    assert!(w.get("/outbox", c).body.contains("say why"));
    assert_eq!(state_of(entry).as_deref(), Some("held"));
    let r = w.post(
        &path,
        c,
        &[],
        &form(&[("reason", "wrong address"), ("csrf", &csrf)]),
    );
    assert_eq!(r.status, 303);
    assert_eq!(state_of(entry).as_deref(), Some("cancelled"));
    assert!(
        events(&env.ticket(&id))
            .iter()
            .any(|d| d.contains("cancelled by hanna (web user alice)")
                && d.contains("wrong address")),
        "{:#?}",
        events(&env.ticket(&id))
    );
    assert!(!w
        .get("/outbox", c)
        .body
        .contains(&format!("id=\"outbox-{entry}\"")));
    // Retry is for failed entries only.
    w.post(
        &format!("/outbox/{entry}/retry"),
        c,
        &[],
        &form(&[("csrf", &csrf)]),
    );
    assert!(w.get("/outbox", c).body.contains("not failed"));
    daemon.terminate();
    daemon.expect_success(WAIT);
}
