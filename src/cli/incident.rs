//! `csirtd incident create --from <report-id>…`: an incident ticket that
//! groups reports (RTIR's Incident over its Incident Reports).

use crate::config::Config;
use crate::model::handling::Kind;
use crate::model::{Event, EventKind, Status, TicketId};
use crate::store::{Commit, Store, TicketRecord};
use clap::Subcommand;
use std::io::Write;
use time::OffsetDateTime;

#[derive(Subcommand, Debug)]
pub enum IncidentCommand {
    /// Create an incident grouping the given reports
    Create {
        /// Report tickets (2026-00042 or the whole tag), at least one
        #[arg(long = "from", required = true, num_args = 1..)]
        from: Vec<String>,
        /// The incident's subject [default: the first report's]
        #[arg(long)]
        subject: Option<String>,
    },
}

pub fn run(
    store: &Store,
    cfg: &Config,
    cmd: IncidentCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        IncidentCommand::Create { from, subject } => {
            let now = OffsetDateTime::now_utc();
            let by = std::env::var("USER").unwrap_or_else(|_| "operator".into());
            let _writer = store.write_guard();
            let mut reports = Vec::new();
            for f in &from {
                let id: TicketId = f.parse()?;
                let t = store
                    .ticket(id)?
                    .ok_or_else(|| anyhow::anyhow!("ticket {id} does not exist"))?;
                if t.handling.kind == Kind::Incident {
                    anyhow::bail!("{id} is an incident, not a report");
                }
                if !reports.iter().any(|r: &TicketRecord| r.id == id) {
                    reports.push(t);
                }
            }
            let id = store.next_ticket_id(now.year().clamp(0, 9999) as u16)?;
            let subject = subject
                .map(|s| {
                    crate::mail::subject::sanitize(
                        &s,
                        super::super::workflow::decide::SUBJECT_MAX_CHARS,
                    )
                })
                .unwrap_or_else(|| reports[0].subject.clone());
            let mut incident = TicketRecord::new(id, subject, Vec::new(), now);
            incident.status = Status::Open;
            incident.handling.kind = Kind::Incident;
            let mut also = Vec::new();
            for mut r in reports {
                let mut events = Vec::new();
                if let Some(old) = r.handling.incident {
                    events.push(Event::new(
                        now,
                        EventKind::Warning,
                        format!("was linked to incident {old}; now to {id}"),
                    ));
                }
                r.handling.incident = Some(id);
                r.updated_at = now;
                events.push(Event::new(
                    now,
                    EventKind::Command,
                    format!("linked to new incident {id} by {by} (command line)"),
                ));
                incident.handling.reports.push(r.id);
                also.push((r, events));
            }
            let reports: Vec<String> = incident
                .handling
                .reports
                .iter()
                .map(|r| r.to_string())
                .collect();
            let mut commit = Commit::events_only(
                incident,
                vec![Event::new(
                    now,
                    EventKind::Created,
                    format!(
                        "incident created by {by} (command line) from {}",
                        reports.join(", ")
                    ),
                )],
            );
            commit.ticket_is_new = true;
            commit.also = also;
            store.apply(&commit, now)?;
            store.flush()?;
            writeln!(
                out,
                "{} created (incident of {})",
                id.tag(&cfg.team.tag),
                reports.join(", ")
            )?;
        }
    }
    Ok(())
}
