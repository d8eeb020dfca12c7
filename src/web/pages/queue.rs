//! The queue: `ticket list` in a browser, on the same list index (filters,
//! sort and paging of `Store::list`; no ticket is decoded), with the SLA's
//! overdue marker and a flags filter on the summaries.

use super::{blocking, render, when, Nav};
use crate::cli::list::{due_of, query, ListArgs, DEFAULT_PAGE};
use crate::model::Status;
use crate::store::summary::{More, TicketSummary};
use crate::web::session::Who;
use crate::web::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};

/// The filter form's fields, as they travel in the query string.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Filters {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub assignee: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub constituency: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub category: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tlp: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub requestor: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub since: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub until: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub overdue: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flag: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sort: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The `ticket list` arguments of a filter form. Pure.
pub fn list_args(f: &Filters) -> Result<ListArgs, String> {
    let status = match opt(&f.status) {
        Some(s) => Some(parse_status(&s).ok_or_else(|| format!("unknown status `{s}`"))?),
        None => None,
    };
    Ok(ListArgs {
        status,
        assignee: opt(&f.assignee),
        constituency: opt(&f.constituency),
        category: opt(&f.category),
        tlp: opt(&f.tlp),
        requestor: opt(&f.requestor),
        since: opt(&f.since),
        until: opt(&f.until),
        overdue: !f.overdue.is_empty(),
        sort: opt(&f.sort).unwrap_or_else(|| "-updated".into()),
        reverse: false,
        limit: f.limit.unwrap_or(DEFAULT_PAGE as u64).clamp(1, 500),
        offset: f.offset.unwrap_or(0).min(10_000_000),
        json: false,
    })
}

pub fn parse_status(s: &str) -> Option<Status> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "new" => Status::New,
        "open" => Status::Open,
        "stalled" => Status::Stalled,
        "resolved" => Status::Resolved,
        "rejected" => Status::Rejected,
        _ => return None,
    })
}

/// One line of the queue (also the search results').
pub struct Row {
    pub id: String,
    pub status: &'static str,
    pub assignee: String,
    pub category: String,
    pub tlp: &'static str,
    pub messages: u32,
    pub requestor: String,
    pub subject: String,
    pub flags: Vec<&'static str>,
    pub overdue: bool,
    pub updated: String,
}

impl Row {
    pub fn of(s: &TicketSummary, overdue: bool) -> Row {
        Row {
            id: s.id.to_string(),
            status: s.status.as_str(),
            assignee: s.assignee.clone().unwrap_or_default(),
            category: s.category.clone().unwrap_or_default(),
            tlp: s.tlp.map_or("", |t| t.as_str()),
            messages: s.messages,
            requestor: s.requestors.first().cloned().unwrap_or_default(),
            subject: s.subject.clone(),
            flags: s.flags.iter().map(|f| f.as_str()).collect(),
            overdue,
            updated: when(s.updated),
        }
    }
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    nav: Option<Nav>,
    f: Filters,
    rows: Vec<Row>,
    error: Option<String>,
    more: String,
    /// Query strings of the previous and next pages (already encoded;
    /// the template escapes them once more for the attribute).
    prev: Option<String>,
    next: Option<String>,
    handlers: Vec<String>,
    sla: bool,
}

fn page_link(f: &Filters, offset: usize) -> String {
    let mut g = f.clone();
    g.offset = Some(offset);
    serde_urlencoded::to_string(&g).unwrap_or_default()
}

pub async fn page(
    State(desk): State<AppState>,
    Extension(who): Extension<Who>,
    Query(f): Query<Filters>,
) -> Response {
    let nav = Nav::of(&desk, &who);
    let pipeline = desk.current.get();
    let handlers: Vec<String> = pipeline
        .config()
        .handlers
        .iter()
        .map(|h| h.name.clone())
        .collect();
    let sla = pipeline.config().sla.is_set();
    let mut shown = f.clone();
    if shown.sort.trim().is_empty() {
        shown.sort = "-updated".into();
    }
    let mut view = QueuePage {
        nav: Some(nav),
        f: shown,
        rows: Vec::new(),
        error: None,
        more: String::new(),
        prev: None,
        next: None,
        handlers,
        sla,
    };
    let args = match list_args(&f) {
        Ok(a) => a,
        Err(e) => {
            view.error = Some(e);
            return bad(view);
        }
    };
    if args.overdue && !sla {
        view.error = Some("Overdue needs due times: set [sla] first_reply_hours and/or resolve_days in the configuration.".into());
        return bad(view);
    }
    let now = crate::clock::now();
    let q = match query(&args, now) {
        Ok(q) => q,
        Err(e) => {
            view.error = Some(e.to_string());
            return bad(view);
        }
    };
    let flag = opt(&f.flag).map(|s| s.to_ascii_lowercase());
    let overdue_only = args.overdue;
    let started = std::time::Instant::now();
    let listed = blocking(move || {
        let cfg = pipeline.config();
        let page = pipeline.store().list(&q, &|s| {
            (!overdue_only || due_of(cfg, s, now).overdue())
                && flag
                    .as_deref()
                    .is_none_or(|fl| s.flags.iter().any(|x| x.as_str() == fl))
        })?;
        let rows: Vec<Row> = page
            .tickets
            .iter()
            .map(|s| Row::of(s, due_of(cfg, s, now).overdue()))
            .collect();
        Ok((rows, page.more))
    })
    .await;
    let (rows, more) = match listed {
        Ok(v) => v,
        Err(r) => return r,
    };
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "web: queue listed"
    );
    let next_offset = args.offset + rows.len();
    view.more = match more {
        More::Exactly(0) => String::new(),
        More::Exactly(n) => format!("{n} more"),
        More::AtLeast(0) => "maybe more".into(),
        More::AtLeast(n) => format!("at least {n} more"),
    };
    if !view.more.is_empty() {
        view.next = Some(page_link(&f, next_offset));
    }
    if args.offset > 0 {
        view.prev = Some(page_link(
            &f,
            args.offset.saturating_sub(args.limit as usize),
        ));
    }
    view.rows = rows;
    render(&view)
}

fn bad(view: QueuePage) -> Response {
    let mut r = render(&view);
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_list_arguments() {
        let f = Filters {
            status: "Open".into(),
            requestor: " @bank.example ".into(),
            overdue: "on".into(),
            limit: Some(100_000),
            ..Filters::default()
        };
        let a = list_args(&f).unwrap();
        assert_eq!(a.status, Some(Status::Open));
        assert_eq!(a.requestor.as_deref(), Some("@bank.example"));
        assert!(a.overdue);
        assert_eq!(a.limit, 500);
        assert_eq!(a.sort, "-updated");
        assert!(list_args(&Filters {
            status: "bogus".into(),
            ..Filters::default()
        })
        .is_err());
    }

    #[test]
    fn page_links_carry_the_filters_encoded() {
        let f = Filters {
            requestor: "a&b=<c>".into(),
            ..Filters::default()
        };
        let l = page_link(&f, 50);
        assert_eq!(l, "requestor=a%26b%3D%3Cc%3E&offset=50");
    }
}
