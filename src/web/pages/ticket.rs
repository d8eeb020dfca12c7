//! One ticket: what `ticket show` gathers (src/cli/show.rs), laid out for
//! reading. Each message's OpenPGP verdict and sender authentication come
//! first; its text is shown as text; an HTML part is never rendered (as
//! text with the tags removed, or its source on request, both escaped);
//! attachments are listed with size and SHA-256 and only downloadable.
//! Messages are paged: a report ticket only grows.

use super::{blocking, message, render, when_t, Nav};
use crate::cli::show::{due, gather, parts};
use crate::cli::ticket::{unique_indicators, Page};
use crate::mail::display::escape;
use crate::model::{Direction, TicketId};
use crate::store::MessageRecord;
use crate::web::session::Who;
use crate::web::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;

/// Messages per page of a ticket.
const MESSAGES_PER_PAGE: usize = 20;
/// Lines and characters of a message's text shown; the rest is in the raw download.
const TEXT_LINES: usize = 2000;
const LINE_CHARS: usize = 2000;
/// Indicators and events shown at most.
const INDICATORS_SHOWN: usize = 1000;
const EVENTS_SHOWN: usize = 2000;
/// Machine-report rows shown (the first of the ticket's reports).
const REPORT_ROWS_SHOWN: usize = 100;
/// An HTML part's source shown at most.
const HTML_SOURCE_BYTES: usize = 512 * 1024;

#[derive(Deserialize, Default)]
pub struct TicketQuery {
    /// The page of messages, from 1.
    #[serde(default)]
    page: Option<usize>,
    /// The message (numbered from 1) whose HTML source is shown.
    #[serde(default)]
    html: Option<usize>,
}

pub struct AttachmentView {
    pub k: usize,
    pub name: String,
    pub content_type: String,
    pub size: usize,
    pub sha256: String,
}

pub struct MessageView {
    pub n: usize,
    pub direction: &'static str,
    pub at: String,
    pub size: u64,
    pub sha256: String,
    pub flags: Vec<&'static str>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub origin: String,
    /// `good`, `bad`, `unsigned` …; empty when not checked.
    pub verdict: &'static str,
    pub verdict_class: &'static str,
    pub signer: String,
    pub verdict_detail: String,
    pub auth: String,
    pub attachments: Vec<AttachmentView>,
    pub text: Option<String>,
    pub text_more: usize,
    pub html_only: bool,
    /// The message has an HTML part (never rendered; its source on request).
    pub has_html: bool,
    pub html_source: Option<String>,
    pub raw_missing: bool,
}

pub struct IndicatorView {
    pub kind: String,
    pub value: String,
    pub source: String,
}

pub struct RelatedView {
    pub id: String,
    pub shared: Vec<String>,
    pub more: usize,
}

pub struct EventView {
    pub at: String,
    pub kind: &'static str,
    pub detail: String,
}

pub struct Due {
    pub label: &'static str,
    pub at: String,
    pub overdue: bool,
}

#[derive(Template)]
#[template(path = "ticket.html")]
pub struct TicketPage {
    pub nav: Option<Nav>,
    pub id: String,
    pub tag: String,
    pub subject: String,
    pub status: &'static str,
    pub tlp: &'static str,
    pub assignee: String,
    pub category: String,
    pub constituencies: Vec<String>,
    pub requestors: Vec<String>,
    pub flags: Vec<&'static str>,
    pub kind: &'static str,
    pub incident: Option<String>,
    pub reports: Vec<String>,
    pub merged_into: Option<String>,
    pub merged: Vec<String>,
    pub created: String,
    pub updated: String,
    pub purged: Option<String>,
    pub hold: Option<String>,
    pub dues: Vec<Due>,
    pub messages: Vec<MessageView>,
    pub message_total: usize,
    pub page: usize,
    pub pages: usize,
    pub indicators: Vec<IndicatorView>,
    pub indicator_total: usize,
    pub related: Vec<RelatedView>,
    pub events: Vec<EventView>,
    pub event_total: usize,
    pub handlers: Vec<String>,
    pub csrf: String,
    /// Machine reports: "type date from files: N rows", and the first rows.
    pub reports_seen: Vec<String>,
    pub report_columns: Vec<String>,
    pub rows: Vec<String>,
    pub row_total: u64,
    pub rows_cut: bool,
    /// Why a reply cannot go out, if it cannot.
    pub no_reply: Option<String>,
}

/// Text for the page: control and bidi characters shown as escapes, each
/// line bounded; returns the text and the lines left out. Pure.
pub fn shown_text(text: &str) -> (String, usize) {
    let lines: Vec<&str> = text
        .split(['\n', '\u{85}', '\u{2028}', '\u{2029}'])
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    let lines = match last {
        Some(i) => &lines[..=i],
        None => &lines[..0],
    };
    let out: Vec<String> = lines
        .iter()
        .take(TEXT_LINES)
        .map(|l| crate::cli::list::cut(&escape(l), LINE_CHARS))
        .collect();
    (out.join("\n"), lines.len().saturating_sub(TEXT_LINES))
}

/// The first HTML part's source, decoded to text (never rendered).
pub fn html_source(raw: &[u8]) -> Option<String> {
    let parse = std::panic::AssertUnwindSafe(|| {
        let m = mail_parser::MessageParser::default().parse(raw)?;
        m.parts.iter().find_map(|p| match &p.body {
            mail_parser::PartType::Html(h) => Some(h.to_string()),
            _ => None,
        })
    });
    let mut s = std::panic::catch_unwind(parse).ok().flatten()?;
    if s.len() > HTML_SOURCE_BYTES {
        let mut cut = HTML_SOURCE_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("\n… (cut; the whole message is in the raw download)");
    }
    Some(shown_text(&s).0)
}

fn message_view(
    store: &crate::store::Store,
    n: usize,
    m: &MessageRecord,
    html: Option<usize>,
) -> anyhow::Result<MessageView> {
    let (verdict, verdict_class, signer, verdict_detail) = match &m.verification {
        Some(v) => {
            let class = match v.status {
                crate::pgp::Verdict::Good => "verdict-good",
                crate::pgp::Verdict::Unsigned => "verdict-none",
                _ => "verdict-bad",
            };
            let signer = match (&v.signer_fingerprint, v.signer_uids.first()) {
                (Some(f), Some(u)) => format!("{f} ({u})"),
                (Some(f), None) => f.clone(),
                _ => String::new(),
            };
            (v.status.as_str(), class, escape(&signer), escape(&v.detail))
        }
        None if m.direction == Direction::In => (
            "not checked",
            "verdict-none",
            String::new(),
            "[pgp] is not configured".to_string(),
        ),
        None => ("", "verdict-none", String::new(), String::new()),
    };
    let mut view = MessageView {
        n,
        direction: match m.direction {
            Direction::In => "in",
            Direction::Out => "out",
        },
        at: when_t(m.stored_at),
        size: m.size,
        sha256: m.sha256.clone(),
        flags: m.flags.iter().map(|f| f.as_str()).collect(),
        from: escape(m.from.as_deref().unwrap_or("")),
        to: escape(&m.to.join(", ")),
        subject: escape(m.subject.as_deref().unwrap_or("")),
        message_id: escape(m.message_id.as_deref().unwrap_or("")),
        origin: escape(&m.origin),
        verdict,
        verdict_class,
        signer,
        verdict_detail,
        auth: m
            .authentication
            .as_ref()
            .map(|a| escape(&a.in_words()))
            .unwrap_or_default(),
        attachments: Vec::new(),
        text: None,
        text_more: 0,
        html_only: false,
        has_html: false,
        html_source: None,
        raw_missing: false,
    };
    let Some(raw) = store.raw(m.seq)? else {
        view.raw_missing = true;
        return Ok(view);
    };
    let (text, html_only, attachments) = parts(&raw);
    view.html_only = html_only;
    view.attachments = attachments
        .into_iter()
        .enumerate()
        .map(|(k, a)| AttachmentView {
            k,
            name: escape(&a.name),
            content_type: escape(&a.content_type),
            size: a.size,
            sha256: a.sha256,
        })
        .collect();
    if let Some(t) = text {
        let (t, more) = shown_text(&t);
        view.text = Some(t);
        view.text_more = more;
    }
    let source = html_source(&raw);
    view.has_html = source.is_some();
    if html == Some(n) {
        view.html_source = source;
    }
    Ok(view)
}

fn build(
    desk_handlers: Vec<String>,
    pipeline: &crate::workflow::pipeline::Pipeline,
    id: TicketId,
    q: &TicketQuery,
) -> anyhow::Result<Option<TicketPage>> {
    let store = pipeline.store();
    let cfg = pipeline.config();
    let Some(t) = store.ticket(id)? else {
        return Ok(None);
    };
    // The first rows of a machine report only: the rest is one
    // `csirtd ticket show --page` away, not unpacked for every view.
    let g = gather(
        store,
        &t,
        Page {
            number: 1,
            limit: REPORT_ROWS_SHOWN as u64,
        },
    )?;
    let message_total = g.messages.len();
    let pages = message_total.div_ceil(MESSAGES_PER_PAGE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let first = (page - 1) * MESSAGES_PER_PAGE;
    let mut messages = Vec::new();
    for (i, m) in g
        .messages
        .iter()
        .enumerate()
        .skip(first)
        .take(MESSAGES_PER_PAGE)
    {
        messages.push(message_view(store, i + 1, m, q.html)?);
    }
    let indicators = unique_indicators(&g.messages);
    let indicator_total = indicators.len();
    let indicators = indicators
        .iter()
        .take(INDICATORS_SHOWN)
        .map(|i| IndicatorView {
            kind: serde_json::to_value(i.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            value: escape(&i.value),
            source: escape(&i.source.to_string()),
        })
        .collect();
    let related = g
        .related
        .iter()
        .map(|(rid, shared)| RelatedView {
            id: rid.to_string(),
            shared: shared.iter().take(5).map(|v| escape(v)).collect(),
            more: shared.len().saturating_sub(5),
        })
        .collect();
    let mut events: Vec<&crate::model::Event> = g.events.iter().collect();
    events.sort_by_key(|e| e.at);
    let event_total = events.len();
    let events = events
        .iter()
        .rev()
        .take(EVENTS_SHOWN)
        .rev()
        .map(|e| EventView {
            at: when_t(e.at),
            kind: e.kind.as_str(),
            detail: escape(&e.detail),
        })
        .collect();
    let d = due(cfg, &t, &g.messages);
    let mut dues = Vec::new();
    if cfg.sla.is_set() {
        for (label, dl) in [
            ("first reply due", d.first_reply),
            ("resolve due", d.resolve),
        ] {
            if let Some(dl) = dl {
                dues.push(Due {
                    label,
                    at: when_t(dl.at),
                    overdue: dl.overdue,
                });
            }
        }
    }
    let ids = |v: &[TicketId]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    // An assignee no longer among the handlers stays the selected option,
    // else the browser would select "(nobody)" and Assign would unassign.
    let mut desk_handlers = desk_handlers;
    if let Some(a) = &t.handling.assignee {
        if !desk_handlers.iter().any(|h| h == a) {
            desk_handlers.push(a.clone());
        }
    }
    Ok(Some(TicketPage {
        nav: None,
        id: t.id.to_string(),
        tag: t.id.tag(&cfg.team.tag),
        subject: escape(&t.subject),
        status: t.status.as_str(),
        tlp: t.handling.tlp.map_or("", |l| l.as_str()),
        assignee: t.handling.assignee.clone().unwrap_or_default(),
        category: crate::store::summary::category_of(&t).unwrap_or_default(),
        constituencies: t.constituencies.iter().map(|c| escape(c)).collect(),
        requestors: t.requestors.iter().map(|r| escape(r)).collect(),
        flags: t.flags.iter().map(|f| f.as_str()).collect(),
        kind: t.handling.kind.as_str(),
        incident: t.handling.incident.map(|i| i.to_string()),
        reports: ids(&t.handling.reports),
        merged_into: t.handling.merged_into.map(|i| i.to_string()),
        merged: ids(&t.handling.merged),
        created: when_t(t.created_at),
        updated: when_t(t.updated_at),
        purged: t.purged_at.map(when_t),
        hold: t
            .hold
            .as_ref()
            .map(|h| format!("{} (by {})", escape(&h.reason), escape(&h.by))),
        dues,
        messages,
        message_total,
        page,
        pages,
        indicators,
        indicator_total,
        related,
        events,
        event_total,
        handlers: desk_handlers,
        csrf: String::new(),
        reports_seen: g
            .reports
            .iter()
            .map(|r| {
                escape(&format!(
                    "{} {} from {}: {} rows{}",
                    r.header.report_type,
                    r.header.date,
                    r.header.files.join(", "),
                    r.header.rows,
                    if r.header.truncated {
                        " (cut by the message's budget)"
                    } else {
                        ""
                    }
                ))
            })
            .collect(),
        report_columns: g
            .reports
            .first()
            .map(|r| r.header.columns.iter().map(|c| escape(c)).collect())
            .unwrap_or_default(),
        rows: g.rows.iter().map(|r| escape(r)).collect(),
        row_total: g.row_total,
        rows_cut: g.row_total > g.rows.len() as u64,
        no_reply: crate::workflow::desk::refuse_reply(&t).err(),
    }))
}

pub async fn page(
    State(desk): State<AppState>,
    Extension(who): Extension<Who>,
    Path(id): Path<String>,
    Query(q): Query<TicketQuery>,
) -> Response {
    let nav = Nav::of(&desk, &who);
    let Ok(id) = id.parse::<TicketId>() else {
        return message(
            StatusCode::NOT_FOUND,
            Some(nav),
            "No such ticket",
            "That is not a ticket ID.",
        );
    };
    let pipeline = desk.current.get();
    let handlers = desk.handlers();
    let started = std::time::Instant::now();
    let built = blocking(move || build(handlers, &pipeline, id, &q)).await;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "web: ticket page built"
    );
    match built {
        Ok(Some(mut p)) => {
            p.csrf = who.csrf.clone();
            p.nav = Some(nav);
            render(&p)
        }
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            Some(nav),
            "No such ticket",
            "There is no ticket with that ID.",
        ),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_markup_as_characters_and_escapes_controls() {
        let (t, more) = shown_text("<script>alert(1)</script>\r\nline\x1b[31m\u{202e}\n\n");
        assert_eq!(t, "<script>alert(1)</script>\nline\\x1b[31m\\u{202e}");
        assert_eq!(more, 0);
    }

    #[test]
    fn html_source_is_text() {
        let raw = b"From: a@x.example\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p onclick=\"x()\">Hi</p>\r\n";
        assert_eq!(
            html_source(raw).as_deref(),
            Some("<p onclick=\"x()\">Hi</p>")
        );
    }
}
