//! The handling steps from the ticket page: each POST carries the
//! session's CSRF token and becomes the mail command a handler would write
//! (one parser, one set of refusals), run by `workflow::desk` as the web
//! user's handler; notes and replies go through `desk::note` and
//! `desk::reply`, so a reply leaves exactly as a relayed one.

use super::queue::parse_status;
use super::refused;
use crate::model::TicketId;
use crate::web::session::{ct_eq, Who};
use crate::web::AppState;
use crate::workflow::commands::{self, Command};
use crate::workflow::desk::{self, Actor};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    /// The one-line argument: a status, handler, category, TLP, ticket ID or reason.
    #[serde(default)]
    value: String,
    /// A note's or reply's text.
    #[serde(default)]
    text: String,
}

/// What a form asks for.
#[derive(Debug, PartialEq)]
pub enum Step {
    Command(Command),
    Note(String),
    Reply(String),
}

/// The step a verb and its form ask for, as the mail command line would
/// spell it; None for an unknown verb. Pure.
pub fn step(verb: &str, value: &str, text: &str) -> Option<Result<Step, String>> {
    let value = value.trim();
    if value.chars().any(char::is_control) || value.len() > 1000 {
        return Some(Err("the value must be one short line".into()));
    }
    let line = match verb {
        "status" => {
            return Some(
                parse_status(value)
                    .map(|s| Step::Command(Command::Status(s)))
                    .ok_or_else(|| format!("unknown status `{value}`")),
            )
        }
        "assign" if value.is_empty() => "/unassign".to_string(),
        "assign" => format!("/assign {value}"),
        "category" => format!("/category {value}"),
        // The form's placeholder (a ticket without a TLP): never a label.
        "tlp" if value.is_empty() => {
            return Some(Err("choose a TLP label; the TLP is unchanged".to_string()))
        }
        "tlp" => format!("/tlp {value}"),
        "link" => format!("/link {value}"),
        "merge" => format!("/merge {value}"),
        "hold" => {
            return Some(commands::hold_reason(value).map(|r| Step::Command(Command::Hold(r))))
        }
        "unhold" => "/unhold".to_string(),
        "note" => return Some(Ok(Step::Note(text.replace("\r\n", "\n")))),
        "reply" => return Some(Ok(Step::Reply(text.replace("\r\n", "\n")))),
        _ => return None,
    };
    Some(commands::parse_line(&line).map(Step::Command))
}

pub async fn act(
    State(desk): State<AppState>,
    Extension(who): Extension<Who>,
    Path((id, verb)): Path<(String, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    if !ct_eq(&f.csrf, &who.csrf) {
        tracing::warn!(user = %who.user, ticket = %id, verb, "web: action without a valid CSRF token refused");
        return refused(
            StatusCode::FORBIDDEN,
            "The form was stale or forged; reload the page.",
        );
    }
    let Ok(tid) = id.parse::<TicketId>() else {
        return refused(StatusCode::NOT_FOUND, "There is no such ticket.");
    };
    let back = format!("/ticket/{tid}");
    let said = match step(&verb, &f.value, &f.text) {
        None => return refused(StatusCode::NOT_FOUND, "There is no such action."),
        Some(Err(e)) => Err(e),
        Some(Ok(s)) => run(&desk, &who, tid, &verb, s).await,
    };
    let flash = match said {
        Ok(lines) => {
            tracing::info!(user = %who.user, handler = %who.handler, ticket = %tid, verb, "web: action taken");
            lines
        }
        Err(e) => {
            tracing::info!(user = %who.user, handler = %who.handler, ticket = %tid, verb, reason = %e, "web: action refused");
            format!("Refused: {e}")
        }
    };
    if let Some(s) = &who.session {
        desk.sessions.set_flash(s, flash);
    }
    Redirect::to(&back).into_response()
}

/// Runs the step on the blocking pool; the events' lines, or why not.
async fn run(
    desk: &AppState,
    who: &Who,
    id: TicketId,
    verb: &str,
    s: Step,
) -> Result<String, String> {
    let pipeline = desk.current.get();
    let actor = Actor::web(&who.handler, &who.user);
    let verb = verb.to_string();
    let done = tokio::task::spawn_blocking(move || {
        let (store, cfg) = (pipeline.store(), pipeline.config());
        let now = crate::clock::now();
        let events = match s {
            Step::Command(c) => desk::command(store, cfg, id, &c, &actor, now),
            Step::Note(t) => desk::note(store, cfg, id, &t, &actor, now),
            Step::Reply(t) => desk::reply(store, cfg, id, &t, &actor, now).and_then(|(r, ev)| {
                if r.queued.is_empty() && r.kept.is_empty() {
                    let why: Vec<String> = ev.iter().map(|e| e.detail.clone()).collect();
                    Err(desk::DeskError::Refused(format!(
                        "the reply was not queued: {}",
                        why.join("; ")
                    )))
                } else {
                    Ok(ev)
                }
            }),
        };
        events
            .map(|ev| {
                let lines: Vec<String> = ev.iter().map(|e| e.detail.clone()).collect();
                if lines.is_empty() {
                    format!("{verb}: done")
                } else {
                    lines.join(" · ")
                }
            })
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| "internal error; see the daemon's log".to_string())?;
    if done.is_ok() {
        desk.wake_sender();
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    #[test]
    fn forms_become_the_mail_commands() {
        let s = |v, val| step(v, val, "").unwrap();
        assert_eq!(
            s("status", "Resolved"),
            Ok(Step::Command(Command::Status(Status::Resolved)))
        );
        assert_eq!(
            s("status", "new"),
            Ok(Step::Command(Command::Status(Status::New)))
        );
        assert_eq!(
            s("assign", "bob"),
            Ok(Step::Command(Command::Assign("bob".into())))
        );
        assert_eq!(s("assign", ""), Ok(Step::Command(Command::Unassign)));
        assert!(s("assign", "a\nb").is_err(), "one line only");
        assert!(s("tlp", "purple").is_err());
        assert_eq!(
            s("tlp", " "),
            Err("choose a TLP label; the TLP is unchanged".to_string()),
            "the placeholder sets nothing"
        );
        assert!(s("category", "").is_err(), "no empty category");
        assert!(s("hold", "").is_err());
        assert_eq!(step("nonsense", "", ""), None);
        assert_eq!(
            step("reply", "", "Dear reporter,\r\nthanks").unwrap(),
            Ok(Step::Reply("Dear reporter,\nthanks".into()))
        );
    }
}
