//! Machine-report rows, one compact record per report and ticket: a small
//! JSON header (type, day, files, columns, row count) and the rows' text,
//! one per line, deflated. Rows used to be events of their own, one sled
//! entry each: a 250,000-row report wrote 250,000 entries in one
//! transaction (about 5.6 KiB of memory per row while it committed) and
//! every `ticket show` read them all.

use super::keys::{split_message_key, ticket_seq_key};
use super::{Result, Store, StoreError, T_REPORTS};
use crate::model::TicketId;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};

/// What a report's rows are, without the rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportHeader {
    pub report_type: String,
    pub date: String,
    /// The CSV attachments the rows come from.
    pub files: Vec<String>,
    pub columns: Vec<String>,
    pub rows: u64,
    /// Cut by the message's budget.
    pub truncated: bool,
}

/// A header and its rows as stored.
#[derive(Debug, Clone)]
pub struct StoredReport {
    /// The store sequence number of the message the rows came in.
    pub message: u64,
    pub header: ReportHeader,
    packed: Vec<u8>,
}

/// One report's record: header length, header, deflated rows.
pub fn encode_report<'a>(header: &ReportHeader, rows: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let head = super::encode(header);
    let mut out = Vec::with_capacity(head.len() + 4);
    out.extend_from_slice(&(head.len() as u32).to_be_bytes());
    out.extend_from_slice(&head);
    // Fast compression: the rows of a big report are written once, in the
    // sequential commit, and read back a page at a time.
    let mut z = DeflateEncoder::new(out, flate2::Compression::fast());
    for r in rows {
        // Writing into memory cannot fail.
        let _ = z.write_all(r.as_bytes());
        let _ = z.write_all(b"\n");
    }
    z.finish().unwrap_or_default()
}

fn decode_report(message: u64, bytes: &[u8]) -> Result<StoredReport> {
    let corrupt = |detail: &str| StoreError::Corrupt {
        what: format!("report_rows/{message}"),
        detail: detail.to_string(),
    };
    let len = bytes
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| corrupt("shorter than its header length"))? as usize;
    let head = bytes
        .get(4..4 + len)
        .ok_or_else(|| corrupt("shorter than its header"))?;
    Ok(StoredReport {
        message,
        header: super::decode(head, "report header")?,
        packed: bytes[4 + len..].to_vec(),
    })
}

impl StoredReport {
    /// Rows `skip..skip + take`, read without unpacking the rest.
    pub fn rows(&self, skip: usize, take: usize) -> Result<Vec<String>> {
        let reader = BufReader::new(DeflateDecoder::new(self.packed.as_slice()));
        let mut out = Vec::with_capacity(take.min(self.header.rows as usize));
        for line in reader.split(b'\n').skip(skip).take(take) {
            let line = line.map_err(|e| StoreError::Corrupt {
                what: format!("report_rows/{}", self.message),
                detail: e.to_string(),
            })?;
            out.push(String::from_utf8_lossy(&line).into_owned());
        }
        Ok(out)
    }
}

impl Store {
    /// The machine reports of a ticket, in the order they came.
    pub fn reports(&self, id: TicketId) -> Result<Vec<StoredReport>> {
        let mut out = Vec::new();
        for item in self.trees()[T_REPORTS].scan_prefix(id.to_key()) {
            let (k, v) = item?;
            let Some((_, seq)) = split_message_key(&k) else {
                continue;
            };
            out.push(decode_report(seq, &v)?);
        }
        Ok(out)
    }

    /// Rows `skip..skip + take` over all of a ticket's reports, and how
    /// many rows they hold together.
    pub fn report_rows(
        &self,
        id: TicketId,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<String>, u64)> {
        let reports = self.reports(id)?;
        let total = reports.iter().map(|r| r.header.rows).sum();
        Ok((page(&reports, skip, take)?, total))
    }
}

/// The rows of a page that spans several reports, unpacking only those
/// the page touches.
fn page(reports: &[StoredReport], mut skip: usize, mut take: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for r in reports {
        if take == 0 {
            break;
        }
        let n = r.header.rows as usize;
        if skip >= n {
            skip -= n;
            continue;
        }
        let rows = r.rows(skip, take)?;
        take -= rows.len();
        skip = 0;
        out.extend(rows);
    }
    Ok(out)
}

/// The key of a report record: its ticket and the message it came in.
pub(crate) fn report_key(ticket: TicketId, message: u64) -> [u8; 14] {
    ticket_seq_key(ticket, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(rows: u64) -> ReportHeader {
        ReportHeader {
            report_type: "scan_ntp".into(),
            date: "2026-11-16".into(),
            files: vec!["a.csv".into()],
            columns: vec!["ip".into()],
            rows,
            truncated: false,
        }
    }

    #[test]
    fn a_record_round_trips_and_pages_across_reports() {
        let a: Vec<String> = (0..1000)
            .map(|i| format!("ip=192.0.2.{}", i % 250))
            .collect();
        let bytes = encode_report(&header(1000), a.iter().map(String::as_str));
        assert!(bytes.len() < 4000, "deflated: {}", bytes.len());
        let r1 = decode_report(7, &bytes).unwrap();
        assert_eq!(r1.header, header(1000));
        assert_eq!(r1.rows(998, 10).unwrap(), a[998..].to_vec());
        let r2 = decode_report(9, &encode_report(&header(2), ["x=1", "x=2"].into_iter())).unwrap();
        let both = [r1, r2];
        assert_eq!(
            page(&both, 999, 3).unwrap(),
            vec![a[999].clone(), "x=1".into(), "x=2".into()]
        );
        assert_eq!(page(&both, 1000, 5).unwrap(), vec!["x=1", "x=2"]);
        assert!(page(&both, 5000, 5).unwrap().is_empty());
        assert!(decode_report(1, b"\0\0\0\x09{}").is_err());
    }
}
