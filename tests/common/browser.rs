//! A real browser for the web desk's tests (tests/web_browser.rs):
//! headless Chromium driven over WebDriver (fantoccini) through a
//! chromedriver this helper starts on a free port, in its own process
//! group so that dropping the helper kills chromedriver and every Chromium
//! process it started, even when a test fails half-way.
//!
//! Every request the browser makes to an address outside loopback goes to
//! a catching proxy (`Browser::outside`): Chromium sends loopback directly
//! (the desk and the tests' attacker pages) and everything else through
//! `--proxy-server`, so a payload that makes the page fetch from any
//! outside address is seen there instead of vanishing into the network.

use super::http::free_port;
use fantoccini::{Client, ClientBuilder};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PREREQS: &str = "run `scripts/prereqs.sh --test` (as root) to install \
chromium and chromium-driver for the browser tests";

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/lib/chromium"].map(PathBuf::from))
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// Request lines that reached the catching proxy.
#[derive(Clone, Default)]
pub struct Caught(Arc<Mutex<Vec<String>>>);

impl Caught {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Accepts every connection, keeps its request line and answers 204.
fn catch_all(listener: TcpListener, caught: Caught) {
    for conn in listener.incoming() {
        let Ok(mut s) = conn else { continue };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut line = String::new();
        let _ = BufReader::new(&s).read_line(&mut line);
        caught
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.trim_end().to_string());
        let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    }
}

pub struct Browser {
    pub client: Client,
    /// Requests the browser tried to send outside loopback.
    pub outside: Caught,
    driver: Child,
    driver_addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and one headless Chromium session.
    pub async fn start() -> Browser {
        let Some(driver_bin) = find_program(&["chromedriver"]) else {
            panic!("chromedriver is not installed: {PREREQS}");
        };
        let Some(chromium) = find_program(&["chromium", "chromium-browser", "chrome"]) else {
            panic!("chromium is not installed: {PREREQS}");
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("chromedriver.log");
        let port = free_port();
        let driver = {
            use std::os::unix::process::CommandExt;
            Command::new(&driver_bin)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log).expect("chromedriver log"))
                .stderr(Stdio::inherit())
                .process_group(0)
                .spawn()
                .expect("spawn chromedriver")
        };
        let catcher = TcpListener::bind("127.0.0.1:0").expect("bind the catching proxy");
        let proxy = catcher.local_addr().expect("proxy address");
        let outside = Caught::default();
        let c = outside.clone();
        std::thread::spawn(move || catch_all(catcher, c));

        let deadline = Instant::now() + Duration::from_secs(20);
        let driver_addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        while TcpStream::connect(driver_addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = dir.path().join("profile");
        // Root in a container: Chromium's sandbox needs user namespaces it
        // does not get, hence --no-sandbox; /dev/shm is small there, hence
        // --disable-dev-shm-usage. The rest keeps Chromium's own calls
        // home (which reach the catching proxy too) to a few.
        let args = serde_json::json!([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            format!("--user-data-dir={}", profile.display()),
            format!("--proxy-server=http://{proxy}"),
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--metrics-recording-only",
        ]);
        let caps = serde_json::json!({
            "browserName": "chrome",
            // An alert stays open, so that the test sees it.
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "a Chromium session: {e}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        Browser {
            client,
            outside,
            driver,
            driver_addr,
            log,
            _dir: dir,
        }
    }

    pub fn driver_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ends the session (Chromium exits), then chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver's
    /// passthrough (`POST /session/{id}/goog/cdp/execute`); its result.
    pub async fn cdp(&self, cmd: &str, params: serde_json::Value) -> serde_json::Value {
        use std::io::Read;
        let id = self
            .client
            .session_id()
            .await
            .expect("the session ID")
            .expect("a session");
        let body = serde_json::json!({ "cmd": cmd, "params": params }).to_string();
        let mut s = TcpStream::connect(self.driver_addr).expect("connect to chromedriver");
        write!(
            s,
            "POST /session/{id}/goog/cdp/execute HTTP/1.1\r\nHost: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.driver_addr,
            body.len()
        )
        .expect("send to chromedriver");
        // chromedriver keeps the connection open: read by Content-Length.
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut r = BufReader::new(s);
        let (mut status, mut length, mut line) = (String::new(), 0usize, String::new());
        r.read_line(&mut status)
            .expect("chromedriver's status line");
        while r.read_line(&mut line).expect("a header") > 2 {
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            line.clear();
        }
        let mut body = vec![0u8; length];
        r.read_exact(&mut body).expect("chromedriver's answer");
        let body = String::from_utf8_lossy(&body);
        assert!(status.contains(" 200 "), "{cmd}: {status} {body}");
        serde_json::from_str::<serde_json::Value>(&body)
            .unwrap_or_else(|e| panic!("{cmd}: {e}: {body}"))["value"]
            .clone()
    }

    /// Types `text` into the element `css` names.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.element(css).await.send_keys(text).await.unwrap();
    }

    /// Clicks the element `css` names.
    pub async fn click(&self, css: &str) {
        self.element(css).await.click().await.unwrap();
    }

    /// Chooses `value` in the select element `css` names.
    pub async fn select(&self, css: &str, value: &str) {
        self.element(css)
            .await
            .select_by_value(value)
            .await
            .unwrap();
    }

    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css} on the page: {e}"))
    }

    /// The current page's path (without the query).
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.path().to_string())
            .unwrap_or_default()
    }

    /// Writes a PNG of the current viewport to `name` in the test run's
    /// output (`<target>/screenshots/`) and, with
    /// CSIRTD_UPDATE_SCREENSHOTS=1, to docs/screenshots/ in the repository.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // The whole page (up to 2,400 pixels), not only the first screen.
        let (w, h) = self.client.get_window_size().await.expect("window size");
        let page = self
            .client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(h);
        let chrome = h.saturating_sub(
            self.client
                .execute("return window.innerHeight", vec![])
                .await
                .ok()
                .and_then(|v| v.as_u64())
                .unwrap_or(h),
        );
        let tall = (page + chrome).clamp(h, 2400) as u32;
        self.client
            .set_window_size(w as u32, tall)
            .await
            .expect("resize the window");
        let png = self.client.screenshot().await.expect("a screenshot");
        self.client
            .set_window_size(w as u32, h as u32)
            .await
            .expect("resize the window back");
        assert!(png.starts_with(b"\x89PNG\r\n"), "a PNG");
        let target = Path::new(super::BIN)
            .parent()
            .and_then(Path::parent)
            .expect("the target directory")
            .join("screenshots");
        std::fs::create_dir_all(&target).expect("create the screenshot directory");
        let out = target.join(name);
        std::fs::write(&out, &png).expect("write the screenshot");
        if std::env::var("CSIRTD_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
            std::fs::create_dir_all(&docs).expect("create docs/screenshots");
            std::fs::write(docs.join(name), &png).expect("write the docs screenshot");
        }
        out
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver leads its own process group, Chromium included.
        let pid = self.driver.id() as i32;
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}
