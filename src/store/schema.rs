//! The schema mark: which on-disk layout a store holds. A newer csirtd
//! reads older layouts, but only `csirtd migrate` raises the mark (after a
//! backup), so that reading a store, or starting a newer binary by
//! mistake, never changes what an older csirtd can open.

use super::{Result, Store, StoreError, SCHEMA_VERSION, T_MESSAGES, T_META, T_TICKETS};

const KEY: &[u8] = b"schema_version";

/// What the opener means to do with the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Commands that only read.
    Read,
    /// The daemon and every command that writes.
    Write,
    /// `csirtd migrate`.
    Migrate,
}

/// What the mark says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A store with nothing in it yet.
    Fresh,
    Version(u32),
}

/// Whether `access` may go on with a store at `found`, and whether the
/// mark is to be written now. Pure, so that the rules are tested alone.
pub fn judge(found: Found, access: Access) -> std::result::Result<bool, Refusal> {
    match (found, access) {
        (Found::Fresh, Access::Write) => Ok(true),
        (Found::Fresh, _) => Ok(false),
        (Found::Version(v), _) if v > SCHEMA_VERSION => Err(Refusal::Newer(v)),
        (Found::Version(v), Access::Write) if v < SCHEMA_VERSION => Err(Refusal::Older(v)),
        (Found::Version(_), _) => Ok(false),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Newer(u32),
    Older(u32),
}

impl Store {
    /// The schema the store is marked with (a store with tickets but no
    /// mark predates the mark: version 1).
    pub fn schema_found(&self) -> Result<Found> {
        match self.trees[T_META].get(KEY)? {
            Some(v) => {
                let bytes: [u8; 4] = v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    what: "meta/schema_version".into(),
                    detail: "not 4 bytes".into(),
                })?;
                Ok(Found::Version(u32::from_be_bytes(bytes)))
            }
            None if self.trees[T_TICKETS].is_empty() && self.trees[T_MESSAGES].is_empty() => {
                Ok(Found::Fresh)
            }
            None => Ok(Found::Version(1)),
        }
    }

    pub(super) fn check_schema(&self, path: &str, access: Access) -> Result<()> {
        let found = self.schema_found()?;
        match judge(found, access) {
            Ok(true) => self.mark_schema(),
            Ok(false) => Ok(()),
            Err(Refusal::Newer(found)) => Err(StoreError::Schema {
                path: path.to_string(),
                found,
            }),
            Err(Refusal::Older(found)) => Err(StoreError::NeedsMigration {
                path: path.to_string(),
                found,
            }),
        }
    }

    /// Marks the store with this csirtd's schema, durably.
    pub fn mark_schema(&self) -> Result<()> {
        self.trees[T_META].insert(KEY, &SCHEMA_VERSION.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Test support: marks the store as an older csirtd would have.
    #[doc(hidden)]
    pub fn force_schema(&self, version: u32) -> Result<()> {
        self.trees[T_META].insert(KEY, &version.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_writers_mark_a_fresh_store() {
        assert_eq!(judge(Found::Fresh, Access::Write), Ok(true));
        assert_eq!(judge(Found::Fresh, Access::Read), Ok(false));
        assert_eq!(judge(Found::Fresh, Access::Migrate), Ok(false));
    }

    #[test]
    fn an_older_store_is_read_and_migrated_but_not_written() {
        let old = Found::Version(SCHEMA_VERSION - 1);
        assert_eq!(judge(old, Access::Read), Ok(false));
        assert_eq!(judge(old, Access::Migrate), Ok(false));
        assert_eq!(
            judge(old, Access::Write),
            Err(Refusal::Older(SCHEMA_VERSION - 1))
        );
    }

    #[test]
    fn a_newer_store_is_refused_to_everyone() {
        let newer = Found::Version(SCHEMA_VERSION + 1);
        for a in [Access::Read, Access::Write, Access::Migrate] {
            assert_eq!(judge(newer, a), Err(Refusal::Newer(SCHEMA_VERSION + 1)));
        }
        assert_eq!(
            judge(Found::Version(SCHEMA_VERSION), Access::Write),
            Ok(false)
        );
    }
}
