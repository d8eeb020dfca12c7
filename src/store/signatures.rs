//! Handler signatures already used: one meta record per signature, so
//! that a signed mail re-sent by someone else is recognised (issue 12).
//! Written in the commit of the mail that used it, read under the same
//! writer lock, so two copies in one batch are caught too.

use super::{Result, Store, T_META};

const PREFIX: &[u8] = b"handler-sig/";

/// The meta record that marks `signature_id` as used, for a commit.
pub fn used_record(signature_id: &str, what: &str) -> (Vec<u8>, Vec<u8>) {
    let mut key = PREFIX.to_vec();
    key.extend_from_slice(signature_id.as_bytes());
    (key, what.as_bytes().to_vec())
}

impl Store {
    /// Where and when the first of `signature_ids` was used, if any was.
    pub fn signature_used(&self, signature_ids: &[String]) -> Result<Option<String>> {
        for id in signature_ids {
            let (key, _) = used_record(id, "");
            if let Some(v) = self.trees[T_META].get(key)? {
                return Ok(Some(String::from_utf8_lossy(&v).into_owned()));
            }
        }
        Ok(None)
    }
}
