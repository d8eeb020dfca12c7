//! `csirtd ticket export` and `csirtd export verify`: evidence out of the
//! store (see `crate::export` for the layout).

use super::ticket::{load, message_json, ticket_json, Page};
use crate::config::Config;
use crate::export::{verify, Exporter, Layout, Message};
use crate::model::handling::Kind;
use crate::model::Direction;
use crate::store::{Store, TicketRecord};
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The ticket: 2026-00042 or the whole tag
    #[arg(required_unless_present = "incident", conflicts_with = "incident")]
    pub id: Option<String>,
    /// An incident: its own record and every report linked to it
    #[arg(long, value_name = "ID")]
    pub incident: Option<String>,
    #[arg(long, value_enum, default_value_t = Layout::EmlDir)]
    pub format: Layout,
    /// A new or empty directory. While the daemon runs, the daemon writes
    /// it: its user needs the right to write there
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Check an export's files against its manifest (needs no configuration or store)
    Verify {
        /// A directory written by `csirtd ticket export`
        dir: PathBuf,
    },
}

/// `csirtd export verify DIR`: one line per problem, then a summary; the
/// exit code says whether all was well.
pub fn run_verify(cmd: &ExportCommand) -> std::process::ExitCode {
    let ExportCommand::Verify { dir } = cmd;
    let report = verify::verify(dir);
    let mut text = String::new();
    for p in &report.problems {
        text.push_str(p);
        text.push('\n');
    }
    text.push_str(&report.summary(dir));
    if report.ok() {
        crate::logging::stdout(text.as_bytes());
        std::process::ExitCode::SUCCESS
    } else {
        crate::logging::stderr(&text);
        std::process::ExitCode::from(1)
    }
}

/// The tickets an export holds, each with its role in the manifest.
fn chosen(store: &Store, args: &ExportArgs) -> anyhow::Result<Vec<(TicketRecord, &'static str)>> {
    if let Some(id) = &args.id {
        return Ok(vec![(load(store, id)?, "ticket")]);
    }
    let Some(id) = &args.incident else {
        anyhow::bail!("name a ticket, or an incident with --incident");
    };
    let incident = load(store, id)?;
    if incident.handling.kind != Kind::Incident {
        anyhow::bail!(
            "{} is a report, not an incident; export it with `csirtd ticket export {}`",
            incident.id,
            incident.id
        );
    }
    let mut out = Vec::new();
    for r in &incident.handling.reports {
        let report = store.ticket(*r)?.ok_or_else(|| {
            anyhow::anyhow!(
                "incident {} links report {r}, which is not in the store; nothing was exported",
                incident.id
            )
        })?;
        out.push((report, "report"));
    }
    out.insert(0, (incident, "incident"));
    Ok(out)
}

pub fn run(
    store: &Store,
    cfg: &Config,
    args: ExportArgs,
    operator: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let tickets = chosen(store, &args)?;
    export(store, cfg, &tickets, args.format, &args.out, operator, out)
}

fn export(
    store: &Store,
    cfg: &Config,
    tickets: &[(TicketRecord, &'static str)],
    layout: Layout,
    dir: &Path,
    operator: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut exporter = Exporter::create(dir, layout, tickets.len() > 1)?;
    let outbox = store.outbox()?;
    let everything = Page {
        number: 1,
        limit: u64::MAX,
    };
    let mut count = 0usize;
    for (t, role) in tickets {
        let mut json = ticket_json(store, cfg, t, everything)?;
        // Messages go in the manifest with their files; report rows are
        // derived from the messages, which are the evidence.
        if let Some(map) = json.as_object_mut() {
            for key in ["messages", "report_rows", "page"] {
                map.remove(key);
            }
        }
        let messages = store.messages(t.id)?;
        let mut outgoing = Vec::new();
        for (n, m) in messages.iter().enumerate() {
            if m.direction == Direction::Out {
                let raw = store.raw(m.seq)?;
                let entry = outbox.iter().find(|o| o.message_seq == m.seq);
                outgoing.push(serde_json::json!({
                    "ticket_message": n + 1,
                    "stored_sha256": raw.as_deref().map(crate::export::sha256_hex),
                    "stored_size": raw.as_ref().map(Vec::len),
                    "outbox": entry,
                    "record": message_json(m),
                }));
            }
        }
        // Entries whose stored message is not among the ticket's (none is
        // expected; listed rather than lost).
        for o in outbox.iter().filter(|o| o.ticket == t.id) {
            if !messages.iter().any(|m| m.seq == o.message_seq) {
                let raw = store.raw(o.message_seq)?;
                outgoing.push(serde_json::json!({
                    "stored_sha256": raw.as_deref().map(crate::export::sha256_hex),
                    "stored_size": raw.as_ref().map(Vec::len),
                    "outbox": o,
                }));
            }
        }
        exporter.ticket(&t.id.to_string(), role, json, outgoing)?;
        for (n, m) in messages.iter().enumerate() {
            if m.direction != Direction::In {
                continue;
            }
            let raw = store.raw(m.seq)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "the raw bytes of message {} of {} are missing from the store; the export is incomplete and was stopped (restore the store from a backup)",
                    n + 1,
                    t.id
                )
            })?;
            let sha = crate::export::sha256_hex(&raw);
            if !sha.eq_ignore_ascii_case(&m.sha256) {
                anyhow::bail!(
                    "message {} of {} has SHA-256 {sha} in the store, but {} was recorded when it arrived; the store is damaged (restore it from a backup)",
                    n + 1,
                    t.id,
                    m.sha256
                );
            }
            exporter.add(Message {
                raw: &raw,
                ticket_message: n as u64 + 1,
                received_at: m.stored_at,
                source: m.origin.clone(),
                message_id: m.message_id.clone(),
                record: message_json(m),
            })?;
            count += 1;
        }
    }
    let (manifest, manifest_sha) = exporter.finish(OffsetDateTime::now_utc(), operator)?;
    let ids: Vec<&str> = manifest.tickets.iter().map(|t| t.id.as_str()).collect();
    writeln!(
        out,
        "exported {count} message(s) of {} as {} to {}; {} file(s) read back and verified; manifest.json SHA-256 {manifest_sha}",
        ids.join(", "),
        layout.as_str(),
        dir.display(),
        manifest.files.len()
    )?;
    tracing::info!(dir = %dir.display(), tickets = %ids.join(","), by = operator, "evidence exported");
    Ok(())
}
