//! Bulk loading for the benchmark: a million generated tickets written
//! through sled batches instead of one transaction each. Not for intake,
//! which must commit each message with its ticket atomically.

use super::keys::*;
use super::*;
use crate::analysis::indicators::Indicator;

impl Store {
    /// Writes tickets (one batch) and their correlation index entries (one
    /// run, merged with the others as a merge step would); the year's
    /// ticket counter follows the highest ID.
    pub fn bulk_load_tickets(&self, tickets: &[(TicketRecord, Vec<Indicator>)]) -> Result<()> {
        let mut t = sled::Batch::default();
        let mut entries = Vec::new();
        let mut top: std::collections::BTreeMap<u16, u32> = Default::default();
        for (ticket, indicators) in tickets {
            t.insert(&ticket.id.to_key(), encode(ticket));
            let seq = top.entry(ticket.id.year).or_default();
            *seq = (*seq).max(ticket.id.seq);
            for (tree, key) in indicators.iter().filter_map(|i| index::entry(i, ticket.id)) {
                entries.push((runs::tree_byte(tree), key));
            }
        }
        self.trees()[T_TICKETS].apply_batch(t)?;
        self.write_index_run(entries)?;
        for (year, seq) in top {
            let key = ticket_counter_key(year);
            let last = read_u64(self.trees()[T_COUNTERS].get(&key)?.as_deref());
            if u64::from(seq) > last {
                self.trees()[T_COUNTERS].insert(key, &u64::from(seq).to_be_bytes())?;
            }
        }
        Ok(())
    }
}
