//! The web desk in a real browser: headless Chromium over WebDriver
//! (tests/common/browser.rs) against the running daemon.
//!
//! - Handling: log in through the form, filter the queue, open a ticket,
//!   assign it (an event naming the web user), reply (the reply reaches
//!   the reporter's mailbox in the private Dovecot through Postfix, and
//!   gpg verifies the team's signature); screenshots of the queue and the
//!   ticket page.
//! - XSS: a report with markup in every field a sender chooses; on the
//!   queue, the ticket (and its HTML source view) and search, no alert, no
//!   request outside loopback, no element the templates did not put there.
//! - Access and CSRF: every page without a session lands on the login
//!   form; logged in, an attacker's page on another origin and on another
//!   site auto-submits a form to an action and changes nothing.
//! - Proxy header: the browser sends `X-Remote-User` on every request; a
//!   desk that trusts its address (127.0.0.1) opens the queue, one that
//!   trusts another address shows the login form and logs the refusal.

mod common;
use common::browser::Browser;
use common::servers::MailServers;
use common::web::*;
use fantoccini::Locator;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Polls `f` until it holds or `WAIT` passes.
async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text_of(b: &Browser, css: &str) -> String {
    match b.client.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn wait_for_path(b: &Browser, path: &str) {
    let deadline = Instant::now() + WAIT;
    while b.path().await != path {
        if Instant::now() > deadline {
            let url = b.client.current_url().await.map(|u| u.to_string());
            let page = text_of(b, "body").await;
            panic!("the browser is not at {path} but at {url:?}: {page}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Logs in as alice through the login form (with her TOTP code).
async fn log_in(b: &Browser, w: &World) {
    b.client
        .goto(&format!("http://{}/queue", w.addr))
        .await
        .unwrap();
    wait_for_path(b, "/login").await;
    b.type_into("#user", "alice").await;
    b.type_into("#password", PASSWORD).await;
    b.type_into("#totp", &totp_now()).await;
    b.click("#login-submit").await;
    wait_for_path(b, "/queue").await;
    assert_eq!(text_of(b, "#who").await, "alice (as hanna)");
}

fn report(from: &str, subject: &str, mid: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: cert@cert.example\r\nSubject: {subject}\r\n\
         Date: Mon, 16 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{mid}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "current_thread")]
async fn log_in_filter_assign_and_reply() {
    let servers = MailServers::start();
    let w = world_smtp(servers.smtp_port, "");
    let env = &w.env;
    let (id, _) = env.ingest_ok(&report(
        &format!("Bank SOC <{REPORTER}>"),
        "Phishing site imitating our login page",
        "p1@bank.example",
        "Our customers receive mail linking to https://login-bank.example.net/secure\r\n\
         hosted at 198.51.100.23. Please have it taken down.\r\n\r\nBank SOC",
    ));
    let (scan, _) = env.ingest_ok(&report(
        "ISP NOC <noc@isp.example>",
        "SSH brute force from 203.0.113.9",
        "s1@isp.example",
        "203.0.113.9 tried 4,000 passwords on our SSH servers last night.",
    ));
    let (older, _) = env.ingest_ok(&report(
        &format!("Bank SOC <{REPORTER}>"),
        "Malware attachment in invoice mails",
        "m1@bank.example",
        "Seen in a campaign against our staff.",
    ));
    let daemon = w.start_desk();
    let b = Browser::start().await;
    log_in(&b, &w).await;
    b.screenshot("queue.png").await;

    // Filter: the bank's new tickets, not the ISP's.
    let c = &b.client;
    b.type_into("#f-requestor", "@bank.example").await;
    b.select("#f-status", "new").await;
    b.click("#f-apply").await;
    until("the filtered queue", || async {
        c.current_url()
            .await
            .map(|u| {
                u.query()
                    .unwrap_or("")
                    .contains("requestor=%40bank.example")
            })
            .unwrap_or(false)
    })
    .await;
    let mut shown = vec![];
    for row in c.find_all(Locator::Css("tr.ticket-row")).await.unwrap() {
        shown.push(row.attr("data-id").await.unwrap().unwrap_or_default());
    }
    shown.sort();
    let mut want = vec![id.clone(), older.clone()];
    want.sort();
    assert_eq!(shown, want, "the ISP's ticket {scan} is filtered out");

    // Open the ticket from the queue.
    b.click(&format!("tr[data-id=\"{id}\"] a.ticket-link"))
        .await;
    wait_for_path(&b, &format!("/ticket/{id}")).await;
    assert_eq!(
        text_of(&b, "#ticket-subject").await,
        "Phishing site imitating our login page"
    );

    // No TLP yet: the browser's TLP select holds no label, so that "Set
    // TLP" (or a slip) cannot set CLEAR unasked.
    let tlp = c
        .execute(
            "return document.querySelector('#act-tlp select').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(tlp, "", "the TLP select with no TLP");

    // Assign to bob.
    b.select("#act-assign select[name=value]", "bob").await;
    b.click("#act-assign button[type=submit]").await;
    until("the assignee on the page", || async {
        text_of(&b, "#h-assignee").await == "bob"
    })
    .await;
    assert_assigned_to_bob_by_alice(env, &id);

    // Reply to the reporter.
    let marker = "Taken down at 11:02 UTC, ref Zebra42.";
    b.type_into(
        "#reply-text",
        &format!("Hello,\n\n{marker}\n\nCERT Example"),
    )
    .await;
    b.click("#act-reply button[type=submit]").await;
    until("the reply's flash", || async {
        !text_of(&b, "#flash").await.is_empty()
    })
    .await;
    let flash = text_of(&b, "#flash").await;
    assert!(!flash.contains("Refused"), "{flash}");
    let mut delivered = None;
    let deadline = Instant::now() + WAIT;
    while delivered.is_none() && Instant::now() < deadline {
        delivered = servers
            .mailbox_messages("reporter", "INBOX")
            .into_iter()
            .find(|m| String::from_utf8_lossy(m).contains("Zebra42"));
        if delivered.is_none() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let Some(raw) = delivered else {
        panic!(
            "the reply in reporter's INBOX\n{}\n{}",
            daemon.log(),
            servers.logs_tail(40)
        );
    };
    assert_team_reply(&w.verifier, &raw, &id, "p1@bank.example");

    // The ticket page as a handler sees it after the reply.
    c.refresh().await.unwrap();
    until("the reply in the history", || async {
        text_of(&b, "#history").await.contains("relayed")
    })
    .await;
    b.screenshot("ticket.png").await;
    b.close().await;
}

/// Every payload that would fetch something fetches from here.
const OUTSIDE: &str = "http://198.51.100.7:8081";

/// Markup in the subject, the display name, the text body, the HTML part,
/// an attachment's file name and the indicators; some of it would fetch
/// from OUTSIDE.
fn hostile() -> Vec<u8> {
    let subject = "<script>alert(1)</script> \"><img src=x onerror=alert(1)> <svg onload=alert(1)>";
    format!(
        "From: \"<img src={OUTSIDE}/name onerror=alert(1)>\" <{REPORTER}>\r\n\
         To: cert@cert.example\r\n\
         Subject: {subject}\r\n\
         Date: Mon, 16 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <xss-browser@bank.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\n\
         Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n\
         --b2\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Phishing at https://evil.example.net/login?x=\"><script>alert(1)</script> from 198.51.100.77\r\n\
         and {OUTSIDE}/<svg/onload=alert(1)>\r\n\
         <script>fetch('{OUTSIDE}/body')</script> <img src=\"{OUTSIDE}/img\"> <svg onload=alert(1)>\r\n\
         <a href=\"javascript:alert(1)\">click</a> <iframe src=\"javascript:alert(1)\"></iframe>\r\n\
         --b2\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <html><head><meta http-equiv=\"refresh\" content=\"0;url={OUTSIDE}/meta\"></head><body>\
         <script>alert(1)</script><a href=\"javascript:alert(1)\">click</a><img src=x onerror=alert(1)>\
         <img src=\"{OUTSIDE}/html\"><svg onload=alert(1)></svg><iframe src=\"{OUTSIDE}/frame\"></iframe>\
         <body onload=alert(1)></body></html>\r\n\
         --b2--\r\n\
         --b1\r\n\
         Content-Type: text/plain\r\n\
         Content-Disposition: attachment; filename=\"\\\"><img src=x onerror=alert(1)><svg onload=alert(1)>.txt\"\r\n\r\n\
         <script>alert(1)</script>\r\n\
         --b1--\r\n"
    )
    .into_bytes()
}

/// What the page's DOM holds that the templates never put there: script
/// other than /static/desk.js, embedded content, event-handler attributes,
/// `javascript:` URLs, and elements inside the containers of sender text.
const DOM_CHECK: &str = r#"
const bad = [];
const scripts = [...document.scripts].map(s => s.getAttribute('src'));
if (scripts.length !== 1 || scripts[0] !== '/static/desk.js') bad.push('scripts: ' + JSON.stringify(scripts));
for (const e of document.querySelectorAll('img, svg, iframe, frame, object, embed, video, audio, base, meta[http-equiv]')) {
  if (!(e.tagName === 'IMG' && e.id === 'trends-chart')) bad.push('embedded: ' + e.outerHTML.slice(0, 120));
}
for (const e of document.querySelectorAll('*')) {
  for (const a of e.attributes) {
    if (a.name.toLowerCase().startsWith('on')) bad.push('handler: ' + e.tagName + ' ' + a.name);
    if (/^\s*(javascript|data|vbscript):/i.test(a.value)) bad.push('url: ' + e.tagName + ' ' + a.name + '=' + a.value);
  }
}
for (const e of document.querySelectorAll('pre, .msg-subject, .from, .to, .att-name, #ticket-subject, td.subject, #h-requestors, .event .detail')) {
  if (e.childElementCount !== 0) bad.push('markup in text: ' + e.outerHTML.slice(0, 160));
}
return { bad: bad, text: document.body.innerText };
"#;

async fn no_script_ran(b: &Browser, what: &str) -> String {
    // Time for anything deferred (an onload, a fetch) to fire.
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Ok(text) = b.client.get_alert_text().await {
        panic!("{what}: an alert opened: {text}");
    }
    let out = b
        .client
        .execute(DOM_CHECK, vec![])
        .await
        .expect("the DOM check");
    let bad: Vec<String> = out["bad"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect();
    assert!(bad.is_empty(), "{what}: {bad:#?}");
    out["text"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn hostile_report_runs_nothing() {
    let w = world("");
    let (id, _) = w.env.ingest_ok(&hostile());
    let _daemon = w.start_desk();
    let b = Browser::start().await;
    log_in(&b, &w).await;
    let c = &b.client;
    let desk = format!("http://{}", w.addr);

    let text = no_script_ran(&b, "queue").await;
    assert!(
        text.contains("<script>alert(1)</script>"),
        "shown as text: {text}"
    );

    b.click(&format!("tr[data-id=\"{id}\"] a.ticket-link"))
        .await;
    wait_for_path(&b, &format!("/ticket/{id}")).await;
    let text = no_script_ran(&b, "ticket").await;
    for shown in [
        "<svg onload=alert(1)>",
        "<img src=http://198.51.100.7:8081/name onerror=alert(1)>",
        "<iframe src=\"javascript:alert(1)\"></iframe>",
        "\"><img src=x onerror=alert(1)><svg onload=alert(1)>.txt",
    ] {
        assert!(text.contains(shown), "{shown} shown as text: {text}");
    }

    b.click("a.html-source-link").await;
    until("the HTML source", || async {
        !text_of(&b, "pre.html-source").await.is_empty()
    })
    .await;
    let text = no_script_ran(&b, "HTML source").await;
    assert!(
        text.contains(&format!("<iframe src=\"{OUTSIDE}/frame\"></iframe>")),
        "the HTML source as text: {text}"
    );

    // An indicator's link leads to its search.
    b.click("a.indicator-search").await;
    wait_for_path(&b, "/search").await;
    let text = no_script_ran(&b, "indicator search").await;
    assert!(text.contains(&id), "{text}");

    for q in ["evil.example.net", "<script>alert(1)</script>"] {
        c.goto(&format!("{desk}/search")).await.unwrap();
        b.type_into("#q", q).await;
        b.click("#search-submit").await;
        until("the search result", || async {
            c.current_url()
                .await
                .map(|u| u.query().unwrap_or("").starts_with("q="))
                .unwrap_or(false)
        })
        .await;
        no_script_ran(&b, &format!("search {q}")).await;
    }
    // Chromium calls its own services (time, updates, autofill) whatever
    // the flags; what counts is anything to the payloads' address.
    let caught = b.outside.lines();
    assert!(
        !caught.iter().any(|l| l.contains("198.51.100.")),
        "requests to the payloads' address: {caught:#?}"
    );

    // The checks can see what they look for: an alert, and a request to
    // the outside address, both made on purpose.
    c.execute("setTimeout(() => alert('control'), 0)", vec![])
        .await
        .unwrap();
    until("the control alert", || async {
        c.get_alert_text().await.is_ok()
    })
    .await;
    assert_eq!(c.get_alert_text().await.unwrap(), "control");
    c.accept_alert().await.unwrap();
    let _ = c.goto(&format!("{OUTSIDE}/control")).await;
    until("the control request at the catching proxy", || async {
        b.outside.lines().iter().any(|l| l.contains("/control"))
    })
    .await;
    b.close().await;
}

/// Serves `page` to every request on `listener`.
fn serve(listener: TcpListener, page: String) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(&s);
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
}

/// An attacker's page: a form that posts itself to the desk's assign.
fn attacker_page(desk: &str, id: &str) -> String {
    format!(
        "<!DOCTYPE html><html><body><form id=\"f\" method=\"post\" action=\"{desk}/ticket/{id}/assign\">\
         <input name=\"value\" value=\"bob\"><input name=\"csrf\" value=\"{}\"></form>\
         <script>document.getElementById('f').submit();</script></body></html>",
        "0".repeat(64)
    )
}

#[tokio::test(flavor = "current_thread")]
async fn no_session_no_page_and_no_cross_site_post() {
    let w = world("");
    let (id, _) = w.env.ingest_ok(&hostile_report());
    let mut daemon = w.start_desk();
    let b = Browser::start().await;
    let c = &b.client;
    let desk = format!("http://{}", w.addr);

    for path in [
        "/".to_string(),
        "/queue".into(),
        "/queue?status=new".into(),
        "/search?q=evil.example.net".into(),
        format!("/ticket/{id}"),
        format!("/ticket/{id}?html=1"),
        format!("/ticket/{id}/message/1/raw"),
        format!("/ticket/{id}/message/1/attachment/0"),
        "/outbox".into(),
        "/trends".into(),
        "/trends/chart.svg".into(),
        "/advisories".into(),
        "/advisories/CERT-EX-ADV-2026-0001".into(),
    ] {
        c.goto(&format!("{desk}{path}")).await.unwrap();
        wait_for_path(&b, "/login").await;
        assert!(
            c.find(Locator::Id("login-form")).await.is_ok(),
            "{path}: the login form"
        );
    }

    log_in(&b, &w).await;
    let assign = format!("/ticket/{id}/assign");
    // Another origin on the same site (the cookie goes along), then
    // another site (it does not).
    for host in ["127.0.0.1", "127.0.0.2"] {
        let listener = TcpListener::bind(format!("{host}:0")).expect("bind the attacker's page");
        let at = listener.local_addr().unwrap();
        serve(listener, attacker_page(&desk, &id));
        c.goto(&format!("http://{at}/")).await.unwrap();
        wait_for_path(&b, &assign).await;
        assert!(
            w.env.ticket(&id)["assignee"].is_null(),
            "the post from {at} changed the ticket"
        );
    }
    assert!(
        daemon.wait_for_log("cross-site request refused", WAIT),
        "{}",
        daemon.log()
    );

    // The same form from the desk's own page does assign.
    c.goto(&format!("{desk}/ticket/{id}")).await.unwrap();
    b.select("#act-assign select[name=value]", "bob").await;
    b.click("#act-assign button[type=submit]").await;
    until("the assignment", || async {
        text_of(&b, "#h-assignee").await == "bob"
    })
    .await;
    assert_eq!(w.env.ticket(&id)["assignee"], "bob");
    b.close().await;
}

/// `world("")`, its `trusted_proxies` naming `proxy` instead of 127.0.0.2.
fn world_trusting(proxy: &str) -> World {
    let w = world("");
    let text = std::fs::read_to_string(&w.env.config).expect("read config");
    let was = "trusted_proxies = [\"127.0.0.2\"]";
    assert!(text.contains(was), "{text}");
    let text = text.replace(was, &format!("trusted_proxies = [\"{proxy}\"]"));
    std::fs::write(&w.env.config, text).expect("write config");
    w
}

#[tokio::test(flavor = "current_thread")]
async fn the_proxy_header_is_believed_only_from_the_trusted_address() {
    let trusting = world_trusting("127.0.0.1");
    let other = world_trusting("127.0.0.9");
    let mut daemons = vec![];
    for w in [&trusting, &other] {
        daemons.push(w.start_desk());
    }
    let b = Browser::start().await;
    b.cdp("Network.enable", serde_json::json!({})).await;
    b.cdp(
        "Network.setExtraHTTPHeaders",
        serde_json::json!({ "headers": { "X-Remote-User": "alice" } }),
    )
    .await;

    // From the trusted address the header is the login.
    b.client
        .goto(&format!("http://{}/queue", trusting.addr))
        .await
        .unwrap();
    wait_for_path(&b, "/queue").await;
    assert_eq!(text_of(&b, "#who").await, "alice (as hanna)");

    // The same header to a desk that trusts 127.0.0.9: the login form.
    b.client
        .goto(&format!("http://{}/queue", other.addr))
        .await
        .unwrap();
    wait_for_path(&b, "/login").await;
    assert!(b.client.find(Locator::Id("login-form")).await.is_ok());
    let d = &mut daemons[1];
    assert!(
        d.wait_for_log(
            "proxy header from an address not in web.trusted_proxies",
            WAIT
        ),
        "{}",
        d.log()
    );
    assert!(!daemons[0].log().contains("not in web.trusted_proxies"));
    b.close().await;
}
