//! Login and logout. Failures are logged with the reason and counted per
//! user and per client address; the page only ever says "not accepted".
//! A login POST needs the pre-session cookie and token of a login form
//! this desk served (login CSRF), checked before the credentials.

use super::{render, Nav};
use crate::web::session::{self, Who};
use crate::web::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    user: String,
    error: Option<&'static str>,
    /// The token of this form's pre-session cookie.
    csrf: String,
}

/// The login form with its pre-session cookie's token: served on GET and
/// again after each refusal. The browser's login cookie is kept while it
/// is fresh (see `session::login_cookie_reusable`), else a new one is set.
fn login_page(
    desk: &AppState,
    headers: &HeaderMap,
    code: StatusCode,
    user: String,
    error: Option<&'static str>,
) -> Response {
    let unix = crate::clock::now().unix_timestamp().max(0) as u64;
    let had = session::login_cookie_of(headers);
    let secret = desk.secret.as_bytes();
    let (new_cookie, csrf) = match session::login_cookie_reusable(had.as_deref(), unix) {
        Some(c) => (None, session::login_token(secret, c)),
        None => {
            let (c, t) = session::login_form_pair(secret, unix);
            (Some(c), t)
        }
    };
    let mut r = render(&LoginPage {
        nav: None,
        user,
        error,
        csrf,
    });
    *r.status_mut() = code;
    if let Some(c) = new_cookie {
        if let Ok(v) = session::set_login_cookie(Some(&c), desk.tls).parse() {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

pub async fn form(
    State(desk): State<AppState>,
    headers: HeaderMap,
    who: Option<Extension<Who>>,
) -> Response {
    if who.is_some() {
        return Redirect::to("/queue").into_response();
    }
    login_page(&desk, &headers, StatusCode::OK, String::new(), None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
    /// The login form's token (see `session::login_form_ok`).
    #[serde(default)]
    csrf: String,
}

/// A login refused before its credentials are looked at (no valid form
/// token, another site): logged, and counted like a failed login against
/// the client address. Not against the user named: such a request guesses
/// no password, and counting it would let any page lock a user out.
pub fn count_refusal(desk: &AppState, peer: IpAddr, user: Option<&str>, why: &str) {
    desk.limiter.failed(&[format!("ip:{peer}")], Instant::now());
    tracing::warn!(user = user.unwrap_or(""), %peer, "web: login refused: {why}");
}

pub async fn submit(
    State(desk): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let name: String = f.user.trim().chars().take(64).collect();
    let keys = vec![
        format!("user:{}", name.to_ascii_lowercase()),
        format!("ip:{}", peer.ip()),
    ];
    let again = |code: StatusCode, error: &'static str| {
        login_page(&desk, &headers, code, name.clone(), Some(error))
    };
    // A cross-site page could otherwise log the victim's browser into
    // the attacker's account: only a form this desk served logs in.
    let unix = crate::clock::now().unix_timestamp().max(0) as u64;
    let cookie = session::login_cookie_of(&headers);
    if let Err(why) =
        session::login_form_ok(desk.secret.as_bytes(), cookie.as_deref(), &f.csrf, unix)
    {
        count_refusal(
            &desk,
            peer.ip(),
            Some(&name),
            &format!("the login form's token: {why}"),
        );
        return again(
            StatusCode::FORBIDDEN,
            "The login form was stale or not from this desk; log in again.",
        );
    }
    if desk.limiter.blocked(&keys, Instant::now()) {
        tracing::warn!(user = %name, peer = %peer.ip(), "web: login refused: too many failures (web.login_max_failures)");
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts; try again later.",
        );
    }
    // As last loaded: SIGHUP takes over [[web.users]].
    let users = desk.current.get().config().web.users.clone();
    let (n, password, code) = (name.clone(), f.password, f.totp);
    let checked = tokio::task::spawn_blocking(move || {
        super::super::auth::check_login(&users, &n, &password, &code, unix)
            .map(|(u, step)| (u.name.clone(), u.handler.clone(), step))
    })
    .await;
    // A TOTP code seen once (by anyone watching) does not log in again.
    let checked = match checked {
        Ok(Ok((user, _, Some(step)))) if !desk.totp_used.take(&user, step) => {
            Ok(Err("TOTP code already used"))
        }
        Ok(Ok((user, handler, _))) => Ok(Ok((user, handler))),
        Ok(Err(e)) => Ok(Err(e)),
        Err(e) => Err(e),
    };
    match checked {
        Ok(Ok((user, handler))) => {
            desk.limiter.succeeded(&keys[0]);
            let id = desk.sessions.create(&user, &handler);
            tracing::info!(user, handler, peer = %peer.ip(), "web: login accepted");
            let max_age = std::time::Duration::from_secs(desk.web.max_hours.saturating_mul(3600));
            let mut r = Redirect::to("/queue").into_response();
            for c in [
                session::set_cookie(Some(&id), desk.tls, max_age),
                session::set_login_cookie(None, desk.tls),
            ] {
                if let Ok(v) = c.parse() {
                    r.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            r
        }
        Ok(Err(reason)) => {
            desk.limiter.failed(&keys, Instant::now());
            tracing::warn!(user = %name, peer = %peer.ip(), reason, "web: login failed");
            again(
                StatusCode::UNAUTHORIZED,
                "User, password or code not accepted.",
            )
        }
        Err(_) => again(StatusCode::INTERNAL_SERVER_ERROR, "Internal error."),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(desk): State<AppState>,
    Extension(who): Extension<Who>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if !session::ct_eq(&f.csrf, &who.csrf) {
        tracing::warn!(user = %who.user, "web: logout without a valid CSRF token refused");
        return super::refused(StatusCode::FORBIDDEN, "The form was stale or forged.");
    }
    if let Some(id) = &who.session {
        desk.sessions.remove(id);
    }
    tracing::info!(user = %who.user, "web: logout");
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = session::set_cookie(None, desk.tls, std::time::Duration::ZERO).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
