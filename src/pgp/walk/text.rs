//! Text parts as the walk sees them: indicators of keys in the text, and
//! inline OpenPGP blocks (cleartext-signed, signed, encrypted, or signed
//! inside encrypted), with how much of the part each one covers.

use super::{Cover, Covered, Walk};
use crate::pgp::check::{OpenError, SigOutcome};
use crate::pgp::found;
use crate::pgp::inline::{self, BlockKind};
use crate::pgp::mime::{self, Field};

impl Walk<'_> {
    pub(super) fn eval_text(
        &mut self,
        fields: &[Field],
        body: &[u8],
        html: bool,
        depth: usize,
    ) -> Cover {
        let decoded = mime::decode(body, fields);
        if self.quiet == 0 {
            found::from_text(&decoded, &mut self.found);
        }
        if found::find(&decoded, b"-----BEGIN PGP").is_none() {
            return Cover::None;
        }
        let text = if html {
            inline::html_to_text(&decoded)
        } else {
            decoded.into_owned()
        };
        let blocks = inline::blocks(&text);
        if blocks.is_empty() {
            return Cover::None;
        }
        let alone = inline::only_blocks(&text, &blocks);
        let mut complete = alone && blocks.len() == 1 && !html;
        if html {
            self.note("inline OpenPGP in HTML: what HTML shows is never fully covered");
        }
        let mut outcomes = Vec::new();
        let mut covered = None;
        for b in &blocks {
            let bytes = text.get(b.start..b.end).unwrap_or_default();
            if !self.budget() {
                complete = false;
                continue;
            }
            match b.kind {
                BlockKind::Cleartext => {
                    let (sigs, signed) = self.checker.cleartext(bytes);
                    outcomes.extend(sigs);
                    covered = Some(Covered::Text(signed));
                }
                BlockKind::Message => {
                    let (sigs, signed) = self.open_inline(bytes, alone, depth);
                    if sigs.is_empty() {
                        complete = false;
                    }
                    outcomes.extend(sigs);
                    covered = signed.map(Covered::Text);
                }
            }
        }
        if outcomes.is_empty() {
            Cover::None
        } else if complete {
            Cover::Full(outcomes, covered)
        } else {
            Cover::Partial(outcomes)
        }
    }

    /// An inline `PGP MESSAGE` block: encrypted, signed, or both. Returns
    /// the outcomes and the text the signatures cover.
    fn open_inline(
        &mut self,
        block: &[u8],
        alone: bool,
        depth: usize,
    ) -> (Vec<SigOutcome>, Option<Vec<u8>>) {
        match self.checker.open(&inline::dearmor(block)) {
            Ok(op) => {
                if op.encrypted && self.quiet == 0 {
                    self.decrypted = true;
                    if !alone {
                        self.partly_encrypted = true;
                    }
                    if self.plaintext.is_none() {
                        self.plaintext = Some(op.plaintext.clone());
                    }
                }
                if !op.sigs.is_empty() || !op.encrypted || depth >= self.limits.max_depth {
                    return (op.sigs, Some(op.plaintext));
                }
                // Sign-then-encrypt the inline way: a cleartext signed
                // block inside the encrypted text.
                let blocks = inline::blocks(&op.plaintext);
                match blocks.as_slice() {
                    [b] if b.kind == BlockKind::Cleartext
                        && inline::only_blocks(&op.plaintext, &blocks)
                        && self.budget() =>
                    {
                        let bytes = op.plaintext.get(b.start..b.end).unwrap_or_default();
                        let (sigs, signed) = self.checker.cleartext(bytes);
                        (sigs, Some(signed))
                    }
                    _ => (Vec::new(), None),
                }
            }
            Err(OpenError::NoKey(reason)) => {
                self.note(
                    "encrypted content could not be decrypted, so any signature inside is unknown",
                );
                self.fail_decrypt(reason);
                (Vec::new(), None)
            }
            Err(OpenError::TooLarge { limit, decrypted }) => {
                if decrypted {
                    self.fail_decrypt(format!("more than {limit} bytes once decrypted"));
                } else {
                    // Compressed, not encrypted: nothing failed to decrypt.
                    self.note(format!(
                        "an OpenPGP block unpacks to more than the {limit} bytes left of the message's budget; not examined further"
                    ));
                }
                (Vec::new(), None)
            }
            Err(OpenError::Malformed(e)) => {
                self.fail_decrypt(format!("malformed OpenPGP message: {e}"));
                let o = SigOutcome::error(format!("malformed inline OpenPGP message: {e}"));
                (vec![o], None)
            }
        }
    }
}
