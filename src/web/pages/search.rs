//! Search: `csirtd search` in a browser, the same query syntax and index
//! (IPs, networks, domains, URLs, hashes, CVEs, AS numbers, requestors,
//! subject words); results from the list summaries, no ticket decoded.

use super::queue::Row;
use super::{blocking, render, Nav};
use crate::cli::list::due_of;
use crate::cli::search::search;
use crate::web::session::Who;
use crate::web::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;

/// Results shown for one query.
const LIMIT: usize = 200;

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    nav: Option<Nav>,
    q: String,
    searched: bool,
    rows: Vec<Row>,
    limit: usize,
}

pub async fn page(
    State(desk): State<AppState>,
    Extension(who): Extension<Who>,
    Query(sq): Query<SearchQuery>,
) -> Response {
    let nav = Nav::of(&desk, &who);
    let q: String = sq.q.trim().chars().take(2000).collect();
    if q.is_empty() {
        return render(&SearchPage {
            nav: Some(nav),
            q,
            searched: false,
            rows: Vec::new(),
            limit: LIMIT,
        });
    }
    let pipeline = desk.current.get();
    let text = q.clone();
    let rows = blocking(move || {
        let store = pipeline.store();
        let ids = search(store, &text, LIMIT)?;
        let now = crate::clock::now();
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = store.summary(id)? {
                rows.push(Row::of(&s, due_of(pipeline.config(), &s, now).overdue()));
            }
        }
        Ok(rows)
    })
    .await;
    match rows {
        Ok(rows) => render(&SearchPage {
            nav: Some(nav),
            q,
            searched: true,
            rows,
            limit: LIMIT,
        }),
        Err(r) => r,
    }
}
