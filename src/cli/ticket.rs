//! `csirtd ticket …`

use super::handling::Who;
use crate::analysis::indicators::{Indicator, Kind};
use crate::config::Config;
use crate::model::{Status, TicketId};
use crate::store::{MessageRecord, Store, TicketRecord};
use clap::Subcommand;
use serde_json::json;
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Subcommand, Debug)]
pub enum TicketCommand {
    /// List tickets: filters, sort and pages (newest update first)
    List(super::list::ListArgs),
    /// Show one ticket with its messages and history
    Show {
        /// 2026-00042 or the whole tag [CERT-EX #2026-00042]
        id: String,
        #[arg(long)]
        json: bool,
        /// Which page of each long list (events, messages, indicators,
        /// report rows), counting from 1
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        page: u64,
        /// Entries per list and page
        #[arg(long, default_value_t = DEFAULT_LIMIT, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        limit: u64,
    },
    /// Change a ticket's status, as `/status` by mail
    Status {
        id: String,
        status: Status,
        #[command(flatten)]
        who: Who,
    },
    /// Assign a ticket to a handler (by name or address), as `/assign` by mail
    Assign {
        id: String,
        #[arg(required_unless_present = "none")]
        handler: Option<String>,
        /// Assign it to no one
        #[arg(long, conflicts_with = "handler")]
        none: bool,
        #[command(flatten)]
        who: Who,
    },
    /// Set a ticket's category (e.g. fraud/phishing), as `/category` by mail
    Category {
        id: String,
        category: String,
        #[command(flatten)]
        who: Who,
    },
    /// Set a ticket's TLP (clear, green, amber, amber+strict, red), as `/tlp` by mail
    Tlp {
        id: String,
        level: String,
        #[command(flatten)]
        who: Who,
    },
    /// Link a report to an incident, as `/link` by mail
    Link {
        id: String,
        incident: String,
        #[command(flatten)]
        who: Who,
    },
    /// Merge a ticket into another, which takes its requestors and tag, as `/merge` by mail
    Merge {
        id: String,
        into: String,
        #[command(flatten)]
        who: Who,
    },
    /// Record an internal note (never sent to requestors), as mail to the comment address
    Note {
        id: String,
        /// The note [default: --file, else $EDITOR]
        text: Option<String>,
        /// Read the note from this file (- for standard input)
        #[arg(long, conflicts_with = "text")]
        file: Option<PathBuf>,
        #[command(flatten)]
        who: Who,
    },
    /// Answer the requestors as a handler's signed reply by mail is relayed:
    /// team-signed, threaded, encrypted per ack.encrypt
    Reply {
        id: String,
        /// Read the reply from this file (- for standard input) [default: $EDITOR]
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        who: Who,
    },
    /// Put a legal hold on a ticket: retention never purges it, as `/hold` by mail
    Hold {
        id: String,
        /// Why (a court order, a police request); kept with the hold
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        who: Who,
    },
    /// Lift a ticket's legal hold, as `/unhold` by mail
    Unhold {
        id: String,
        #[command(flatten)]
        who: Who,
    },
    /// Write a stored message's raw bytes to standard output, bit for bit (evidence)
    Raw {
        id: String,
        /// Which message of the ticket, counting from 1
        #[arg(long, default_value_t = 1)]
        message: usize,
    },
    /// Write the ticket's incoming mail byte for byte, with a manifest of
    /// hashes, verdicts and events, into a new directory (evidence)
    Export(super::export::ExportArgs),
}

fn parse_id(s: &str) -> anyhow::Result<TicketId> {
    Ok(s.parse::<TicketId>()?)
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub(crate) fn load(store: &Store, id: &str) -> anyhow::Result<TicketRecord> {
    let id = parse_id(id)?;
    store
        .ticket(id)?
        .ok_or_else(|| anyhow::anyhow!("ticket {id} does not exist (see `csirtd ticket list`)"))
}

/// Entries per list that one `ticket show` returns unless told otherwise:
/// a report ticket only grows, and its whole history must not have to fit
/// one answer.
pub const DEFAULT_LIMIT: u64 = 1000;

/// Which part of each long list to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Counting from 1.
    pub number: u64,
    pub limit: u64,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            number: 1,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl Page {
    pub fn skip(self) -> usize {
        usize::try_from(self.number.saturating_sub(1).saturating_mul(self.limit))
            .unwrap_or(usize::MAX)
    }

    pub fn take(self) -> usize {
        usize::try_from(self.limit).unwrap_or(usize::MAX)
    }

    /// This page of `all`.
    pub fn of<T>(self, all: &[T]) -> &[T] {
        let from = self.skip().min(all.len());
        let to = from.saturating_add(self.take()).min(all.len());
        &all[from..to]
    }
}

/// Each kind and value once per ticket, with where it was first seen, in
/// order: one set lookup per indicator (a search of the list per
/// indicator took 7.8 s for 64,000).
pub fn unique_indicators(stored: &[MessageRecord]) -> Vec<&Indicator> {
    let mut seen: HashSet<(Kind, &str)> = HashSet::new();
    stored
        .iter()
        .flat_map(|m| m.indicators.iter())
        .filter(|i| seen.insert((i.kind, i.value.as_str())))
        .collect()
}

pub fn ticket_json(
    store: &Store,
    cfg: &Config,
    t: &TicketRecord,
    page: Page,
) -> anyhow::Result<serde_json::Value> {
    let tag_prefix = &cfg.team.tag;
    let g = super::show::gather(store, t, page)?;
    let events: Vec<_> = page
        .of(&g.events)
        .iter()
        .map(|e| json!({ "at": rfc3339(e.at), "kind": e.kind, "detail": e.detail }))
        .collect();
    let stored = &g.messages;
    let messages: Vec<_> = page.of(stored).iter().map(message_json).collect();
    let indicators = unique_indicators(stored);
    let related: Vec<_> = g
        .related
        .iter()
        .map(|(id, shared)| json!({ "id": id, "tag": id.tag(tag_prefix), "shared": shared }))
        .collect();
    let due = super::show::due(cfg, t, stored);
    let (reports, rows, row_total) = (&g.reports, &g.rows, g.row_total);
    Ok(json!({
        "id": t.id,
        "tag": t.id.tag(tag_prefix),
        "status": t.status,
        "subject": t.subject,
        "requestors": t.requestors,
        "created_at": rfc3339(t.created_at),
        "updated_at": rfc3339(t.updated_at),
        "purged_at": t.purged_at.map(rfc3339),
        "hold": t.hold,
        "flags": t.flags,
        "events": events,
        "messages": messages,
        "indicators": page.of(&indicators)
            .iter()
            .map(|i| json!({ "kind": i.kind, "value": i.value, "source": i.source.to_string() }))
            .collect::<Vec<_>>(),
        "machine_reports": reports.iter().map(|r| json!({
            "message": r.message,
            "type": r.header.report_type,
            "date": r.header.date,
            "files": r.header.files,
            "columns": r.header.columns,
            "rows": r.header.rows,
            "truncated": r.header.truncated,
        })).collect::<Vec<_>>(),
        "report_rows": rows,
        "page": { "number": page.number, "limit": page.limit },
        "totals": {
            "events": g.events.len(),
            "messages": stored.len(),
            "indicators": indicators.len(),
            "report_rows": row_total,
        },
        "category": t.classification.map(|c| c.category),
        "classification": t.classification,
        "constituency": t.constituencies.first(),
        "constituencies": t.constituencies,
        "labels": t.labels,
        "related": related,
        "kind": t.handling.kind,
        "incident": t.handling.incident,
        "reports": t.handling.reports,
        "assignee": t.handling.assignee,
        "tlp": t.handling.tlp,
        "reporter_muted": t.handling.reporter_muted,
        "merged_into": t.handling.merged_into,
        "merged": t.handling.merged,
        "first_reply_at": crate::store::summary::first_reply_of(stored).map(rfc3339),
        "first_reply_due": due.first_reply.map(|d| rfc3339(d.at)),
        "resolve_due": due.resolve.map(|d| rfc3339(d.at)),
        "overdue": due.overdue(),
    }))
}

pub(crate) fn message_json(m: &MessageRecord) -> serde_json::Value {
    json!({
        "message_id": m.message_id,
        "direction": m.direction,
        "from": m.from,
        "to": m.to,
        "subject": m.subject,
        "date": m.date,
        "sha256": m.sha256,
        "size": m.size,
        "stored_at": rfc3339(m.stored_at),
        "origin": m.origin,
        "flags": m.flags,
        "signature": m.verification.as_ref().map(|v| json!({
            "status": v.status,
            "signer_fingerprint": v.signer_fingerprint,
            "signer_uids": v.signer_uids,
            "detail": v.detail,
        })),
        "encryption": m.verification.as_ref().map(|v| match &v.encryption {
            crate::pgp::Encryption::None => json!({ "status": "none" }),
            crate::pgp::Encryption::Decrypted => json!({ "status": "decrypted" }),
            crate::pgp::Encryption::Failed { reason } => json!({ "status": "failed", "reason": reason }),
        }),
        "keys_found": m.verification.as_ref().map(|v| &v.found_keys),
        "acns": m.acns,
        // Incoming mail only: DKIM (each signature), SPF, DMARC, in words,
        // and the OpenPGP verdict beside them.
        "authentication": m.authentication.clone().or_else(|| {
            (m.direction == crate::model::Direction::In).then(crate::auth::Authentication::off)
        }).as_ref().map(|a| json!({
            "source": a.source,
            "dkim": a.dkim,
            "spf": a.spf,
            "dmarc": a.dmarc,
            "note": a.note,
            "words": a.in_words(),
            "openpgp": m.verification.as_ref().map(|v| v.status),
        })),
    })
}

pub fn run(
    store: &Store,
    cfg: &Config,
    cmd: TicketCommand,
    out: &mut dyn Write,
    operator: &str,
    input: Option<String>,
) -> anyhow::Result<()> {
    match cmd {
        TicketCommand::List(args) => super::list::run(store, cfg, args, out)?,
        TicketCommand::Show {
            id,
            json,
            page,
            limit,
        } => {
            let t = load(store, &id)?;
            let page = Page {
                number: page,
                limit,
            };
            if json {
                let v = ticket_json(store, cfg, &t, page)?;
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                super::show::show_human(store, cfg, &t, page, out)?;
            }
        }
        step @ (TicketCommand::Status { .. }
        | TicketCommand::Assign { .. }
        | TicketCommand::Category { .. }
        | TicketCommand::Tlp { .. }
        | TicketCommand::Link { .. }
        | TicketCommand::Merge { .. }
        | TicketCommand::Note { .. }
        | TicketCommand::Hold { .. }
        | TicketCommand::Unhold { .. }
        | TicketCommand::Reply { .. }) => {
            super::handling::run(store, cfg, step, out, operator, input)?
        }
        TicketCommand::Raw { id, message } => {
            let t = load(store, &id)?;
            let messages = store.messages(t.id)?;
            let m = message
                .checked_sub(1)
                .and_then(|i| messages.get(i))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "ticket {} has {} message(s); --message counts from 1",
                        t.id,
                        messages.len()
                    )
                })?;
            let raw = store.raw(m.seq)?.ok_or_else(|| {
                anyhow::anyhow!("raw bytes of message {} are missing from the store", m.seq)
            })?;
            out.write_all(&raw)?;
        }
        TicketCommand::Export(args) => super::export::run(store, cfg, args, operator, out)?,
    }
    out.flush()?;
    Ok(())
}
