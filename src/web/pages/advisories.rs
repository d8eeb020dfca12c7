//! Advisories: the list, and one advisory with its recipients' delivery
//! states and its text (as `csirtd advisory list|show`). Read-only: an
//! advisory is sent with `csirtd advisory send` or by signed mail.

use super::{blocking, message, render, when_t, Nav};
use crate::mail::display::escape;
use crate::web::session::Who;
use crate::web::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;

pub struct AdvisoryRow {
    pub id: String,
    pub tlp: String,
    pub list: String,
    pub recipients: usize,
    pub subject: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "advisories.html")]
struct ListPage {
    nav: Option<Nav>,
    rows: Vec<AdvisoryRow>,
}

pub struct RecipientView {
    pub address: String,
    pub delivery: &'static str,
    pub state: &'static str,
    pub attempts: u32,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "advisory.html")]
struct DetailPage {
    nav: Option<Nav>,
    id: String,
    tlp: String,
    list: String,
    subject: String,
    by: String,
    created: String,
    ticket: Option<String>,
    recipients: Vec<RecipientView>,
    text: String,
}

pub async fn list(State(desk): State<AppState>, Extension(who): Extension<Who>) -> Response {
    let nav = Nav::of(&desk, &who);
    let pipeline = desk.current.get();
    let rows = blocking(move || {
        Ok(pipeline
            .store()
            .advisories()?
            .iter()
            .rev()
            .map(|a| AdvisoryRow {
                id: a.id.clone(),
                tlp: a.tlp.to_string(),
                list: escape(&a.list),
                recipients: a.recipients.len(),
                subject: escape(&a.subject),
                created: when_t(a.created_at),
            })
            .collect::<Vec<_>>())
    })
    .await;
    match rows {
        Ok(rows) => render(&ListPage {
            nav: Some(nav),
            rows,
        }),
        Err(r) => r,
    }
}

pub async fn detail(
    State(desk): State<AppState>,
    Extension(who): Extension<Who>,
    Path(id): Path<String>,
) -> Response {
    let nav = Nav::of(&desk, &who);
    let pipeline = desk.current.get();
    let found = blocking(move || {
        let store = pipeline.store();
        let Some(a) = store.advisory(&id)? else {
            return Ok(None);
        };
        let states = store.recipient_states(&a)?;
        let mut recipients = Vec::with_capacity(a.recipients.len());
        for (r, s) in a.recipients.iter().zip(states) {
            recipients.push(RecipientView {
                address: escape(&r.address),
                delivery: r.delivery.as_str(),
                state: s.as_ref().map_or("-", |s| s.state.as_str()),
                attempts: s.as_ref().map_or(0, |s| s.attempts),
                last_error: escape(s.as_ref().and_then(|s| s.error.as_deref()).unwrap_or("")),
            });
        }
        Ok(Some(DetailPage {
            nav: None,
            id: a.id.clone(),
            tlp: a.tlp.to_string(),
            list: escape(&a.list),
            subject: escape(&a.subject),
            by: escape(&a.by),
            created: when_t(a.created_at),
            ticket: a.ticket.map(|t| t.to_string()),
            recipients,
            text: super::ticket::shown_text(&a.text).0,
        }))
    })
    .await;
    match found {
        Ok(Some(mut p)) => {
            p.nav = Some(nav);
            render(&p)
        }
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            Some(nav),
            "No such advisory",
            "There is no advisory with that ID.",
        ),
        Err(r) => r,
    }
}
