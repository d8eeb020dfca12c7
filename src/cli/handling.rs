//! `csirtd ticket status|assign|category|tlp|link|merge|note|reply`: the
//! handling steps of signed mail, at the terminal (see `workflow::desk`).
//! The text of a note or reply is read by the client process (a file, the
//! argument or `$EDITOR`) and travels to the daemon with the command line.

use super::ticket::TicketCommand;
use crate::config::Config;
use crate::model::TicketId;
use crate::store::Store;
use crate::workflow::commands::{self, Command};
use crate::workflow::desk::{self, Actor, ActorError, MAX_TEXT_BYTES};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Who acts, when it is not the handler mapped to the Unix user.
#[derive(clap::Args, Debug, Clone)]
pub struct Who {
    /// The handler who takes this step [default: the [[handlers]] entry
    /// whose unix_user is the Unix user running csirtd]
    #[arg(long = "as", value_name = "HANDLER")]
    pub as_handler: Option<String>,
}

/// A wrong command line: exit 64 (EX_USAGE), as clap's own refusals.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The lines of the editor's template; they are removed from the text.
const TEMPLATE_MARK: &str = "# csirtd:";

/// The text of a note or reply, read here (not by the daemon, which may
/// not see the file or the terminal). None for the other commands.
pub fn read_input(cmd: &TicketCommand) -> anyhow::Result<Option<String>> {
    let (id, file, what) = match cmd {
        TicketCommand::Note {
            text: Some(t),
            file: None,
            ..
        } => return Ok(Some(t.clone())),
        TicketCommand::Note { id, file, .. } => (id, file, "note"),
        TicketCommand::Reply { id, file, .. } => (id, file, "reply"),
        _ => return Ok(None),
    };
    let text = match file {
        Some(f) => read_file(f)?,
        None => from_editor(id, what)?,
    };
    if text.trim().is_empty() {
        anyhow::bail!("aborted: the {what} is empty; nothing was done");
    }
    Ok(Some(text))
}

fn read_file(f: &Path) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    let limit = MAX_TEXT_BYTES as u64 + 1;
    if f == Path::new("-") {
        std::io::stdin().take(limit).read_to_end(&mut bytes)?;
    } else {
        std::fs::File::open(f)
            .and_then(|file| file.take(limit).read_to_end(&mut bytes))
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
    }
    if bytes.len() > MAX_TEXT_BYTES {
        anyhow::bail!(
            "{} is larger than {MAX_TEXT_BYTES} bytes: not a note or a reply",
            f.display()
        );
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", f.display()))
}

/// `$VISUAL` or `$EDITOR` on a private temporary file with a short
/// template; what is left besides the template is the text.
fn from_editor(id: &str, what: &str) -> anyhow::Result<String> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .ok_or_else(|| {
            UsageError(format!(
                "no text for the {what}: set $EDITOR, or give --file FILE (- for standard input)"
            ))
        })?;
    let path = temp_path(what);
    let template = format!(
        "\n{TEMPLATE_MARK} {what} on ticket {id}. Write above; lines starting with\n\
         {TEMPLATE_MARK} are removed. {}\n\
         {TEMPLATE_MARK} An empty text aborts.\n",
        if what == "reply" {
            "It goes to the ticket's requestors, signed by the team."
        } else {
            "It stays internal, never sent to requestors."
        }
    );
    write_private(&path, template.as_bytes())?;
    // The editor variable may carry arguments (`code --wait`): the shell splits it.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("csirtd-editor")
        .arg(&path)
        .status();
    let text = std::fs::read(&path);
    let _ = std::fs::remove_file(&path);
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => anyhow::bail!("aborted: the editor `{editor}` exited with {s}; nothing was done"),
        Err(e) => anyhow::bail!("cannot run the editor `{editor}`: {e}"),
    }
    let text = String::from_utf8(text?)
        .map_err(|_| anyhow::anyhow!("the edited text is not UTF-8; nothing was done"))?;
    Ok(strip_template(&text))
}

fn temp_path(what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("csirtd-{what}-{}-{nanos}.txt", std::process::id()))
}

/// Owner-only and new: a reply may hold what the reporter sent in confidence.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

/// The text without the template's lines.
pub fn strip_template(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with(TEMPLATE_MARK))
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_id(s: &str) -> anyhow::Result<TicketId> {
    s.parse::<TicketId>()
        .map_err(|e| UsageError(format!("`{s}`: {e}")).into())
}

/// The step as the mail command a handler would write: one parser and
/// one set of refusals for both.
fn as_mail_command(cmd: &TicketCommand) -> Option<Result<Command, String>> {
    use TicketCommand as T;
    let line = match cmd {
        T::Status { status, .. } => return Some(Ok(Command::Status(*status))),
        T::Assign { none: true, .. } => "/unassign".to_string(),
        T::Assign { handler, .. } => format!("/assign {}", handler.as_deref().unwrap_or("")),
        T::Category { category, .. } => format!("/category {category}"),
        T::Tlp { level, .. } => format!("/tlp {level}"),
        T::Link { incident, .. } => format!("/link {incident}"),
        T::Merge { into, .. } => format!("/merge {into}"),
        T::Hold { reason, .. } => {
            return Some(commands::hold_reason(reason).map(Command::Hold));
        }
        T::Unhold { .. } => "/unhold".to_string(),
        _ => return None,
    };
    Some(commands::parse_line(&line))
}

/// Runs a handling step. `operator`: the Unix user who gave it; `input`:
/// the note's or reply's text as the client read it.
pub fn run(
    store: &Store,
    cfg: &Config,
    cmd: TicketCommand,
    out: &mut dyn Write,
    operator: &str,
    input: Option<String>,
) -> anyhow::Result<()> {
    use TicketCommand as T;
    let now = OffsetDateTime::now_utc();
    let (id, who) = match &cmd {
        T::Status { id, who, .. }
        | T::Assign { id, who, .. }
        | T::Category { id, who, .. }
        | T::Tlp { id, who, .. }
        | T::Link { id, who, .. }
        | T::Merge { id, who, .. }
        | T::Note { id, who, .. }
        | T::Hold { id, who, .. }
        | T::Unhold { id, who, .. }
        | T::Reply { id, who, .. } => (parse_id(id)?, who.clone()),
        _ => anyhow::bail!("not a handling step"),
    };
    let actor = match desk::resolve(&cfg.handlers, who.as_handler.as_deref(), operator) {
        Ok(a) => a,
        // As before handlers existed: a status change names the Unix user.
        Err(ActorError::NoHandlers)
            if matches!(cmd, T::Status { .. }) && who.as_handler.is_none() =>
        {
            Actor {
                handler: None,
                unix_user: operator.to_string(),
                web_user: None,
            }
        }
        Err(e) => return Err(UsageError(e.to_string()).into()),
    };
    if let Some(parsed) = as_mail_command(&cmd) {
        let command = parsed.map_err(UsageError)?;
        let events = desk::command(store, cfg, id, &command, &actor, now)?;
        for e in events {
            writeln!(out, "{id}: {}", e.detail)?;
        }
        return Ok(());
    }
    let text =
        input.ok_or_else(|| UsageError("no text was given: use --file FILE, or $EDITOR".into()))?;
    match cmd {
        T::Note { .. } => {
            let events = desk::note(store, cfg, id, &text, &actor, now)?;
            writeln!(out, "{id}: internal note by {} recorded", actor.by())?;
            for e in events.iter().skip(1) {
                writeln!(out, "{id}: {}", e.detail)?;
            }
        }
        T::Reply { .. } => {
            let (replied, events) = desk::reply(store, cfg, id, &text, &actor, now)?;
            for e in &events {
                writeln!(out, "{id}: {}", e.detail)?;
            }
            if replied.queued.is_empty() && replied.kept.is_empty() {
                anyhow::bail!(
                    "the reply was not queued (see the lines above and `csirtd ticket show {id}`)"
                );
            }
        }
        _ => anyhow::bail!("not a handling step"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_removed_and_the_rest_kept() {
        let t = "Dear reporter,\n# not ours\n\n# csirtd: reply on ticket 2026-00001\n";
        assert_eq!(strip_template(t), "Dear reporter,\n# not ours\n");
    }
}
