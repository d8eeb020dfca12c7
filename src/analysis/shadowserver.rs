//! Shadowserver report mails: CSV attachments, plain, zipped or gzipped,
//! one row per event, the report type in the file name
//! (`2015-01-01-scan_ntp-sample-asn.csv.zip` is `scan_ntp` of 2015-01-01).
//! Every size is bounded by the message's budget (see `budget.rs`): a zip
//! bomb stops at the budget, not at the memory or the disk.

use super::budget::{Budget, Over};
use mail_parser::{Message, MimeHeaders, PartType};
use std::borrow::Cow;
use std::io::Read;
use std::net::IpAddr;

/// Entries looked at in one zip archive.
const MAX_ZIP_ENTRIES: usize = 16;
/// Columns kept per row, and characters per row's event text.
const MAX_COLUMNS: usize = 64;
const MAX_ROW_TEXT: usize = 600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The row's `ip` (or `src_ip`) column, when it is an address.
    pub ip: Option<IpAddr>,
    /// `column=value` pairs of the non-empty fields, bounded, on one line:
    /// what handlers read (never sent outside the team).
    pub text: String,
    /// The fields a notification may carry, checked against their types.
    pub fields: super::row_fields::RowFields,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowReport {
    /// The attachment's file name.
    pub file: String,
    /// `scan_ntp`, `sinkhole_http_drone`, … (lower case).
    pub report_type: String,
    /// `YYYY-MM-DD` from the file name.
    pub date: String,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    /// Rows or bytes cut by the message's budget.
    pub truncated: bool,
}

/// `2015-01-01-scan_ntp-sample-asn.csv[.zip|.gz]` → (`scan_ntp`, `2015-01-01`).
pub fn report_type_of(file_name: &str) -> Option<(String, String)> {
    let name = file_name.rsplit(['/', '\\']).next()?.to_ascii_lowercase();
    let stem = name
        .strip_suffix(".zip")
        .or_else(|| name.strip_suffix(".gz"))
        .unwrap_or(&name);
    let stem = stem.strip_suffix(".csv")?;
    let date = stem.get(..10)?;
    let ok_date = date.bytes().enumerate().all(|(i, b)| {
        if i == 4 || i == 7 {
            b == b'-'
        } else {
            b.is_ascii_digit()
        }
    });
    let rest = stem.get(10..)?.strip_prefix('-')?;
    let kind = rest.split('-').next()?;
    let ok_kind = !kind.is_empty()
        && kind.len() <= 64
        && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (ok_date && ok_kind).then(|| (kind.to_string(), date.to_string()))
}

/// Every Shadowserver CSV attached to `message`, within the default budget.
pub fn parse(message: &Message<'_>) -> Vec<ShadowReport> {
    parse_within(message, &Budget::new(Default::default()))
}

/// Every Shadowserver CSV attached to `message`, as far as `budget` goes.
pub fn parse_within(message: &Message<'_>, budget: &Budget) -> Vec<ShadowReport> {
    let mut out = Vec::new();
    for part in message.parts.iter().take(64) {
        let Some(name) = part.attachment_name() else {
            continue;
        };
        let Some((report_type, date)) = report_type_of(name) else {
            continue;
        };
        let bytes: &[u8] = match &part.body {
            PartType::Binary(b) | PartType::InlineBinary(b) => b.as_ref(),
            PartType::Text(t) => t.as_bytes(),
            _ => continue,
        };
        let lower = name.to_ascii_lowercase();
        let packed = lower.ends_with(".zip") || lower.ends_with(".gz");
        let unpacked = if lower.ends_with(".zip") {
            unzip_csv(bytes, budget.decompressed_left()).map(|(b, cut)| (Cow::Owned(b), cut))
        } else if packed {
            gunzip(bytes, budget.decompressed_left()).map(|(b, cut)| (Cow::Owned(b), cut))
        } else {
            // Already in memory as the part itself: nothing is unpacked.
            Some((Cow::Borrowed(bytes), false))
        };
        let Some((text, cut)) = unpacked else {
            continue;
        };
        if packed {
            budget.spend_decompressed(text.len() as u64);
        }
        if cut {
            budget.exceed(Over::Decompressed);
        }
        let mut report = parse_csv_within(&String::from_utf8_lossy(&text), budget);
        report.truncated |= cut;
        report.file = name.chars().take(200).collect();
        report.report_type = report_type;
        report.date = date;
        out.push(report);
    }
    out
}

/// Reads at most `limit` bytes; (bytes, whether there was more).
fn read_bounded(r: impl Read, limit: u64, claimed: u64) -> Option<(Vec<u8>, bool)> {
    // The claimed size is the sender's; it only saves re-allocations. One
    // byte past the limit fits too: reading it must not double the buffer.
    let mut data = Vec::with_capacity(claimed.min(limit.saturating_add(1)) as usize);
    if r.take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .is_err()
    {
        return None;
    }
    let truncated = data.len() as u64 > limit;
    data.truncate(limit as usize);
    Some((data, truncated))
}

/// The first `.csv` entry of a zip archive, deflated or stored, read up to
/// `limit` bytes whatever the archive claims. (bytes, truncated)
pub fn unzip_csv(bytes: &[u8], limit: u64) -> Option<(Vec<u8>, bool)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    for i in 0..archive.len().min(MAX_ZIP_ENTRIES) {
        let Ok(entry) = archive.by_index(i) else {
            continue;
        };
        if !entry.name().to_ascii_lowercase().ends_with(".csv") || entry.is_dir() {
            continue;
        }
        let claimed = entry.size();
        return read_bounded(entry, limit, claimed);
    }
    None
}

/// A gzipped CSV, read up to `limit` bytes. (bytes, truncated)
pub fn gunzip(bytes: &[u8], limit: u64) -> Option<(Vec<u8>, bool)> {
    read_bounded(flate2::read::GzDecoder::new(bytes), limit, 0)
}

/// One CSV record's fields (RFC 4180 quoting), or None at the end.
fn next_record(s: &str, pos: &mut usize) -> Option<Vec<String>> {
    let b = s.as_bytes();
    if *pos >= b.len() {
        return None;
    }
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut i = *pos;
    let mut start = i;
    while i < b.len() {
        let c = b[i];
        if quoted {
            if c == b'"' {
                if b.get(i + 1) == Some(&b'"') {
                    field.push_str(&s[start..=i]);
                    i += 2;
                    start = i;
                    continue;
                }
                field.push_str(&s[start..i]);
                quoted = false;
                i += 1;
                start = i;
                continue;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                field.push_str(&s[start..i]);
                quoted = true;
                i += 1;
                start = i;
            }
            b',' => {
                field.push_str(&s[start..i]);
                if fields.len() < MAX_COLUMNS {
                    fields.push(std::mem::take(&mut field));
                } else {
                    field.clear();
                }
                i += 1;
                start = i;
            }
            b'\n' | b'\r' => {
                field.push_str(&s[start..i]);
                i += 1;
                if c == b'\r' && b.get(i) == Some(&b'\n') {
                    i += 1;
                }
                *pos = i;
                if fields.len() < MAX_COLUMNS {
                    fields.push(field);
                }
                return Some(fields);
            }
            _ => i += 1,
        }
    }
    field.push_str(&s[start..i]);
    if fields.len() < MAX_COLUMNS {
        fields.push(field);
    }
    *pos = b.len();
    Some(fields)
}

/// Rows of a CSV with a header line; blank lines skipped.
pub fn parse_csv(text: &str) -> ShadowReport {
    parse_csv_within(text, &Budget::new(Default::default()))
}

/// Rows of a CSV, as many as `budget` allows.
pub fn parse_csv_within(text: &str, budget: &Budget) -> ShadowReport {
    let mut pos = 0;
    let columns: Vec<String> = loop {
        match next_record(text, &mut pos) {
            Some(h) if h.iter().all(|f| f.trim().is_empty()) => continue,
            Some(h) => break h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
            None => break Vec::new(),
        }
    };
    let ip_col = columns
        .iter()
        .position(|c| c == "ip" || c == "src_ip" || c == "source_ip");
    let typed = super::row_fields::Columns::of(&columns);
    let mut rows = Vec::new();
    let mut truncated = false;
    while let Some(rec) = next_record(text, &mut pos) {
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let ip = ip_col
            .and_then(|i| rec.get(i))
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        let mut row_text = String::new();
        for (c, v) in columns.iter().zip(rec.iter()) {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            if row_text.len() + c.len() + v.len() + 3 > MAX_ROW_TEXT {
                row_text.push('…');
                break;
            }
            if !row_text.is_empty() {
                row_text.push_str(", ");
            }
            row_text.push_str(c);
            row_text.push('=');
            // One row, one line: a quoted field may hold line breaks.
            row_text.extend(
                v.chars()
                    .map(|ch| if ch == '\n' || ch == '\r' { ' ' } else { ch }),
            );
        }
        if !budget.take_row(row_text.len()) {
            truncated = true;
            break;
        }
        rows.push(Row {
            ip,
            text: row_text,
            fields: typed.read(&rec),
        });
    }
    ShadowReport {
        file: String::new(),
        report_type: String::new(),
        date: String::new(),
        columns,
        rows,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_type_and_date_come_from_the_file_name() {
        assert_eq!(
            report_type_of("2015-01-01-scan_ntp-sample-asn.csv.zip"),
            Some(("scan_ntp".into(), "2015-01-01".into()))
        );
        assert_eq!(
            report_type_of("2023-10-01-event4_sinkhole_http-example-geo_as64500.csv"),
            Some(("event4_sinkhole_http".into(), "2023-10-01".into()))
        );
        assert_eq!(report_type_of("report.csv"), None);
        assert_eq!(report_type_of("2015-01-01-scan_ntp.txt"), None);
        assert_eq!(report_type_of("2015-0x-01-scan_ntp-a.csv"), None);
    }

    #[test]
    fn csv_quoting_blank_lines_and_ip_column() {
        let r = parse_csv("\"timestamp\",\"ip\",\"tag\"\r\n\"2015-01-01 00:00:01\",\"192.0.2.7\",\"a,b \"\"x\"\"\"\r\n\r\n2015-01-01,not-an-ip,\n");
        assert_eq!(r.columns, vec!["timestamp", "ip", "tag"]);
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.rows[0].ip, Some("192.0.2.7".parse().unwrap()));
        assert!(
            r.rows[0].text.contains("tag=a,b \"x\""),
            "{}",
            r.rows[0].text
        );
        assert_eq!(r.rows[1].ip, None);
        assert!(!r.truncated);
        assert!(parse_csv("").rows.is_empty());
        assert!(parse_csv("\"unterminated").rows.is_empty());
    }

    #[test]
    fn a_zip_bomb_stops_at_the_limit() {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file("x.csv", opts).unwrap();
            let zeros = vec![b'0'; 1 << 20];
            for _ in 0..10 {
                w.write_all(&zeros).unwrap();
            }
            w.finish().unwrap();
        }
        let limit = 8 << 20;
        let (data, truncated) = unzip_csv(buf.get_ref(), limit).unwrap();
        assert!(truncated);
        assert_eq!(data.len() as u64, limit);
        assert_eq!(unzip_csv(b"PK\x03\x04 not a zip", limit), None);
    }
}
