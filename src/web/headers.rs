//! The headers every response carries, the cross-site check of state
//! changes, and downloads that a browser can only save, never render.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;

/// No inline script or style, nothing framed, forms only to ourselves.
pub const CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";
/// For downloads: even opened in place, the file runs nothing.
pub const CSP_SANDBOX: &str = "sandbox";

/// Layers that add the security headers unless a handler set its own
/// (a download's sandbox CSP, a static file's caching).
pub fn layers() -> Vec<SetResponseHeaderLayer<HeaderValue>> {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    vec![
        set(header::CONTENT_SECURITY_POLICY, CSP),
        set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        set(header::REFERRER_POLICY, "no-referrer"),
        set(header::X_FRAME_OPTIONS, "DENY"),
        set(header::CACHE_CONTROL, "no-store"),
        set(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ]
}

/// Why a state-changing request is refused as cross-site, if it is: a
/// browser's `Sec-Fetch-Site` other than same-origin (or none, typed by
/// the user), or an `Origin` that is not this host. A request with
/// neither (curl, an old browser) still needs the CSRF token. Pure.
///
/// A browser's `Sec-Fetch-Site: same-origin` settles it: under our
/// `Referrer-Policy: no-referrer` Chromium sends `Origin: null` with the
/// desk's own form posts (the Fetch standard's origin serialisation), so
/// the Origin check would refuse every action from a real browser.
pub fn cross_site(headers: &HeaderMap) -> Option<String> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    match get("sec-fetch-site") {
        Some("same-origin") => return None,
        Some("none") | None => {}
        Some(site) => return Some(format!("Sec-Fetch-Site: {site}")),
    }
    let origin = get("origin")?;
    let host = get("host").unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match origin_host {
        Some(h) if !host.is_empty() && h.eq_ignore_ascii_case(host) => None,
        _ => Some(format!("Origin: {origin} is not this site ({host})")),
    }
}

/// A file name safe in a header and on any disk: letters, digits, `.`,
/// `-` and `_`, no leading dot, at most 100 characters. Pure.
pub fn safe_filename(name: &str, fallback: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches(['.', '_']);
    let cut: String = trimmed.chars().take(100).collect();
    if cut.is_empty() || cut.chars().all(|c| c == '_' || c == '.') {
        fallback.to_string()
    } else {
        cut
    }
}

/// Bytes as a download: never sniffed, never rendered, never scripted.
pub fn download(bytes: Vec<u8>, filename: &str) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}\"",
        safe_filename(filename, "download.bin")
    );
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP_SANDBOX),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        assert_eq!(cross_site(&h(&[("host", "127.0.0.1:8080")])), None);
        let same = [
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert_eq!(cross_site(&h(&same)), None);
        // What Chromium sends with our own forms under no-referrer.
        let ours = [
            ("host", "127.0.0.1:8080"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert_eq!(cross_site(&h(&ours)), None);
        assert!(cross_site(&h(&[
            ("host", "a:1"),
            ("origin", "null"),
            ("sec-fetch-site", "same-site")
        ]))
        .is_some());
        assert!(cross_site(&h(&[("host", "a:1"), ("sec-fetch-site", "cross-site")])).is_some());
        assert!(cross_site(&h(&[("host", "a:1"), ("sec-fetch-site", "same-site")])).is_some());
        assert!(cross_site(&h(&[("host", "a:1"), ("origin", "https://evil.example")])).is_some());
        assert!(cross_site(&h(&[("host", "a:1"), ("origin", "null")])).is_some());
    }

    #[test]
    fn filenames_are_tamed() {
        assert_eq!(safe_filename("report.pdf", "x"), "report.pdf");
        assert_eq!(
            safe_filename("\"><img src=x onerror=alert(1)>.exe", "x"),
            "img_src_x_onerror_alert_1__.exe"
        );
        assert_eq!(safe_filename("../../etc/passwd", "x"), "etc_passwd");
        assert_eq!(safe_filename("résumé\r\n.txt", "x"), "r_sum___.txt");
        assert_eq!(safe_filename("...", "fallback.bin"), "fallback.bin");
        assert_eq!(safe_filename(&"a".repeat(300), "x").len(), 100);
    }
}
