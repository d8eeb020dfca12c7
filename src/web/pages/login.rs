//! Login and logout. Failures are logged with the reason and counted per
//! user and per client address; the page only ever says "not accepted".

use super::{render, Nav};
use crate::web::session::{self, Who};
use crate::web::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Instant;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    user: String,
    error: Option<&'static str>,
}

pub async fn form(who: Option<Extension<Who>>) -> Response {
    if who.is_some() {
        return Redirect::to("/queue").into_response();
    }
    render(&LoginPage {
        nav: None,
        user: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
}

pub async fn submit(
    State(desk): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let name: String = f.user.trim().chars().take(64).collect();
    let keys = vec![
        format!("user:{}", name.to_ascii_lowercase()),
        format!("ip:{}", peer.ip()),
    ];
    let again = |code: StatusCode, error: &'static str| {
        let mut r = render(&LoginPage {
            nav: None,
            user: name.clone(),
            error: Some(error),
        });
        *r.status_mut() = code;
        r
    };
    if desk.limiter.blocked(&keys, Instant::now()) {
        tracing::warn!(user = %name, peer = %peer.ip(), "web: login refused: too many failures (web.login_max_failures)");
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts; try again later.",
        );
    }
    let users = desk.web.users.clone();
    let (n, password, code) = (name.clone(), f.password, f.totp);
    let unix = crate::clock::now().unix_timestamp().max(0) as u64;
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
            if let Ok(v) = session::set_cookie(Some(&id), desk.tls, max_age).parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
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
