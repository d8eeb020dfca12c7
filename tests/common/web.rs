//! Shared by the web desk's tests (tests/web.rs): an installation with
//! the desk on a free loopback port (two handlers, a web user with a
//! password made by `csirtd web passwd` and a TOTP secret, a trusted proxy
//! address), a hostile report, and checks of what every response carries.

use super::gpg::{gpg_verifies, handler_env, Gpg};
use super::http::{form, free_port, request, Response};
use super::{toml_str, Daemon, Env, BIN};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(60);
pub const REPORTER: &str = "reporter@bank.example";
pub const PASSWORD: &str = "correct horse battery staple";
pub const TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
pub const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

/// A report whose every sender-chosen field carries markup.
pub fn hostile_report() -> Vec<u8> {
    let payload = "<script>alert(1)</script> \"><img src=x onerror=alert(1)> javascript:alert(1)";
    format!(
        "From: \"<script>alert(1)</script> x\" <{REPORTER}>\r\n\
         To: cert@cert.example\r\n\
         Subject: {payload}\r\n\
         Date: Mon, 16 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <xss1@bank.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\n\
         Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n\
         --b2\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Phishing at https://evil.example.net/login?x=\"><script>alert(1)</script> from 198.51.100.77\r\n\
         {payload}\r\n\
         --b2\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <html><body><script>alert(1)</script><a href=\"javascript:alert(1)\">click</a><img src=x onerror=alert(1)></body></html>\r\n\
         --b2--\r\n\
         --b1\r\n\
         Content-Type: text/plain\r\n\
         Content-Disposition: attachment; filename=\"\\\"><img src=x onerror=alert(1)>.txt\"\r\n\r\n\
         <script>alert(1)</script>\r\n\
         --b1--\r\n"
    )
    .into_bytes()
}

pub struct World {
    pub env: Env,
    pub verifier: Gpg,
    pub addr: SocketAddr,
}

pub fn world(extra_web: &str) -> World {
    world_with("never", extra_web)
}

/// `encrypt`: the `[ack] encrypt` policy ("always" holds mail to a
/// requestor without a key).
pub fn world_with(encrypt: &str, extra_web: &str) -> World {
    let hanna = Gpg::new();
    hanna.gen("Hanna <handler@cert.example>");
    let bob = Gpg::new();
    bob.gen("Bob <bob@cert.example>");
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let verifier = Gpg::new();
    verifier.import(&team.export("cert@cert.example"));
    let bob_fpr = super::gpg::fingerprint(&bob, "bob@cert.example");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let hash = passwd_hash();
    let env = handler_env(
        &team,
        &hanna,
        &[(&bob, "bob@cert.example")],
        &format!(
            "[[handlers]]\nname = \"bob\"\nemail = \"bob@cert.example\"\nfingerprint = \"{bob_fpr}\"\n\
             [handling]\nadvisory_address = \"cert-advisory@cert.example\"\n\
             [[lists]]\nname = \"members\"\nmax_tlp = \"amber\"\nencrypt = \"never\"\n\
             members = [{{ email = \"member@bank.example\" }}]\n\
             [ack]\nencrypt = \"{encrypt}\"\n\
             [web]\nlisten = \"{addr}\"\nproxy_header = \"X-Remote-User\"\n\
             trusted_proxies = [\"127.0.0.2\"]\nlogin_max_failures = 3\n{extra_web}\n\
             [[web.users]]\nname = \"alice\"\nhandler = \"hanna\"\n\
             password_hash = {}\ntotp_secret = \"{TOTP_SECRET}\"\n{}",
            toml_str(&hash),
            super::FEEDS
        ),
    );
    World {
        env,
        verifier,
        addr,
    }
}

/// `world`, its outbox delivering over plain SMTP to 127.0.0.1:`port`
/// (the private Postfix of `MailServers`) instead of into files.
pub fn world_smtp(port: u16, extra_web: &str) -> World {
    let w = world(extra_web);
    let text = std::fs::read_to_string(&w.env.config).expect("read config");
    let (file, dir) = ("transport = \"file\"", "[outbox.file]\ndir = \"outbox\"");
    assert!(text.contains(file) && text.contains(dir), "{text}");
    let text = text.replace(file, "transport = \"smtp\"").replace(
        dir,
        &format!(
            "[outbox.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_secs = 10"
        ),
    );
    std::fs::write(&w.env.config, text).expect("write config");
    w
}

/// `csirtd web passwd alice` with the password on standard input.
pub fn passwd_hash() -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = std::process::Command::new(BIN)
        .args(["web", "passwd", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("csirtd web passwd");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8(out.stdout).unwrap();
    let hash = line
        .trim()
        .strip_prefix("password_hash = \"")
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("a password_hash line: {line}"));
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    hash.to_string()
}

pub fn totp_now() -> String {
    let secret = csirtd::config::totp_bytes(TOTP_SECRET).expect("base32");
    totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, secret)
        .generate_current()
        .unwrap()
}

impl World {
    /// `csirtd run`, once its desk listens.
    pub fn start_desk(&self) -> Daemon {
        let mut daemon = Daemon::start(&self.env, &["run"]);
        assert!(
            daemon.wait_for_log("web desk listening", WAIT),
            "{}",
            daemon.log()
        );
        daemon
    }

    pub fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut h = vec![];
        if let Some(c) = cookie {
            h.push(("Cookie", c));
        }
        request(self.addr, None, "GET", path, &h, None)
    }

    pub fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        extra: &[(&str, &str)],
        body: &str,
    ) -> Response {
        let mut h = extra.to_vec();
        if let Some(c) = cookie {
            h.push(("Cookie", c));
        }
        request(self.addr, None, "POST", path, &h, Some(body))
    }

    /// The login form as a browser gets it: its pre-session cookie
    /// (`name=value`) and the token of its hidden field.
    pub fn login_form(&self, from: Option<IpAddr>) -> (String, String) {
        let r = request(self.addr, from, "GET", "/login", &[], None);
        assert_eq!(r.status, 200, "{r:?}");
        let cookie = r
            .set_cookie("csirtd_login")
            .unwrap_or_else(|| panic!("a login cookie: {r:?}"));
        (cookie, csrf_of(&r.body))
    }

    /// Logs in through the form, as a browser does: GET /login, then
    /// POST it with its cookie and token.
    pub fn login(&self, from: Option<IpAddr>, user: &str, password: &str, totp: &str) -> Response {
        let (cookie, token) = self.login_form(from);
        self.login_post(
            from,
            &[("Cookie", &cookie)],
            &[
                ("user", user),
                ("password", password),
                ("totp", totp),
                ("csrf", &token),
            ],
        )
    }

    /// POST /login with exactly these headers and fields.
    pub fn login_post(
        &self,
        from: Option<IpAddr>,
        headers: &[(&str, &str)],
        fields: &[(&str, &str)],
    ) -> Response {
        request(
            self.addr,
            from,
            "POST",
            "/login",
            headers,
            Some(&form(fields)),
        )
    }
}

/// The ticket is bob's, and its history says web user alice (acting as
/// hanna) assigned it.
pub fn assert_assigned_to_bob_by_alice(env: &Env, id: &str) {
    let t = env.ticket(id);
    assert_eq!(t["assignee"], "bob");
    assert!(
        events(&t)
            .iter()
            .any(|d| d.contains("/assign bob by hanna (web user alice)")),
        "{:#?}",
        events(&t)
    );
}

/// The security headers every response carries.
pub fn secure(r: &Response, what: &str) {
    let csp = r.header("content-security-policy").unwrap_or("");
    let download = r.header("content-disposition").is_some();
    if download {
        assert_eq!(csp, "sandbox", "{what}: {r:?}");
    } else {
        assert_eq!(csp, CSP, "{what}: {r:?}");
    }
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert!(r.header("cache-control").is_some(), "{what}: {r:?}");
}

pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_string()
}

pub fn events(t: &serde_json::Value) -> Vec<String> {
    t["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A reply as the team sends it for ticket `id`: from the team address,
/// in reply to the message `in_reply_to`, the ticket's tag in the subject,
/// and a team signature that `verifier`'s gpg accepts.
pub fn assert_team_reply(verifier: &Gpg, raw: &[u8], id: &str, in_reply_to: &str) {
    let text = String::from_utf8_lossy(raw).into_owned();
    for (name, want) in [
        ("From", "cert@cert.example".to_string()),
        ("In-Reply-To", in_reply_to.to_string()),
        ("Subject", format!("[CERT-EX #{id}]")),
    ] {
        assert!(
            super::header(&text, name)
                .unwrap_or_default()
                .contains(&want),
            "{name} should hold {want}: {text}"
        );
    }
    let said = gpg_verifies(verifier, raw);
    assert!(
        said.contains("Good signature") && said.contains("cert@cert.example"),
        "{said}"
    );
}

pub fn sent_with(env: &Env, marker: &str) -> Option<Vec<u8>> {
    env.sent_files()
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .find(|raw| String::from_utf8_lossy(raw).contains(marker))
}

/// `s` as askama escapes it in HTML.
pub fn escaped(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Every `href` and `src` of the page is one of ours (a path), never a
/// scheme a sender chose.
pub fn links_are_ours(html: &str) {
    for attr in ["href=\"", "src=\"", "action=\""] {
        for (i, _) in html.match_indices(attr) {
            let v = &html[i + attr.len()..];
            assert!(v.starts_with('/'), "{attr}{}", &v[..v.len().min(60)]);
        }
    }
}

/// One request over TLS to `addr`, trusting `cert` only.
pub fn tls_request(addr: SocketAddr, cert: &std::path::Path, req: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
        tls.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    })
}
