//! `csirtd search QUERY`: tickets by indicator (address, network, domain
//! with its subdomains, URL, hash, CVE, AS number) or by words of their
//! subject, newest first.

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

/// Ticket IDs matching `q`, newest first.
pub fn find(store: &Store, q: &Query, limit: usize) -> anyhow::Result<Vec<TicketId>> {
    let probe = match q {
        Query::Network(ip, len) => Probe::Network(*ip, *len),
        Query::Domain(d) => Probe::DomainTree(d.clone()),
        Query::Term(kind, v) => Probe::Term(*kind, v.clone()),
        Query::Text(words) => return Ok(store.search_subjects(words, limit)?),
    };
    Ok(store.find(&probe, limit)?)
}

pub fn run(
    store: &Store,
    cfg: &crate::config::Config,
    args: SearchArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let q = query::parse(&args.query);
    let limit = args.limit.clamp(1, 10_000);
    let tickets: Vec<TicketRecord> = find(store, &q, limit)?
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
