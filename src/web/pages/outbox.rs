//! The outbox entries that wait for a person: held (policy says encrypt,
//! no key), awaiting release (TLP:RED, `notify = "hold"`) and failed, with
//! release, retry and cancel: the same store operations as `csirtd outbox
//! release|retry|cancel`, each an event naming the web user.

use super::{blocking, refused, render, when_t, Nav};
use crate::mail::display::escape;
use crate::store::records::OutboxState;
use crate::web::session::{ct_eq, Who};
use crate::web::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

pub struct EntryView {
    pub id: u64,
    pub owner: String,
    /// The ticket to link to, if the entry has one.
    pub ticket: Option<String>,
    pub state: &'static str,
    pub to: String,
    pub subject: String,
    pub attempts: u32,
    pub last_error: String,
    pub created: String,
    pub releasable: bool,
    pub retryable: bool,
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    nav: Option<Nav>,
    entries: Vec<EntryView>,
    csrf: String,
}

pub async fn page(State(desk): State<AppState>, Extension(who): Extension<Who>) -> Response {
    let nav = Nav::of(&desk, &who);
    let pipeline = desk.current.get();
    let entries = blocking(move || {
        let list = pipeline.store().outbox()?;
        Ok(list
            .into_iter()
            .filter(|o| {
                matches!(
                    o.state,
                    OutboxState::Held | OutboxState::AwaitingRelease | OutboxState::Failed
                )
            })
            .map(|o| EntryView {
                id: o.id,
                owner: match (&o.advisory, o.ticket) {
                    (Some(a), _) => format!("advisory {}", escape(a)),
                    (None, crate::store::advisory::NO_TICKET) => "a daily digest".into(),
                    (None, t) => format!("ticket {t}"),
                },
                ticket: (o.advisory.is_none() && o.ticket != crate::store::advisory::NO_TICKET)
                    .then(|| o.ticket.to_string()),
                state: o.state.as_str(),
                to: escape(&o.to.join(", ")),
                subject: escape(&o.subject),
                attempts: o.attempts,
                last_error: escape(o.last_error.as_deref().unwrap_or("")),
                created: when_t(o.created_at),
                releasable: matches!(o.state, OutboxState::Held | OutboxState::AwaitingRelease),
                retryable: o.state == OutboxState::Failed,
            })
            .collect::<Vec<_>>())
    })
    .await;
    match entries {
        Ok(entries) => render(&OutboxPage {
            nav: Some(nav),
            entries,
            csrf: who.csrf.clone(),
        }),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct OutboxForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub async fn act(
    State(desk): State<AppState>,
    Extension(who): Extension<Who>,
    Path((id, verb)): Path<(u64, String)>,
    Form(f): Form<OutboxForm>,
) -> Response {
    if !ct_eq(&f.csrf, &who.csrf) {
        tracing::warn!(user = %who.user, outbox = id, verb, "web: outbox action without a valid CSRF token refused");
        return refused(
            StatusCode::FORBIDDEN,
            "The form was stale or forged; reload the page.",
        );
    }
    if !matches!(verb.as_str(), "release" | "retry" | "cancel") {
        return refused(StatusCode::NOT_FOUND, "There is no such action.");
    }
    let reason = f.reason.trim().to_string();
    if verb == "cancel" && (reason.is_empty() || reason.chars().any(char::is_control)) {
        if let Some(s) = &who.session {
            desk.sessions.set_flash(
                s,
                "Refused: say why the entry is cancelled (one line).".into(),
            );
        }
        return Redirect::to("/outbox").into_response();
    }
    let pipeline = desk.current.get();
    let by = format!("{} (web user {})", who.handler, who.user);
    let operator = format!("web user {}", who.user);
    let v = verb.clone();
    let done = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let (store, cfg) = (pipeline.store(), pipeline.config());
        let now = crate::clock::now();
        let mut out = Vec::new();
        match v.as_str() {
            "release" => crate::cli::outbox::release(
                store,
                cfg,
                id,
                &by,
                &operator,
                "the running daemon sends it now",
                &mut out,
            )?,
            "retry" => {
                let rec = store.retry_outbox(id, &by, now)?;
                store.flush()?;
                out.extend(format!("outbox entry {} is queued again", rec.id).into_bytes());
            }
            _ => {
                let rec = store.cancel_outbox(id, &reason, &by, now)?;
                store.flush()?;
                out.extend(
                    format!("outbox entry {} cancelled; it is never sent", rec.id).into_bytes(),
                );
            }
        }
        Ok(String::from_utf8_lossy(&out).trim().to_string())
    })
    .await;
    let flash = match done {
        Ok(Ok(said)) => {
            tracing::info!(user = %who.user, outbox = id, verb, "web: outbox action taken");
            desk.wake_sender();
            said
        }
        Ok(Err(e)) => {
            tracing::info!(user = %who.user, outbox = id, verb, reason = %e, "web: outbox action refused");
            format!("Refused: {e}")
        }
        Err(_) => "Refused: internal error; see the daemon's log".into(),
    };
    if let Some(s) = &who.session {
        desk.sessions.set_flash(s, flash);
    }
    Redirect::to("/outbox").into_response()
}
