//! The pages, one file each; the templates are in `src/web/templates`.
//! Every value reaches HTML through askama's escaping; nothing here
//! formats HTML itself.

pub mod actions;
pub mod advisories;
pub mod download;
pub mod login;
pub mod outbox;
pub mod queue;
pub mod search;
pub mod ticket;
pub mod trends;

use super::session::Who;
use super::Desk;
use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// What the frame of every page shows: who is logged in, the token for
/// the logout form, and the outcome of the last step.
pub struct Nav {
    pub user: String,
    pub handler: String,
    pub csrf: String,
    pub flash: Option<String>,
}

impl Nav {
    pub fn of(desk: &Desk, who: &Who) -> Nav {
        Nav {
            user: who.user.clone(),
            handler: who.handler.clone(),
            csrf: who.csrf.clone(),
            flash: who
                .session
                .as_deref()
                .and_then(|s| desk.sessions.take_flash(s)),
        }
    }
}

/// A rendered page, or a plain 500 (a template error is our bug, and its
/// text may hold mail content: it goes to the log only).
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!("web: a page could not be rendered: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    nav: Option<Nav>,
    title: &'a str,
    text: &'a str,
}

/// A short page with one sentence (our words, never mail content).
pub fn refused(code: StatusCode, text: &str) -> Response {
    let mut r = render(&MessagePage {
        nav: None,
        title: "Refused",
        text,
    });
    *r.status_mut() = code;
    r
}

pub fn message(code: StatusCode, nav: Option<Nav>, title: &str, text: &str) -> Response {
    let mut r = render(&MessagePage { nav, title, text });
    *r.status_mut() = code;
    r
}

pub async fn not_found() -> Response {
    refused(StatusCode::NOT_FOUND, "There is no such page.")
}

/// The blocking part of a page, on the blocking pool; a panic there is a
/// 500, not a dead server.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!("web: {e:#}");
            Err(message(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "Error",
                "The store could not be read; see the daemon's log.",
            ))
        }
        Err(_) => Err(message(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "Error",
            "Internal error; see the daemon's log.",
        )),
    }
}

pub async fn static_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (super::STATIC_CACHE.0, super::STATIC_CACHE.1),
        ],
        include_str!("../static/desk.css"),
    )
        .into_response()
}

pub async fn static_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (super::STATIC_CACHE.0, super::STATIC_CACHE.1),
        ],
        include_str!("../static/desk.js"),
    )
        .into_response()
}

/// `2026-01-31 12:00 UTC` for a Unix time.
pub fn when(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(when_t)
        .unwrap_or_default()
}

pub fn when_t(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}
