//! Trends: the `csirtd stats` figures for a period (counts by category,
//! constituency and status; times to acknowledge, first reply and resolve;
//! the most seen indicators) and its chart, an SVG drawn by our own code
//! from numbers (src/analysis/chart.rs), served as an image with headers
//! of its own. Like `csirtd stats`, it reads every ticket of the store:
//! keep the period short on a large one.

use super::{blocking, render, Nav};
use crate::analysis::period::Period;
use crate::analysis::timing::{Figure, Times};
use crate::analysis::trends;
use crate::mail::display::escape;
use crate::web::session::Who;
use crate::web::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};

/// The chart's own policy: an image that loads nothing and runs nothing.
const SVG_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

#[derive(Deserialize, Serialize, Default, Clone)]
pub struct TrendsQuery {
    #[serde(default)]
    since: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    until: String,
}

impl TrendsQuery {
    fn since(&self) -> &str {
        match self.since.trim() {
            "" => "30d",
            s => s,
        }
    }
}

pub struct TimesRow {
    pub name: String,
    pub tickets: usize,
    pub figures: Vec<(&'static str, String, String, usize, usize)>,
}

#[derive(Template)]
#[template(path = "trends.html")]
struct TrendsPage {
    nav: Option<Nav>,
    since: String,
    until: String,
    error: Option<String>,
    described: String,
    tickets: usize,
    groups: Vec<(&'static str, Vec<(String, usize)>)>,
    times: Vec<TimesRow>,
    top: Vec<(String, usize)>,
    chart: String,
}

fn human(secs: Option<i64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s < 3600 => format!("{} min", s / 60),
        Some(s) if s < 86_400 => format!("{:.1} h", s as f64 / 3600.0),
        Some(s) => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

fn times_row(name: &str, t: &Times) -> TimesRow {
    let f = |what: &'static str, f: &Figure| {
        (
            what,
            human(f.p50_secs),
            human(f.p90_secs),
            f.count,
            f.none_yet,
        )
    };
    TimesRow {
        name: escape(name),
        tickets: t.tickets,
        figures: vec![
            f("to acknowledge", &t.acknowledge),
            f("to first handler reply", &t.first_reply),
            f("to resolve", &t.resolve),
        ],
    }
}

fn period_of(q: &TrendsQuery) -> Result<Period, String> {
    let until = Some(q.until.trim()).filter(|u| !u.is_empty());
    Period::parse(q.since(), until, crate::clock::now()).map_err(|e| e.to_string())
}

pub async fn page(
    State(desk): State<AppState>,
    Extension(who): Extension<Who>,
    Query(q): Query<TrendsQuery>,
) -> Response {
    let mut view = TrendsPage {
        nav: Some(Nav::of(&desk, &who)),
        since: q.since().to_string(),
        until: q.until.clone(),
        error: None,
        described: String::new(),
        tickets: 0,
        groups: Vec::new(),
        times: Vec::new(),
        top: Vec::new(),
        chart: serde_urlencoded::to_string(&q).unwrap_or_default(),
    };
    let period = match period_of(&q) {
        Ok(p) => p,
        Err(e) => {
            view.error = Some(e);
            let mut r = render(&view);
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return r;
        }
    };
    let pipeline = desk.current.get();
    let p = period;
    let stats = blocking(move || {
        let facts = crate::cli::stats::gather(pipeline.store(), &p)?;
        Ok(trends::compute(&facts, &p, 20))
    })
    .await;
    let s = match stats {
        Ok(s) => s,
        Err(r) => return r,
    };
    let list = |m: &std::collections::BTreeMap<String, usize>| {
        m.iter().map(|(k, n)| (escape(k), *n)).collect::<Vec<_>>()
    };
    view.described = period.describe();
    view.tickets = s.tickets;
    view.groups = vec![
        ("By category", list(&s.by_category)),
        ("By constituency", list(&s.by_constituency)),
        ("By status", list(&s.by_status)),
    ];
    view.times = std::iter::once(times_row("all tickets", &s.times.overall))
        .chain(
            s.times
                .by_category
                .iter()
                .map(|(k, t)| times_row(&format!("category {k}"), t)),
        )
        .chain(
            s.times
                .by_constituency
                .iter()
                .map(|(k, t)| times_row(&format!("constituency {k}"), t)),
        )
        .collect();
    view.top = s
        .top_indicators
        .iter()
        .map(|(v, n)| (escape(v), *n))
        .collect();
    render(&view)
}

/// The chart alone, as `image/svg+xml`: loaded by the page's `<img>`,
/// which never runs script in it, and sandboxed should it be opened.
pub async fn chart(State(desk): State<AppState>, Query(q): Query<TrendsQuery>) -> Response {
    let Ok(period) = period_of(&q) else {
        return (StatusCode::BAD_REQUEST, "bad period\n").into_response();
    };
    let pipeline = desk.current.get();
    let svg = blocking(move || {
        let facts = crate::cli::stats::gather(pipeline.store(), &period)?;
        let s = trends::compute(&facts, &period, 0);
        let title = format!(
            "Tickets and p50 time to first handler reply per {}, {} (UTC)",
            s.period.bucket.as_str(),
            period.describe()
        );
        Ok(crate::analysis::chart::svg(&s.series, &title))
    })
    .await;
    match svg {
        Ok(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CONTENT_SECURITY_POLICY, SVG_CSP),
            ],
            svg,
        )
            .into_response(),
        Err(r) => r,
    }
}
