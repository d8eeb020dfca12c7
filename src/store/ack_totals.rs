//! The domain and global acknowledgement histories, kept in memory and
//! derived from the per-address histories, which alone are stored.
//!
//! Every acknowledgement counts in three histories (its mailbox, its
//! domain, all senders; see `workflow::ack_rate`). Storing all three cost
//! every acknowledged message two more B-tree writes and two more reads in
//! its commit, a measurable share of intake. The domain and global counts
//! are sums of the address histories, so they are summed once per process
//! (on first use) and then kept up to date as commits succeed: after a
//! crash they are rebuilt from exactly what was committed.

use super::{Result, Store, T_ACK_RATE};
use crate::workflow::ack_rate::{AckHistory, RateKeys, GLOBAL_KEY};
use std::collections::HashMap;

/// Past this many domains the sums are rebuilt (dropping domains whose
/// acknowledgements all left the window) rather than grown.
const MAX_DOMAINS: usize = 100_000;

#[derive(Default)]
pub(crate) struct AckTotals {
    domains: HashMap<String, AckHistory>,
    global: AckHistory,
}

/// A history kept here, not in the store.
pub(super) fn is_total_key(key: &str) -> bool {
    key == GLOBAL_KEY || key.starts_with('@')
}

/// Writes a commit's rate histories inside its transaction: all but the
/// totals, which [`Store::settle_ack_totals`] takes once it succeeded.
pub(crate) fn write_tx(
    t: &[sled::transaction::TransactionalTree],
    rates: &[(String, AckHistory)],
) -> super::commit::TxResult<()> {
    for (key, history) in rates.iter().filter(|(k, _)| !is_total_key(k)) {
        t[T_ACK_RATE].insert(key.as_bytes(), history.encode())?;
    }
    Ok(())
}

/// A mailbox's own history (not a total, not a notification contact's).
fn is_address_key(key: &str) -> bool {
    !is_total_key(key) && !key.starts_with("notify:")
}

impl Store {
    /// The domain (`@…`) or global history, summed from the stored
    /// mailbox histories on first use.
    pub(super) fn ack_total(&self, key: &str, now: i64, window_secs: u64) -> Result<AckHistory> {
        let mut totals = self.ack_totals.lock().unwrap_or_else(|p| p.into_inner());
        if totals.is_none() {
            *totals = Some(self.sum_ack_histories(now, window_secs)?);
        }
        let Some(totals) = totals.as_ref() else {
            return Ok(AckHistory::default());
        };
        Ok(if key == GLOBAL_KEY {
            totals.global.clone()
        } else {
            totals.domains.get(key).cloned().unwrap_or_default()
        })
    }

    /// Takes the totals a successful commit wrote (replacing them whole,
    /// as the stored histories are).
    pub(super) fn settle_ack_totals(&self, rates: &[(String, AckHistory)]) {
        let mut guard = self.ack_totals.lock().unwrap_or_else(|p| p.into_inner());
        let Some(totals) = guard.as_mut() else {
            // Not summed yet: the sum, when made, reads the committed
            // mailbox histories and so includes these.
            return;
        };
        for (key, history) in rates.iter().filter(|(k, _)| is_total_key(k)) {
            if key == GLOBAL_KEY {
                totals.global = history.clone();
            } else {
                totals.domains.insert(key.clone(), history.clone());
            }
        }
        if totals.domains.len() > MAX_DOMAINS {
            *guard = None;
        }
    }

    fn sum_ack_histories(&self, now: i64, window_secs: u64) -> Result<AckTotals> {
        let mut totals = AckTotals::default();
        for item in self.trees[T_ACK_RATE].iter() {
            let (key, value) = item?;
            let Ok(key) = std::str::from_utf8(&key) else {
                continue;
            };
            if !is_address_key(key) {
                continue;
            }
            // An unreadable record counts as nothing, as it would if read
            // alone for its own limit (where it is an error instead).
            let Some(history) = AckHistory::decode(&value, window_secs) else {
                continue;
            };
            let history = history.within(now, window_secs);
            if history.count() == 0 {
                continue;
            }
            totals.global.merge(&history);
            totals
                .domains
                .entry(RateKeys::of(key).domain)
                .or_default()
                .merge(&history);
        }
        Ok(totals)
    }
}
