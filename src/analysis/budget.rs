//! Per-message budgets. Limits per part let a message multiply its cost by
//! its number of parts (three zipped CSVs, eight compressed OpenPGP
//! blocks); one budget for the whole message, shared by every step that
//! unpacks, parses or checks, bounds the message instead. Exceeding one
//! stops that kind of work where it stands; the message is still stored
//! whole, flagged `over-budget`, and the handlers are told which budget.

use crate::config::LimitsConfig;
use std::cell::Cell;

/// Defaults sized so that one message fits one core and 512 MiB with room
/// for the rest of the daemon: the unpacked data, the rows made of it and
/// their encoding for the store each hold at most about this much at once.
pub fn default_decompressed() -> u64 {
    64 * 1024 * 1024
}
/// The largest real Shadowserver reports a national team gets are around
/// 100,000 rows; this leaves room and still bounds the work.
pub fn default_csv_rows() -> u64 {
    250_000
}
pub fn default_indicators() -> u64 {
    250_000
}
pub fn default_verifications() -> usize {
    8
}

/// `[limits]` budget keys that make no sense, with the key to name.
pub fn check_config(l: &LimitsConfig) -> Result<(), (&'static str, String)> {
    if l.max_decompressed_bytes < 1024 {
        return Err((
            "limits.max_decompressed_bytes",
            "must be at least 1024 bytes".into(),
        ));
    }
    if l.max_csv_rows == 0 {
        return Err(("limits.max_csv_rows", "must be at least 1".into()));
    }
    if l.max_indicators == 0 {
        return Err(("limits.max_indicators", "must be at least 1".into()));
    }
    if l.max_verifications == 0 || l.max_verifications > 1000 {
        return Err((
            "limits.max_verifications",
            "must be between 1 and 1000".into(),
        ));
    }
    Ok(())
}

/// One of the per-message budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Over {
    Decompressed,
    CsvRows,
    Indicators,
    Verifications,
}

impl Over {
    const ALL: [Over; 4] = [
        Over::Decompressed,
        Over::CsvRows,
        Over::Indicators,
        Over::Verifications,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The `[limits]` key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            Over::Decompressed => "limits.max_decompressed_bytes",
            Over::CsvRows => "limits.max_csv_rows",
            Over::Indicators => "limits.max_indicators",
            Over::Verifications => "limits.max_verifications",
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            Over::Decompressed => "bytes unpacked (zip, gzip, OpenPGP compression and decryption)",
            Over::CsvRows => "machine-report (CSV) rows",
            Over::Indicators => "indicators",
            Over::Verifications => "signature checks and decryptions",
        }
    }
}

/// The numbers, from `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub decompressed: u64,
    pub csv_rows: u64,
    pub indicators: u64,
    pub verifications: usize,
}

impl Limits {
    pub fn from_config(l: &LimitsConfig) -> Limits {
        Limits {
            decompressed: l.max_decompressed_bytes,
            csv_rows: l.max_csv_rows,
            indicators: l.max_indicators,
            verifications: l.max_verifications,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from_config(&LimitsConfig::default())
    }
}

/// What one message has spent. Used by one thread (the one preparing the
/// message), hence `Cell`s: every step takes `&Budget`.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    decompressed: Cell<u64>,
    rows: Cell<u64>,
    row_text: Cell<u64>,
    over: Cell<u8>,
}

impl Budget {
    pub fn new(limits: Limits) -> Budget {
        Budget {
            limits,
            decompressed: Cell::new(0),
            rows: Cell::new(0),
            row_text: Cell::new(0),
            over: Cell::new(0),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Records that a budget stopped some work.
    pub fn exceed(&self, what: Over) {
        self.over.set(self.over.get() | what.bit());
    }

    /// Bytes that may still be unpacked.
    pub fn decompressed_left(&self) -> u64 {
        self.limits
            .decompressed
            .saturating_sub(self.decompressed.get())
    }

    /// Counts `n` unpacked bytes (the caller read at most what was left).
    pub fn spend_decompressed(&self, n: u64) {
        self.decompressed
            .set(self.decompressed.get().saturating_add(n));
    }

    /// Takes one CSV row of `text_len` bytes of text. Row text is bounded
    /// by the unpacking budget too: rows built from a CSV's short fields
    /// and long column names can outgrow the CSV itself.
    pub fn take_row(&self, text_len: usize) -> bool {
        let text = self.row_text.get().saturating_add(text_len as u64);
        if self.rows.get() >= self.limits.csv_rows || text > self.limits.decompressed {
            self.exceed(Over::CsvRows);
            return false;
        }
        self.rows.set(self.rows.get() + 1);
        self.row_text.set(text);
        true
    }

    /// The budgets exceeded so far, in a fixed order.
    pub fn exceeded(&self) -> Vec<Over> {
        Over::ALL
            .into_iter()
            .filter(|o| self.over.get() & o.bit() != 0)
            .collect()
    }

    /// One line per exceeded budget, for the ticket's warning events.
    pub fn warnings(&self) -> Vec<String> {
        self.exceeded()
            .into_iter()
            .map(|o| {
                let limit = match o {
                    Over::Decompressed => self.limits.decompressed,
                    Over::CsvRows => self.limits.csv_rows,
                    Over::Indicators => self.limits.indicators,
                    Over::Verifications => self.limits.verifications as u64,
                };
                format!(
                    "over budget: more {} than {} = {limit} allows; analysis stopped there, the message is stored whole",
                    o.what(),
                    o.key()
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Limits {
        Limits {
            decompressed: 100,
            csv_rows: 2,
            indicators: 3,
            verifications: 1,
        }
    }

    #[test]
    fn rows_stop_at_the_count_or_the_text_size() {
        let b = Budget::new(small());
        assert!(b.take_row(10) && b.take_row(10));
        assert!(!b.take_row(1));
        assert_eq!(b.exceeded(), vec![Over::CsvRows]);
        let b = Budget::new(small());
        assert!(!b.take_row(101));
        assert_eq!(b.exceeded(), vec![Over::CsvRows]);
    }

    #[test]
    fn unpacking_is_shared_and_warnings_name_the_key() {
        let b = Budget::new(small());
        b.spend_decompressed(60);
        assert_eq!(b.decompressed_left(), 40);
        b.spend_decompressed(60);
        assert_eq!(b.decompressed_left(), 0);
        assert!(b.exceeded().is_empty(), "spending is not exceeding");
        b.exceed(Over::Verifications);
        b.exceed(Over::Decompressed);
        assert_eq!(b.exceeded(), vec![Over::Decompressed, Over::Verifications]);
        let w = b.warnings();
        assert!(
            w[0].contains("limits.max_decompressed_bytes = 100"),
            "{w:?}"
        );
        assert!(w[1].contains("limits.max_verifications = 1"), "{w:?}");
    }

    #[test]
    fn nonsense_limits_are_refused_with_their_key() {
        let mut l = LimitsConfig::default();
        assert!(check_config(&l).is_ok());
        l.max_verifications = 0;
        assert_eq!(check_config(&l).unwrap_err().0, "limits.max_verifications");
        l = LimitsConfig::default();
        l.max_decompressed_bytes = 10;
        assert_eq!(
            check_config(&l).unwrap_err().0,
            "limits.max_decompressed_bytes"
        );
    }
}
