//! Commands a handler writes at the top of a mail (`/status resolved`,
//! `/assign alice`, …). Parsing only: whether a command may run (a good
//! signature by a configured handler) is decided elsewhere, and nothing here
//! touches a ticket.

use crate::model::{Status, TicketId};
use std::fmt;

/// Traffic Light Protocol 2.0 labels (FIRST), with TLP 1.0's WHITE read as CLEAR.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Tlp {
    #[serde(rename = "clear")]
    Clear,
    #[serde(rename = "green")]
    Green,
    #[serde(rename = "amber")]
    Amber,
    #[serde(rename = "amber+strict")]
    AmberStrict,
    #[serde(rename = "red")]
    Red,
}

impl Tlp {
    pub fn parse(s: &str) -> Option<Tlp> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_prefix("tlp:").unwrap_or(&s);
        match s {
            "clear" | "white" => Some(Tlp::Clear),
            "green" => Some(Tlp::Green),
            "amber" => Some(Tlp::Amber),
            "amber+strict" | "amber-strict" | "amber_strict" => Some(Tlp::AmberStrict),
            "red" => Some(Tlp::Red),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLP:{}", self.as_str().to_ascii_uppercase())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status(Status),
    Assign(String),
    /// No one is assigned any more.
    Unassign,
    Link(TicketId),
    Merge(TicketId),
    Category(String),
    Tlp(Tlp),
    ReporterAckOff,
    /// Let the ticket's outgoing mail kept for release go out: one outbox
    /// entry, or all of the ticket's.
    Release(Option<u64>),
    /// A legal hold with its reason: retention never purges the ticket.
    Hold(String),
    /// The legal hold is lifted.
    Unhold,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Status(s) => write!(f, "/status {s}"),
            Command::Assign(h) => write!(f, "/assign {h}"),
            Command::Unassign => write!(f, "/unassign"),
            Command::Link(t) => write!(f, "/link {t}"),
            Command::Merge(t) => write!(f, "/merge {t}"),
            Command::Category(c) => write!(f, "/category {c}"),
            Command::Tlp(t) => write!(f, "/tlp {}", t.as_str()),
            Command::ReporterAckOff => write!(f, "/reporter-ack off"),
            Command::Release(None) => write!(f, "/release"),
            Command::Release(Some(id)) => write!(f, "/release {id}"),
            Command::Hold(reason) => write!(f, "/hold {reason}"),
            Command::Unhold => write!(f, "/unhold"),
        }
    }
}

/// A command line that could not be understood, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub line: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commands {
    pub commands: Vec<Command>,
    pub errors: Vec<CommandError>,
    /// The text after the command block, as written.
    pub rest: String,
}

/// More is not a handler at work but a script or an attack.
pub const MAX_COMMANDS: usize = 20;

/// Reads the command block: the lines starting with `/` at the top of the
/// text, before any other text (blank lines before and between are allowed).
pub fn parse(text: &str) -> Commands {
    let mut out = Commands::default();
    let mut consumed = 0usize;
    for raw in text.split_inclusive('\n') {
        let t = raw.trim();
        if !t.is_empty() {
            if !t.starts_with('/') {
                break;
            }
            if out.commands.len() + out.errors.len() >= MAX_COMMANDS {
                out.errors.push(CommandError {
                    line: t.chars().take(80).collect(),
                    reason: format!("at most {MAX_COMMANDS} commands per mail"),
                });
            } else {
                match parse_line(t) {
                    Ok(c) => out.commands.push(c),
                    Err(reason) => out.errors.push(CommandError {
                        line: t.chars().take(200).collect(),
                        reason,
                    }),
                }
            }
        }
        consumed += raw.len();
    }
    out.rest = text
        .get(consumed.min(text.len())..)
        .unwrap_or("")
        .to_string();
    out
}

/// One command line, as a handler writes it in a mail: `csirtd ticket`
/// verbs are spelled as these lines so that both accept and refuse alike.
pub fn parse_line(line: &str) -> Result<Command, String> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("").to_ascii_lowercase();
    let args: Vec<&str> = words.collect();
    let one = |usage: &str| -> Result<&str, String> {
        match args.as_slice() {
            [a] => Ok(a),
            _ => Err(format!("usage: {usage}")),
        }
    };
    match verb.as_str() {
        "/status" => {
            let a = one("/status open|stalled|resolved|rejected")?;
            match a.to_ascii_lowercase().as_str() {
                "open" => Ok(Command::Status(Status::Open)),
                "stalled" => Ok(Command::Status(Status::Stalled)),
                "resolved" => Ok(Command::Status(Status::Resolved)),
                "rejected" => Ok(Command::Status(Status::Rejected)),
                other => Err(format!("unknown status `{other}`; use open, stalled, resolved or rejected")),
            }
        }
        "/assign" => {
            let a = one("/assign <handler name or address>")?;
            if a.len() > 100 || a.chars().any(|c| c.is_control()) {
                return Err("handler name is not plausible".into());
            }
            Ok(Command::Assign(a.to_string()))
        }
        "/unassign" => match args.as_slice() {
            [] => Ok(Command::Unassign),
            _ => Err("usage: /unassign".into()),
        },
        "/link" | "/merge" => {
            // The whole tag may be pasted, spaces and all.
            if args.is_empty() {
                return Err(format!("usage: {verb} <ticket-id>, e.g. {verb} 2026-00042"));
            }
            let id = args.join(" ").parse::<TicketId>().map_err(|e| e.to_string())?;
            Ok(if verb == "/link" { Command::Link(id) } else { Command::Merge(id) })
        }
        "/category" => {
            let a = one("/category <name>, e.g. /category fraud/phishing")?;
            let ok = !a.is_empty()
                && a.len() <= 80
                && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_/.".contains(c));
            if !ok {
                return Err(format!("`{a}` is not a category name (letters, digits, - _ / .)"));
            }
            Ok(Command::Category(a.to_ascii_lowercase()))
        }
        "/tlp" => {
            let a = one("/tlp clear|green|amber|amber+strict|red")?;
            Tlp::parse(a)
                .map(Command::Tlp)
                .ok_or_else(|| format!("unknown TLP label `{a}`; use clear, green, amber, amber+strict or red"))
        }
        "/release" => match args.as_slice() {
            [] => Ok(Command::Release(None)),
            [a] => a
                .parse::<u64>()
                .map(|id| Command::Release(Some(id)))
                .map_err(|_| format!("`{a}` is not an outbox ID; usage: /release [outbox-id]")),
            _ => Err("usage: /release [outbox-id]".into()),
        },
        "/hold" => hold_reason(&args.join(" ")).map(Command::Hold),
        "/unhold" => match args.as_slice() {
            [] => Ok(Command::Unhold),
            _ => Err("usage: /unhold".into()),
        },
        "/reporter-ack" => match args.as_slice() {
            [a] if a.eq_ignore_ascii_case("off") => Ok(Command::ReporterAckOff),
            _ => Err("usage: /reporter-ack off".into()),
        },
        _ => Err(format!(
            "unknown command `{verb}`; known: /status, /assign, /unassign, /link, /merge, /category, /tlp, /reporter-ack, /release, /hold, /unhold"
        )),
    }
}

/// A legal hold's reason as given (`/hold` or `ticket hold --reason`):
/// one line of plain text, which the hold and its event keep.
pub fn hold_reason(text: &str) -> Result<String, String> {
    let reason = text.trim();
    if reason.is_empty() {
        return Err("usage: /hold <reason>, e.g. /hold police request 2026-17".into());
    }
    if reason.chars().count() > 200 || reason.chars().any(|c| c.is_control()) {
        return Err("the reason of a hold is one line of at most 200 characters".into());
    }
    Ok(reason.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_block_at_the_top_and_keeps_the_rest() {
        let c = parse("\n/status resolved\n/TLP amber+strict\n\n/assign alice\nThanks, fixed.\n/status open\n");
        assert_eq!(
            c.commands,
            vec![
                Command::Status(Status::Resolved),
                Command::Tlp(Tlp::AmberStrict),
                Command::Assign("alice".into())
            ]
        );
        assert!(c.errors.is_empty());
        assert_eq!(
            c.rest, "Thanks, fixed.\n/status open\n",
            "a slash line after text is text"
        );
    }

    #[test]
    fn crlf_text_keeps_its_rest_intact() {
        let c = parse("/status open\r\n\r\nDone.\r\n");
        assert_eq!(c.commands, vec![Command::Status(Status::Open)]);
        assert_eq!(c.rest, "Done.\r\n");
    }

    #[test]
    fn text_first_means_no_commands() {
        let c = parse("Hello,\n/status resolved\n");
        assert!(c.commands.is_empty() && c.errors.is_empty());
        assert_eq!(c.rest, "Hello,\n/status resolved\n");
    }

    #[test]
    fn every_command_parses() {
        let c = parse("/link 2026-00042\n/merge [CERT-EX #2026-00007]\n/category Fraud/Phishing\n/tlp white\n/reporter-ack off\n/status stalled\n");
        assert_eq!(
            c.commands,
            vec![
                Command::Link(TicketId::new(2026, 42)),
                Command::Merge(TicketId::new(2026, 7)),
                Command::Category("fraud/phishing".into()),
                Command::Tlp(Tlp::Clear),
                Command::ReporterAckOff,
                Command::Status(Status::Stalled),
            ]
        );
        assert_eq!(parse_line("/unassign"), Ok(Command::Unassign));
        assert!(parse_line("/unassign bob").is_err());
        assert_eq!(
            parse_line("/hold  police request 17 "),
            Ok(Command::Hold("police request 17".into()))
        );
        assert_eq!(parse_line("/UNHOLD"), Ok(Command::Unhold));
        assert!(parse_line("/hold").is_err());
        assert!(parse_line("/unhold now").is_err());
        assert!(parse_line(&format!("/hold {}", "x".repeat(201))).is_err());
    }

    #[test]
    fn mistakes_are_reported_with_usage() {
        let c = parse(
            "/status done\n/frobnicate\n/link banana\n/tlp purple\n/assign\n/reporter-ack on\n",
        );
        assert!(c.commands.is_empty());
        let reasons: Vec<&str> = c.errors.iter().map(|e| e.reason.as_str()).collect();
        assert!(reasons[0].contains("unknown status"), "{reasons:?}");
        assert!(reasons[1].contains("unknown command"));
        assert!(reasons[2].contains("YYYY-NNNNN"));
        assert!(reasons[3].contains("TLP"));
        assert!(reasons[4].contains("usage"));
        assert!(reasons[5].contains("usage"));
    }

    #[test]
    fn the_block_is_bounded() {
        let text = "/status open\n".repeat(50);
        let c = parse(&text);
        assert_eq!(c.commands.len(), MAX_COMMANDS);
        assert_eq!(c.errors.len(), 30);
    }

    #[test]
    fn tlp_labels_display_as_written_in_advisories() {
        assert_eq!(Tlp::AmberStrict.to_string(), "TLP:AMBER+STRICT");
        assert_eq!(Tlp::parse("TLP:RED"), Some(Tlp::Red));
        assert!(Tlp::Red > Tlp::Amber, "ordered by restriction");
    }
}
