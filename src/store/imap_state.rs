//! Per IMAP folder: the UIDVALIDITY seen last and the highest UID below
//! which every message was stored and let go of. Kept in a tree of its own,
//! outside the commit transactions: it is only a hint (losing it means a
//! rescan whose messages de-duplication absorbs), written by the IMAP tasks
//! beside the single writer of tickets.

use super::{decode, encode, Result, Store};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImapState {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

impl Store {
    /// `key` names the account and folder (e.g. `cert/INBOX`).
    pub fn imap_state(&self, key: &str) -> Result<Option<ImapState>> {
        match self.imap_state.get(key.as_bytes())? {
            Some(v) => Ok(Some(decode(&v, "imap_state")?)),
            None => Ok(None),
        }
    }

    /// Not flushed here: the next group commit makes it durable, and a
    /// crash before that only costs a rescan.
    pub fn set_imap_state(&self, key: &str, state: ImapState) -> Result<()> {
        self.imap_state.insert(key.as_bytes(), encode(&state))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        {
            let store = Store::open(&path, 8).unwrap();
            assert_eq!(store.imap_state("cert/INBOX").unwrap(), None);
            let s = ImapState {
                uidvalidity: 7,
                last_uid: 42,
            };
            store.set_imap_state("cert/INBOX", s).unwrap();
            store.flush().unwrap();
        }
        // sled's threads may hold the file lock for a moment after the
        // drop (seen once under load average 19): wait for it, bounded.
        let mut tries = 0;
        let store = loop {
            match Store::open(&path, 8) {
                Err(crate::store::StoreError::Locked { .. }) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other.unwrap(),
            }
        };
        assert_eq!(
            store.imap_state("cert/INBOX").unwrap(),
            Some(ImapState {
                uidvalidity: 7,
                last_uid: 42
            })
        );
        assert_eq!(store.imap_state("abuse/INBOX").unwrap(), None);
    }
}
