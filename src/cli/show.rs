//! `csirtd ticket show` for people: what a handler needs to read a report
//! without a MIME viewer. Everything a sender chose is escaped, and each
//! message's text is fenced (`  | `) so that no line of it can pass for a
//! line of csirtd's own. Attachments are listed, never opened.

use super::list::cut;
use super::ticket::{rfc3339, unique_indicators, Page};
use crate::config::Config;
use crate::mail::display::escape;
use crate::model::{Direction, Event, TicketId};
use crate::store::reports::StoredReport;
use crate::store::{MessageRecord, Store, TicketRecord};
use crate::workflow::sla;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};
use std::io::Write;

/// Related tickets listed per ticket; the most shared come first.
pub const RELATED_SHOWN: usize = 50;
/// Lines of a message's text shown before the note on how to read it all.
pub const TEXT_LINES: usize = 40;
/// Characters per shown line.
const LINE_CHARS: usize = 300;
/// A message larger than this is not parsed for show (its raw is there).
const MAX_PARSE: usize = 32 * 1024 * 1024;

/// What both renderings of a ticket show, gathered once.
pub struct Gathered {
    pub events: Vec<Event>,
    pub messages: Vec<MessageRecord>,
    pub related: Vec<(TicketId, Vec<String>)>,
    pub reports: Vec<StoredReport>,
    pub rows: Vec<String>,
    pub row_total: u64,
}

pub fn gather(store: &Store, t: &TicketRecord, page: Page) -> anyhow::Result<Gathered> {
    let events = store.events(t.id)?;
    let messages = store.messages(t.id)?;
    let related = store.related(t.id, &unique_indicators(&messages), RELATED_SHOWN)?;
    let reports = store.reports(t.id)?;
    let (rows, row_total) = store.report_rows(t.id, page.skip(), page.take())?;
    Ok(Gathered {
        events,
        messages,
        related,
        reports,
        rows,
        row_total,
    })
}

/// The SLA state of a ticket, from its stored messages.
pub fn due(cfg: &Config, t: &TicketRecord, messages: &[MessageRecord]) -> sla::Due {
    let category = crate::store::summary::category_of(t);
    sla::due(
        &cfg.sla,
        &sla::Facts {
            created: t.created_at,
            first_reply: crate::store::summary::first_reply_of(messages),
            status: t.status,
            category: category.as_deref(),
            tlp: t.handling.tlp,
        },
        crate::clock::now(),
    )
}

/// One attachment as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub size: usize,
    pub sha256: String,
}

/// A message's readable text (HTML turned into text, never rendered) and
/// its attachments. Pure.
pub fn parts(raw: &[u8]) -> (Option<String>, bool, Vec<Attachment>) {
    if raw.len() > MAX_PARSE {
        return (None, false, Vec::new());
    }
    let parse = std::panic::AssertUnwindSafe(|| {
        let m = MessageParser::default().parse(raw)?;
        let html_only = m
            .text_body
            .first()
            .and_then(|&i| m.parts.get(i as usize))
            .is_some_and(|p| matches!(p.body, PartType::Html(_)));
        let text = m.body_text(0).map(|t| t.into_owned());
        let attachments = m
            .attachments()
            .map(|p| {
                let ct = p
                    .content_type()
                    .map_or("application/octet-stream".into(), |c| match c.subtype() {
                        Some(s) => format!("{}/{s}", c.ctype()),
                        None => c.ctype().to_string(),
                    });
                let bytes: &[u8] = match &p.body {
                    PartType::Message(inner) => inner.raw_message(),
                    _ => p.contents(),
                };
                Attachment {
                    name: p.attachment_name().unwrap_or("(no name)").to_string(),
                    content_type: ct,
                    size: bytes.len(),
                    sha256: hex::encode(Sha256::digest(bytes)),
                }
            })
            .collect();
        Some((text, html_only, attachments))
    });
    std::panic::catch_unwind(parse)
        .ok()
        .flatten()
        .unwrap_or((None, false, Vec::new()))
}

/// `text` as fenced, escaped lines, at most `max` of them; the lines left
/// out are counted. Pure.
pub fn fenced(text: &str, max: usize) -> (Vec<String>, usize) {
    // Split on every line break a terminal or a reader would honour, so
    // that none survives inside a line.
    let lines: Vec<&str> = text
        .split(['\n', '\u{85}', '\u{2028}', '\u{2029}'])
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let lines: Vec<&str> = match lines.iter().rposition(|l| !l.trim().is_empty()) {
        Some(last) => lines[..=last].to_vec(),
        None => Vec::new(),
    };
    let shown = lines
        .iter()
        .take(max)
        .map(|l| format!("    | {}", cut(&escape(l), LINE_CHARS)))
        .collect();
    (shown, lines.len().saturating_sub(max))
}

fn line(out: &mut dyn Write, label: &str, value: &str) -> std::io::Result<()> {
    writeln!(out, "  {label:<14} {value}")
}

pub fn show_human(
    store: &Store,
    cfg: &Config,
    t: &TicketRecord,
    page: Page,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let prefix = &cfg.team.tag;
    let g = gather(store, t, page)?;
    writeln!(out, "{} {}", t.id.tag(prefix), escape(&t.subject))?;
    line(out, "status", t.status.as_str())?;
    line(out, "tlp", t.handling.tlp.map_or("-", |l| l.as_str()))?;
    line(
        out,
        "assignee",
        &escape(t.handling.assignee.as_deref().unwrap_or("-")),
    )?;
    let category = crate::store::summary::category_of(t);
    line(out, "category", &escape(category.as_deref().unwrap_or("-")))?;
    line(out, "constituencies", &list_or_dash(&t.constituencies))?;
    line(out, "requestors", &list_or_dash(&t.requestors))?;
    if !t.flags.is_empty() {
        let f: Vec<_> = t.flags.iter().map(|f| f.as_str()).collect();
        line(out, "flags", &f.join(", "))?;
    }
    line(out, "kind", t.handling.kind.as_str())?;
    if let Some(i) = t.handling.incident {
        line(out, "incident", &i.to_string())?;
    }
    if !t.handling.reports.is_empty() {
        let r: Vec<String> = t.handling.reports.iter().map(|r| r.to_string()).collect();
        line(out, "reports", &r.join(", "))?;
    }
    if let Some(m) = t.handling.merged_into {
        line(out, "merged into", &m.to_string())?;
    }
    line(out, "created", &rfc3339(t.created_at))?;
    line(out, "updated", &rfc3339(t.updated_at))?;
    // Retention: a tombstone and a legal hold are said before the rest.
    if let Some(at) = t.purged_at {
        line(
            out,
            "purged",
            &format!(
                "{} by retention: mail, texts and personal data removed; this is the tombstone",
                rfc3339(at)
            ),
        )?;
    }
    if let Some(h) = &t.hold {
        line(
            out,
            "legal hold",
            &format!(
                "{} (by {}, {})",
                escape(&h.reason),
                escape(&h.by),
                rfc3339(h.at)
            ),
        )?;
    }
    let due = due(cfg, t, &g.messages);
    let deadline = |d: Option<sla::Deadline>| match d {
        Some(d) if d.overdue => format!("{} OVERDUE", rfc3339(d.at)),
        Some(d) => rfc3339(d.at),
        None => "-".into(),
    };
    if cfg.sla.is_set() {
        line(out, "first reply due", &deadline(due.first_reply))?;
        line(out, "resolve due", &deadline(due.resolve))?;
    }

    writeln!(out, "\nmessages:{}", shown(page, g.messages.len() as u64))?;
    for (i, m) in page.of(&g.messages).iter().enumerate() {
        let n = page.skip() + i + 1;
        message(store, t.id, n, m, out)?;
    }

    let indicators = unique_indicators(&g.messages);
    writeln!(out, "\nindicators:{}", shown(page, indicators.len() as u64))?;
    for ind in page.of(&indicators) {
        writeln!(
            out,
            "  {:<8} {}  ({})",
            serde_json::to_value(ind.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            escape(&ind.value),
            escape(&ind.source.to_string())
        )?;
    }

    writeln!(out, "\nrelated tickets:")?;
    if g.related.is_empty() {
        writeln!(out, "  none")?;
    }
    for (id, shared) in &g.related {
        let values: Vec<String> = shared.iter().take(5).map(|v| escape(v)).collect();
        let more = shared.len().saturating_sub(values.len());
        writeln!(
            out,
            "  {}  shares {}{}",
            id.tag(prefix),
            values.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )?;
    }

    let mut events: Vec<&Event> = page.of(&g.events).iter().collect();
    events.sort_by_key(|e| e.at);
    writeln!(out, "\nhistory:{}", shown(page, g.events.len() as u64))?;
    for e in events {
        writeln!(
            out,
            "  {}  {:<15} {}",
            rfc3339(e.at),
            e.kind.as_str(),
            escape(&e.detail)
        )?;
    }
    if !g.reports.is_empty() {
        writeln!(out, "\nreport rows:{}", shown(page, g.row_total))?;
        for r in &g.reports {
            writeln!(
                out,
                "  {} {} from {}: {} rows{}",
                escape(&r.header.report_type),
                escape(&r.header.date),
                escape(&r.header.files.join(", ")),
                r.header.rows,
                if r.header.truncated {
                    " (cut by the message's budget)"
                } else {
                    ""
                }
            )?;
        }
        for row in &g.rows {
            writeln!(out, "  {}", escape(row))?;
        }
    }
    Ok(())
}

fn list_or_dash(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        escape(&v.join(", "))
    }
}

fn message(
    store: &Store,
    id: TicketId,
    n: usize,
    m: &MessageRecord,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let flags: Vec<_> = m.flags.iter().map(|f| f.as_str()).collect();
    writeln!(
        out,
        "\n  [{n}] {} {}  {} bytes  sha256 {}{}",
        match m.direction {
            Direction::In => "in ",
            Direction::Out => "out",
        },
        rfc3339(m.stored_at),
        m.size,
        m.sha256,
        if flags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", flags.join(", "))
        }
    )?;
    writeln!(
        out,
        "      from      {}",
        escape(m.from.as_deref().unwrap_or("-"))
    )?;
    if !m.to.is_empty() {
        writeln!(out, "      to        {}", escape(&m.to.join(", ")))?;
    }
    writeln!(
        out,
        "      subject   {}",
        escape(m.subject.as_deref().unwrap_or("-"))
    )?;
    writeln!(
        out,
        "      id        <{}>",
        escape(m.message_id.as_deref().unwrap_or("-"))
    )?;
    writeln!(out, "      via       {}", escape(&m.origin))?;
    if let Some(v) = &m.verification {
        let signer = match (&v.signer_fingerprint, v.signer_uids.first()) {
            (Some(f), Some(u)) => format!(" by {} ({})", escape(f), escape(u)),
            (Some(f), None) => format!(" by {}", escape(f)),
            _ => String::new(),
        };
        writeln!(
            out,
            "      openpgp   {}{signer}: {}",
            v.status.as_str(),
            escape(&v.detail)
        )?;
    } else if m.direction == Direction::In {
        writeln!(out, "      openpgp   not checked ([pgp] not configured)")?;
    }
    if let Some(a) = &m.authentication {
        writeln!(out, "      auth      {}", escape(&a.in_words()))?;
    }
    let raw = store.raw(m.seq)?;
    let Some(raw) = raw else {
        writeln!(out, "      (raw bytes missing from the store)")?;
        return Ok(());
    };
    let (text, html_only, attachments) = parts(&raw);
    for a in &attachments {
        writeln!(
            out,
            "      attached  {} ({}, {} bytes, sha256 {}); not opened",
            escape(&a.name),
            escape(&a.content_type),
            a.size,
            a.sha256
        )?;
    }
    let hint = format!("csirtd ticket raw {id} --message {n}");
    match text {
        Some(text) => {
            let (lines, left) = fenced(&text, TEXT_LINES);
            writeln!(
                out,
                "      text{}:",
                if html_only {
                    " (HTML shown as text, tags removed)"
                } else {
                    ""
                }
            )?;
            for l in lines {
                writeln!(out, "{l}")?;
            }
            if left > 0 {
                writeln!(out, "      … {left} more line(s): {hint}")?;
            }
        }
        None => writeln!(
            out,
            "      (no readable text part; the whole message: {hint})"
        )?,
    }
    Ok(())
}

/// " (41–80 of 250; --page 3 for more)" when a list does not fit a page.
pub fn shown(page: Page, total: u64) -> String {
    let from = (page.skip() as u64).min(total);
    let to = from.saturating_add(page.limit).min(total);
    if from == 0 && to == total {
        return String::new();
    }
    if from == to {
        return format!(" (none on page {} of {total})", page.number);
    }
    let more = if to < total {
        format!("; --page {} for more", page.number + 1)
    } else {
        String::new()
    };
    format!(" ({}–{to} of {total}{more})", from + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_are_fenced_escaped_and_counted() {
        let (lines, left) = fenced("a\r\nSignature: good\x1b[31m\rX\u{202e}\u{2028}b\n\n", 3);
        assert_eq!(
            lines,
            vec![
                "    | a",
                "    | Signature: good\\x1b[31m\\rX\\u{202e}",
                "    | b"
            ]
        );
        assert_eq!(left, 0);
        let (lines, left) = fenced("1\n2\n3\n4\n5", 2);
        assert_eq!((lines.len(), left), (2, 3));
    }

    #[test]
    fn html_is_text_and_attachments_are_hashed() {
        let raw = b"From: a@x.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p><script>alert(1)</script>\r\n--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"x.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--b--\r\n";
        let (text, html_only, att) = parts(raw);
        let text = text.unwrap();
        assert!(html_only);
        assert!(text.contains("Hello") && !text.contains("<b>"), "{text}");
        assert_eq!(att.len(), 1);
        assert_eq!(att[0].name, "x.zip");
        assert_eq!(att[0].content_type, "application/zip");
        assert_eq!(att[0].size, 4);
        assert_eq!(att[0].sha256, hex::encode(Sha256::digest(b"PK\x03\x04")));
    }
}
