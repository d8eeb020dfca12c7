//! `csirtd search QUERY`: tickets by indicator (address, network, domain
//! with its subdomains, URL, hash, CVE, AS number) or by words of their
//! subject, newest first. An address or domain also finds the tickets
//! whose requestors have it.

use crate::analysis::indicators::Kind;
use crate::analysis::query::{self, Query};
use crate::model::TicketId;
use crate::store::index::Probe;
use crate::store::{Store, TicketRecord};
use serde_json::json;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// 192.0.2.7, 192.0.2.0/24, example.com, a URL, a hash, CVE-2024-3400, AS64500 or words
    pub query: String,
    #[arg(long)]
    pub json: bool,
    /// At most this many tickets
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// What a query names as a requestor: an address, or `@domain` for a
/// domain. Requestors are not indicators (the correlation index would
/// relate every report of a regular reporter); the list index has them.
/// Pure.
pub fn requestor_of(q: &str) -> Option<String> {
    let q = crate::model::normalize_address(q);
    if q.is_empty() || q.contains(char::is_whitespace) || q.contains('/') {
        return None;
    }
    match q.find('@') {
        Some(0) => Some(q),
        Some(_) => Some(q),
        None if q.contains('.') && q.parse::<std::net::IpAddr>().is_err() => Some(format!("@{q}")),
        None => None,
    }
}

/// Ticket IDs matching `q` in the indicator index (or, for words, the
/// subjects), newest first. A requestor query probes the email
/// indicators (a feed's rows may hold addresses the extractor does not
/// take); its requestors come from `search`.
pub fn find(store: &Store, q: &Query, limit: usize) -> anyhow::Result<Vec<TicketId>> {
    let probe = match q {
        Query::Network(ip, len) => Probe::Network(*ip, *len),
        Query::Domain(d) => Probe::DomainTree(d.clone()),
        Query::Term(kind, v) => Probe::Term(*kind, v.clone()),
        Query::Requestor(a) if a.starts_with('@') => return Ok(Vec::new()),
        Query::Requestor(a) => Probe::Term(Kind::Email, a.clone()),
        Query::Text(words) => return Ok(store.search_subjects(words, limit)?),
    };
    Ok(store.find(&probe, limit)?)
}

/// What `csirtd search` and the desk's search page find for `text`:
/// `find`, and for an address or domain the tickets whose requestors
/// have it; newest first, at most `limit`.
pub fn search(store: &Store, text: &str, limit: usize) -> anyhow::Result<Vec<TicketId>> {
    let mut ids = find(store, &query::parse(text), limit)?;
    if let Some(r) = requestor_of(text) {
        ids.extend(store.by_requestor(&r, limit)?);
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        ids.truncate(limit);
    }
    Ok(ids)
}

pub fn run(
    store: &Store,
    cfg: &crate::config::Config,
    args: SearchArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let limit = args.limit.clamp(1, 10_000);
    let ids = search(store, &args.query, limit)?;
    let tickets: Vec<TicketRecord> = ids
        .into_iter()
        .filter_map(|id| store.ticket(id).transpose())
        .collect::<Result<_, _>>()?;
    if args.json {
        let list: Vec<_> = tickets
            .iter()
            .map(|t| {
                json!({
                    "id": t.id, "tag": t.id.tag(&cfg.team.tag), "status": t.status,
                    "subject": t.subject, "created_at": super::ticket::rfc3339(t.created_at),
                    "category": t.classification.map(|c| c.category),
                    "constituencies": t.constituencies,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
    } else if tickets.is_empty() {
        writeln!(
            out,
            "no tickets match {}",
            crate::mail::display::clean(&args.query)
        )?;
    } else {
        for t in &tickets {
            writeln!(
                out,
                "{:<12} {:<9} {:<24} {}",
                t.id.to_string(),
                t.status.as_str(),
                t.classification.map_or("-", |c| c.category.as_str()),
                crate::mail::display::escape(&t.subject)
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
