//! The web desk over real HTTP against the running daemon: login (wrong
//! password refused and logged, password + TOTP accepted, rate limit per
//! client address), every page and action refused without a session, the
//! CSRF token and the same-origin check on every POST, the proxy header
//! believed only from the configured address, the security headers on
//! every response, a hostile report shown escaped, downloads that cannot
//! render, and assign and reply through the browser's forms: events that
//! name the web user, a reply team-signed (checked by gpg) in the outbox.
//! A non-loopback listen without TLS is refused at start with its key.

mod common;
use common::http::{form, request};
use common::web::*;
use common::*;
use std::net::IpAddr;

#[test]
fn the_desk_end_to_end() {
    let w = world("");
    let env = &w.env;
    let (id, _) = env.ingest_ok(&hostile_report());
    let (other, _) = env.ingest_ok(&mail(
        &format!("Reporter <{REPORTER}>"),
        "Second report",
        Some("r2@bank.example"),
        "",
        "hello",
    ));
    let text = env.path("advisory.txt");
    std::fs::write(&text, "Patch now.\n<script>alert(1)</script>\n").unwrap();
    let out = env.ok(&[
        "advisory",
        "send",
        "--list",
        "members",
        "--tlp",
        "green",
        "--subject",
        "<script>alert(1)</script> ExampleMTA",
        text.to_str().unwrap(),
    ]);
    let advisory = out.split_whitespace().next().unwrap().to_string();
    let mut daemon = w.start_desk();

    // Without a session: pages go to the login form, actions are refused.
    let ticket = format!("/ticket/{id}");
    for path in [
        "/".to_string(),
        "/queue".into(),
        "/search?q=evil.example.net".into(),
        ticket.clone(),
        format!("{ticket}/message/1/raw"),
        format!("{ticket}/message/1/attachment/0"),
        "/outbox".into(),
        "/trends".into(),
        "/trends/chart.svg".into(),
        "/advisories".into(),
        format!("/advisories/{advisory}"),
    ] {
        let r = w.get(&path, None);
        assert!(matches!(r.status, 303 | 307), "{path}: {r:?}");
        if path != "/" {
            assert_eq!(r.header("location"), Some("/login"), "{path}");
        }
        secure(&r, &path);
    }
    for verb in [
        "status", "assign", "category", "tlp", "link", "merge", "note", "hold", "unhold", "reply",
    ] {
        let r = w.post(
            &format!("{ticket}/{verb}"),
            None,
            &[],
            "value=open&text=x&csrf=x",
        );
        assert_eq!(r.status, 403, "{verb}: {r:?}");
        secure(&r, verb);
    }
    assert_eq!(w.post("/logout", None, &[], "csrf=x").status, 403);
    let r = w.get("/login", None);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"totp\""));
    secure(&r, "login");
    let css = w.get("/static/desk.css", None);
    assert_eq!(css.status, 200);
    secure(&css, "css");

    // Logins: a wrong password and a missing code are refused and logged.
    let r = w.login(None, "alice", "wrong", &totp_now());
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.cookie().is_none());
    assert!(daemon.wait_for_log("web: login failed", WAIT));
    assert!(
        daemon.wait_for_log("wrong password", WAIT),
        "{}",
        daemon.log()
    );
    let r = w.login(None, "alice", PASSWORD, "");
    assert_eq!(r.status, 401, "no TOTP code: {r:?}");
    assert!(
        daemon.wait_for_log("wrong or missing TOTP code", WAIT),
        "{}",
        daemon.log()
    );
    let code = totp_now();
    let r = w.login(None, "alice", PASSWORD, &code);
    assert_eq!(r.status, 303, "{r:?}");
    let set = r.header("set-cookie").unwrap_or("").to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    let cookie = r.cookie().unwrap();
    assert_eq!(cookie.len(), "csirtd_session=".len() + 64, "{cookie}");
    assert!(
        daemon.wait_for_log("web: login accepted", WAIT),
        "{}",
        daemon.log()
    );
    let c = Some(cookie.as_str());

    // The queue, with filters.
    let r = w.get("/queue", c);
    assert_eq!(r.status, 200, "{r:?}");
    secure(&r, "queue");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(
        r.body.contains(&id) && r.body.contains(&other),
        "{}",
        r.body
    );
    let r = w.get("/queue?requestor=%40bank.example&status=new&sort=id", c);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(&id));
    let r = w.get("/queue?assignee=bob", c);
    assert!(r.body.contains("No tickets match"), "{}", r.body);
    let r = w.get("/queue?status=bogus", c);
    assert_eq!(r.status, 400);

    // The hostile report, escaped wherever it shows.
    for path in [
        "/queue".to_string(),
        ticket.clone(),
        format!("{ticket}?html=1"),
        "/search?q=evil.example.net".to_string(),
        format!(
            "/search?q={}",
            common::http::encode("<script>alert(1)</script>")
        ),
        "/advisories".to_string(),
        format!("/advisories/{advisory}"),
        "/trends?since=3650d".to_string(),
    ] {
        let r = w.get(&path, c);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        secure(&r, &path);
        let html = &r.body;
        assert_eq!(
            html.matches("<script").count(),
            1,
            "{path}: only our own script tag: {html}"
        );
        assert!(html.contains("<script src=\"/static/desk.js\" defer></script>"));
        assert_eq!(
            html.matches("<img").count(),
            html.matches("<img id=\"trends-chart\" src=\"/trends/chart.svg")
                .count(),
            "{path}: only our own chart: {html}"
        );
        links_are_ours(html);
    }
    let page = w.get(&ticket, c).body;
    assert!(
        page.contains(&escaped("<script>alert(1)</script>")),
        "{page}"
    );
    assert!(
        page.contains(&escaped("\"><img src=x onerror=alert(1)>")),
        "{page}"
    );
    assert!(
        page.contains("never rendered"),
        "the HTML part is text: {page}"
    );
    assert!(
        page.contains("href=\"/search?q=198.51.100.77\""),
        "indicators link to a search: {page}"
    );
    assert!(page.contains("evil.example.net"), "{page}");
    let source = w.get(&format!("{ticket}?html=1"), c).body;
    assert!(
        source.contains(&escaped("<a href=\"javascript:alert(1)\">click</a>")),
        "the HTML source as text: {source}"
    );
    let found = w.get("/search?q=198.51.100.0%2F24", c).body;
    assert!(
        found.contains(&format!("/ticket/{id}")),
        "search by network: {found}"
    );

    let list = w.get("/advisories", c).body;
    assert!(
        list.contains(&format!("href=\"/advisories/{advisory}\"")),
        "{list}"
    );
    let adv = w.get(&format!("/advisories/{advisory}"), c).body;
    assert!(
        adv.contains("member@bank.example") && adv.contains("Patch now."),
        "{adv}"
    );
    assert!(
        adv.contains(&escaped("<script>alert(1)</script> ExampleMTA")),
        "{adv}"
    );
    assert_eq!(w.get("/advisories/CERT-EX-ADV-1999-0001", c).status, 404);

    let trends = w.get("/trends?since=3650d", c).body;
    assert!(trends.contains("id=\"trends-total\">2 tickets"), "{trends}");
    assert!(
        trends.contains("src=\"/trends/chart.svg?since=3650d\""),
        "{trends}"
    );
    let chart = w.get("/trends/chart.svg?since=3650d", c);
    assert_eq!(chart.status, 200);
    assert_eq!(chart.header("content-type"), Some("image/svg+xml"));
    assert!(chart
        .header("content-security-policy")
        .unwrap_or("")
        .contains("sandbox"));
    assert!(
        chart.body.starts_with("<svg") || chart.body.starts_with("<?xml"),
        "{}",
        chart.body
    );
    assert!(!chart.body.contains("<script"), "{}", chart.body);
    assert_eq!(w.get("/trends?since=yesterday-ish", c).status, 400);

    // Downloads: files only.
    let r = w.get(&format!("{ticket}/message/1/attachment/0"), c);
    assert_eq!(r.status, 200, "{r:?}");
    secure(&r, "attachment");
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"img_src_x_onerror_alert_1__.txt\"")
    );
    assert!(
        r.body.contains("<script>alert(1)</script>"),
        "the bytes as sent"
    );
    let r = w.get(&format!("{ticket}/message/1/raw"), c);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-security-policy"), Some("sandbox"));
    assert_eq!(r.bytes, hostile_report());
    assert_eq!(w.get(&format!("{ticket}/message/9/raw"), c).status, 404);

    // Actions: without the token, with a wrong one, or from another site,
    // nothing changes.
    let csrf = csrf_of(&page);
    let assign = |extra: &[(&str, &str)], token: &str| {
        w.post(
            &format!("{ticket}/assign"),
            c,
            extra,
            &form(&[("value", "bob"), ("csrf", token)]),
        )
    };
    assert_eq!(
        w.post(&format!("{ticket}/assign"), c, &[], "value=bob")
            .status,
        403
    );
    assert_eq!(assign(&[], &"0".repeat(64)).status, 403);
    let origin = format!("http://{}", w.addr);
    assert_eq!(
        assign(&[("Origin", "https://evil.example")], &csrf).status,
        403
    );
    assert_eq!(
        assign(&[("Sec-Fetch-Site", "cross-site")], &csrf).status,
        403
    );
    assert!(env.ticket(&id)["assignee"].is_null(), "nothing changed");
    assert!(
        daemon.wait_for_log("web: action without a valid CSRF token refused", WAIT),
        "{}",
        daemon.log()
    );
    assert!(
        daemon.wait_for_log("cross-site request refused", WAIT),
        "{}",
        daemon.log()
    );

    // Assign, as the browser sends it: an event naming the web user.
    let r = assign(
        &[
            ("Origin", origin.as_str()),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        &csrf,
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some(ticket.as_str()));
    assert_assigned_to_bob_by_alice(env, &id);
    let page = w.get(&ticket, c).body;
    assert!(
        page.contains("assigned to bob"),
        "the outcome is shown: {page}"
    );
    // A ticket without a TLP preselects no label (a browser would take
    // the first, CLEAR), and an empty TLP is refused, not set.
    assert!(env.ticket(&id)["tlp"].is_null());
    let tlp_form = &page[page.find("id=\"act-tlp\"").expect("the TLP form")..];
    let tlp_form = &tlp_form[..tlp_form.find("</form>").unwrap()];
    assert!(
        tlp_form.contains("<option value=\"\" selected>— not set —</option>"),
        "{tlp_form}"
    );
    assert_eq!(tlp_form.matches(" selected").count(), 1, "{tlp_form}");
    let r = w.post(
        &format!("{ticket}/tlp"),
        c,
        &[],
        &form(&[("value", ""), ("csrf", &csrf)]),
    );
    assert_eq!(r.status, 303);
    let after = w.get(&ticket, c).body;
    assert!(
        after.contains("Refused: choose a TLP label; the TLP is unchanged"),
        "{after}"
    );
    assert!(env.ticket(&id)["tlp"].is_null(), "no TLP set");
    // A refusal changes nothing and says why.
    let r = w.post(
        &format!("{ticket}/tlp"),
        c,
        &[],
        &form(&[("value", "purple"), ("csrf", &csrf)]),
    );
    assert_eq!(r.status, 303);
    assert!(w
        .get(&ticket, c)
        .body
        .contains("Refused: unknown TLP label"));
    let r = w.post(
        &format!("{ticket}/tlp"),
        c,
        &[],
        &form(&[("value", "amber"), ("csrf", &csrf)]),
    );
    assert_eq!(r.status, 303);
    assert_eq!(env.ticket(&id)["tlp"], "amber");
    let r = w.post(
        &format!("{ticket}/note"),
        c,
        &[],
        &form(&[("text", "Called the SOC."), ("csrf", &csrf)]),
    );
    assert_eq!(r.status, 303);
    assert!(events(&env.ticket(&id))
        .iter()
        .any(|d| d.contains("internal note by hanna (web user alice)")
            && d.contains("Called the SOC.")));

    // Reply: queued, team-signed, threaded, to the requestor.
    let r = w.post(
        &format!("{ticket}/reply"),
        c,
        &[],
        &form(&[
            ("text", "Thanks, Zebra42 is taken down.\r\nCERT Example"),
            ("csrf", &csrf),
        ]),
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert!(
        wait_until(WAIT, || sent_with(env, "Zebra42").is_some()),
        "the daemon sent the reply: {}",
        daemon.log()
    );
    let raw = sent_with(env, "Zebra42").unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(
        header(&text, "To").unwrap_or_default().contains(REPORTER),
        "{text}"
    );
    assert_team_reply(&w.verifier, &raw, &id, "xss1@bank.example");
    assert!(
        events(&env.ticket(&id))
            .iter()
            .any(|d| d.contains("relayed") && d.contains(REPORTER)),
        "{:#?}",
        events(&env.ticket(&id))
    );

    // The proxy header: ignored (and logged) from 127.0.0.1, believed from 127.0.0.2.
    let lo2: IpAddr = "127.0.0.2".parse().unwrap();
    let r = request(
        w.addr,
        None,
        "GET",
        "/queue",
        &[("X-Remote-User", "bob")],
        None,
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert!(
        daemon.wait_for_log(
            "proxy header from an address not in web.trusted_proxies",
            WAIT
        ),
        "{}",
        daemon.log()
    );
    let r = request(
        w.addr,
        Some(lo2),
        "GET",
        "/queue",
        &[("X-Remote-User", "bob")],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("bob (as bob)"), "{}", r.body);
    let token = csrf_of(&r.body);
    let r = request(
        w.addr,
        Some(lo2),
        "POST",
        &format!("/ticket/{other}/status"),
        &[("X-Remote-User", "bob")],
        Some(&form(&[("value", "stalled"), ("csrf", &token)])),
    );
    assert_eq!(r.status, 303, "{r:?}");
    let t = env.ticket(&other);
    assert_eq!(t["status"], "stalled");
    assert!(
        events(&t).iter().any(|d| d.contains("by bob (web)")),
        "{:#?}",
        events(&t)
    );
    let r = request(
        w.addr,
        Some(lo2),
        "GET",
        "/queue",
        &[("X-Remote-User", "mallory")],
        None,
    );
    assert_eq!(r.status, 303, "an unknown user: {r:?}");

    // The rate limit: three failures from one address block it, even for the right password.
    let lo3: IpAddr = "127.0.0.3".parse().unwrap();
    for _ in 0..3 {
        assert_eq!(w.login(Some(lo3), "carol", "guess", "").status, 401);
    }
    let r = w.login(Some(lo3), "alice", PASSWORD, &totp_now());
    assert_eq!(r.status, 429, "{r:?}");
    assert!(
        daemon.wait_for_log("too many failures", WAIT),
        "{}",
        daemon.log()
    );
    // Another address is not blocked; a TOTP code is good once.
    let lo4: IpAddr = "127.0.0.4".parse().unwrap();
    let r = w.login(Some(lo4), "alice", PASSWORD, &code);
    assert_eq!(r.status, 401, "the code was used: {r:?}");
    assert!(
        daemon.wait_for_log("TOTP code already used", WAIT),
        "{}",
        daemon.log()
    );

    // Logout ends the session.
    let r = w.post("/logout", c, &[], &form(&[("csrf", &csrf)]));
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap_or("").contains("Max-Age=0"));
    assert_eq!(w.get("/queue", c).status, 303);
    assert!(daemon.wait_for_log("web: logout", WAIT), "{}", daemon.log());

    daemon.terminate();
    daemon.expect_success(WAIT);
}

/// Login CSRF: a cross-site page must not log a victim's browser into the
/// attacker's account. A POST /login without the login form's token, with
/// a token of another form, or sent from another site is refused even with
/// the right password, logs nobody in, and counts as a failed login.
/// SIGHUP takes over `[[web.users]]` without a restart: a user removed
/// from the file loses the session opened before and cannot log in again;
/// a user added logs in at once.
#[test]
fn a_reload_takes_over_the_web_users_and_ends_removed_users_sessions() {
    let w = world("");
    let mut daemon = w.start_desk();
    let r = w.login(None, "alice", PASSWORD, &totp_now());
    assert_eq!(r.status, 303, "{r:?}");
    let alice = r.cookie().unwrap();
    assert_eq!(w.get("/queue", Some(&alice)).status, 200);
    assert_eq!(
        w.login(None, "carol", PASSWORD, "").status,
        401,
        "carol is not configured yet"
    );

    // alice becomes carol (no TOTP) in the file.
    let text = std::fs::read_to_string(&w.env.config).expect("config");
    let old_user = "name = \"alice\"\nhandler = \"hanna\"";
    assert!(text.contains(old_user), "{text}");
    let text = text
        .replace(old_user, "name = \"carol\"\nhandler = \"hanna\"")
        .replace(&format!("totp_secret = \"{TOTP_SECRET}\"\n"), "");
    std::fs::write(&w.env.config, text).expect("config");
    daemon.signal(libc::SIGHUP);
    assert!(
        daemon.wait_for_log("SIGHUP: configuration reloaded", WAIT),
        "{}",
        daemon.log()
    );
    assert!(
        daemon.log().contains("web users"),
        "the reload names what changed: {}",
        daemon.log()
    );
    assert!(
        !daemon.log().contains("takes effect at the next restart"),
        "users need no restart: {}",
        daemon.log()
    );

    let r = w.get("/queue", Some(&alice));
    assert_eq!(r.status, 303, "the removed user's session ended: {r:?}");
    assert!(
        daemon.wait_for_log(
            "web: session ended: the user is no longer in [[web.users]]",
            WAIT
        ),
        "{}",
        daemon.log()
    );
    assert_eq!(
        w.login(None, "alice", PASSWORD, &totp_now()).status,
        401,
        "alice is gone"
    );
    let r = w.login(None, "carol", PASSWORD, "");
    assert_eq!(r.status, 303, "carol logs in after the reload: {r:?}");
    let carol = r.cookie().unwrap();
    assert_eq!(w.get("/queue", Some(&carol)).status, 200);
}

#[test]
fn login_needs_the_forms_own_token() {
    let w = world("");
    let mut daemon = w.start_desk();
    // The form sets a short-lived strict cookie and carries its token.
    let r = w.get("/login", None);
    let set = r
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("csirtd_login="))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("a login cookie: {r:?}"));
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Max-Age="),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");

    let attacker: IpAddr = "127.0.0.5".parse().unwrap();
    let (cookie, token) = w.login_form(Some(attacker));
    let (other_cookie, other_token) = w.login_form(Some(attacker));
    assert_ne!(token, other_token, "a token per form");
    let fields = |token: &str| {
        vec![
            ("user".to_string(), "alice".to_string()),
            ("password".to_string(), PASSWORD.to_string()),
            ("totp".to_string(), totp_now()),
            ("csrf".to_string(), token.to_string()),
        ]
    };
    let post = |headers: &[(&str, &str)], token: Option<&str>| {
        let f = fields(token.unwrap_or(""));
        let pairs: Vec<(&str, &str)> = f
            .iter()
            .filter(|(k, _)| token.is_some() || k != "csrf")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        w.login_post(Some(attacker), headers, &pairs)
    };
    let cross = [
        ("Cookie", cookie.as_str()),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    for (what, r) in [
        ("no token, no cookie", post(&[], None)),
        ("a cookie, no token", post(&[("Cookie", &cookie)], None)),
        ("a token, no cookie", post(&[], Some(&token))),
        (
            "another form's token",
            post(&[("Cookie", &cookie)], Some(&other_token)),
        ),
        (
            "another form's cookie",
            post(&[("Cookie", &other_cookie)], Some(&token)),
        ),
        (
            "a forged token",
            post(&[("Cookie", &cookie)], Some(&"0".repeat(64))),
        ),
        ("from another site", post(&cross, Some(&token))),
    ] {
        assert_eq!(r.status, 403, "{what}: {r:?}");
        assert!(r.cookie().is_none(), "{what}: logged in: {r:?}");
    }
    assert!(
        daemon.wait_for_log("web: login refused: the login form's token", WAIT),
        "{}",
        daemon.log()
    );
    assert!(
        !daemon.log().contains("web: login accepted"),
        "{}",
        daemon.log()
    );
    // Counted like failed logins: that address is now blocked.
    let r = w.login(Some(attacker), "alice", PASSWORD, &totp_now());
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.cookie().is_none());

    // The form as a browser sends it still logs in, and clears its cookie,
    // even after another load of /login (a second tab, or Chromium's
    // favicon request redirected there): a fresh cookie is kept.
    let (cookie, token) = w.login_form(None);
    let again = w.get("/login", Some(&cookie));
    assert_eq!(again.set_cookie("csirtd_login"), None, "{again:?}");
    assert_eq!(csrf_of(&again.body), token);
    let r = w.login_post(
        None,
        &[("Cookie", &cookie)],
        &[
            ("user", "alice"),
            ("password", PASSWORD),
            ("totp", &totp_now()),
            ("csrf", &token),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert!(r.cookie().is_some(), "{r:?}");
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("set-cookie")
                && v.starts_with("csirtd_login=;")
                && v.contains("Max-Age=0")),
        "{r:?}"
    );
    daemon.terminate();
    daemon.expect_success(WAIT);
}

/// A Shadowserver report (a zipped CSV) as the feed's MTA hands it over.
fn shadowserver_mail(csv: &str) -> Vec<u8> {
    use std::io::Write;
    let name = "2026-11-16-scan_ntp-web.csv";
    let mut zipped = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut zipped);
        z.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(csv.as_bytes()).unwrap();
        z.finish().unwrap();
    }
    let b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        zipped.into_inner(),
    );
    let m = format!(
        "From: autoreports@shadowserver.example\r\nTo: cert@cert.example\r\nSubject: Shadowserver scan_ntp Report\r\n\
         Message-ID: <web-rows@shadowserver.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nReport attached.\r\n\
         --b\r\nContent-Type: application/zip; name=\"{name}.zip\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{name}.zip\"\r\n\r\n{b64}\r\n--b--\r\n"
    );
    from_feed(m.as_bytes())
}

#[test]
fn machine_report_rows_are_shown_escaped() {
    let w = world("");
    let csv = "timestamp,ip,protocol,port,tag\n2026-11-16 00:00:01,192.0.2.7,udp,123,<script>alert(1)</script>\n";
    let (id, _) = w.env.ingest_ok(&shadowserver_mail(csv));
    let mut daemon = w.start_desk();
    let cookie = w
        .login(None, "alice", PASSWORD, &totp_now())
        .cookie()
        .unwrap();
    let page = w.get(&format!("/ticket/{id}"), Some(&cookie)).body;
    assert!(page.contains("id=\"report-rows\""), "{page}");
    assert!(page.contains("Machine-report rows (1)"), "{page}");
    assert!(page.contains("192.0.2.7"), "{page}");
    assert!(
        page.contains(&escaped("<script>alert(1)</script>")),
        "{page}"
    );
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    daemon.terminate();
    daemon.expect_success(WAIT);
}

#[test]
fn under_tls_the_desk_serves_https_and_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = common::servers::generate_cert(dir.path(), "web");
    let extra = format!(
        "tls_cert = {}\ntls_key = {}",
        toml_str(&cert.display().to_string()),
        toml_str(&key.display().to_string())
    );
    let w = world(&extra);
    let mut daemon = w.start_desk();
    let page = tls_request(
        w.addr,
        &cert,
        &format!(
            "GET /login HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            w.addr
        ),
    );
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("id=\"login-form\""), "{page}");
    let login_cookie = page
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: csirtd_login=")
        })
        .and_then(|l| l.split_once("csirtd_login=").map(|(_, v)| v))
        .unwrap_or_else(|| panic!("a login cookie: {page}"));
    assert!(login_cookie.contains("; Secure"), "{page}");
    let login_cookie = login_cookie.split(';').next().unwrap();
    let body = form(&[
        ("user", "alice"),
        ("password", PASSWORD),
        ("totp", &totp_now()),
        ("csrf", &csrf_of(&page)),
    ]);
    let answer = tls_request(
        w.addr,
        &cert,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nCookie: csirtd_login={login_cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            w.addr,
            body.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let set = answer
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: csirtd_session=")
        })
        .unwrap_or("");
    assert!(
        set.contains("; Secure") && set.contains("HttpOnly"),
        "{answer}"
    );
    daemon.terminate();
    daemon.expect_success(WAIT);

    // A key that is not there stops the start, naming the key.
    let text = std::fs::read_to_string(&w.env.config).unwrap();
    std::fs::write(
        &w.env.config,
        text.replace(&key.display().to_string(), "/nonexistent/web.key"),
    )
    .unwrap();
    let (code, log) = run_with_timeout(&w.env, &["run"], WAIT);
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("web.tls_key"), "{log}");
}

#[test]
fn a_remote_listen_without_tls_is_refused_with_its_key() {
    let env = Env::with_extra(
        "[web]\nlisten = \"0.0.0.0:8443\"\n[[web.users]]\nname = \"alice\"\nhandler = \"hanna\"\n\
         password_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$J5pHRV0hJb1H1MUAyRHrCqmmjDgm0kvZ8lpgZeG8ohU\"\n",
    );
    let (code, log) = run_with_timeout(&env, &["run"], WAIT);
    assert_eq!(code, Some(78), "{log}");
    assert!(
        log.contains("web.tls_cert") && log.contains("loopback"),
        "{log}"
    );
    // Off by default: no [web] table, no listener, and the daemon starts.
    let env = Env::new();
    let mut d = Daemon::start(&env, &["run"]);
    assert!(d.wait_for_log("csirtd running", WAIT), "{}", d.log());
    assert!(!d.log().contains("web desk"), "{}", d.log());
    d.terminate();
    d.expect_success(WAIT);
}
