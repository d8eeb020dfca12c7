//! The Sequoia side of verification: checks signatures (detached,
//! cleartext, inside an OpenPGP message), decrypts with the team key, and
//! turns each signature into a [`SigOutcome`] judged against the keyring.
//! Which outcome wins for a message is decided in `verify`.

use super::keyring::{Keyring, TeamKey};
use super::{hex_fpr, Verdict};
use openpgp::cert::prelude::*;
use openpgp::crypto::SessionKey;
use openpgp::packet::{Signature, PKESK, SKESK};
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, DetachedVerifierBuilder, GoodChecksum, MessageLayer,
    MessageStructure, VerificationError, VerificationHelper, VerifierBuilder,
};
use openpgp::parse::{PacketParser, Parse};
use openpgp::policy::Policy;
use openpgp::types::{RevocationStatus, SymmetricAlgorithm};
use openpgp::{Cert, KeyHandle, Packet};
use sequoia_openpgp as openpgp;
use std::io::Read;
use std::time::SystemTime;

/// How one signature fared. `Valid` means: the signature checks out over
/// the data, and its key is in the keyring, bound, alive and unrevoked
/// both when it signed and now. Whether the key's user IDs fit the From
/// header is decided later, with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigKind {
    Valid,
    Bad,
    UnknownKey,
    Expired,
    Revoked,
    Error,
}

#[derive(Debug, Clone)]
pub(crate) struct SigOutcome {
    pub kind: SigKind,
    pub fingerprint: Option<String>,
    pub uids: Vec<String>,
    /// Lower-case emails of the valid, unrevoked user IDs.
    pub emails: Vec<String>,
    pub detail: String,
    /// SHA-256 of the signature packet as serialised, for valid
    /// signatures: what identifies one use of a signature (replay).
    pub digest: Option<[u8; 32]>,
    /// The creation time the signer put into the signature.
    pub created: Option<SystemTime>,
}

impl SigOutcome {
    pub fn error(detail: impl Into<String>) -> Self {
        SigOutcome {
            kind: SigKind::Error,
            fingerprint: None,
            uids: Vec::new(),
            emails: Vec::new(),
            detail: detail.into(),
            digest: None,
            created: None,
        }
    }

    pub fn verdict(&self) -> Verdict {
        match self.kind {
            SigKind::Valid => Verdict::Good,
            SigKind::Bad => Verdict::Bad,
            SigKind::UnknownKey => Verdict::UnknownKey,
            SigKind::Expired => Verdict::ExpiredKey,
            SigKind::Revoked => Verdict::RevokedKey,
            SigKind::Error => Verdict::Error,
        }
    }
}

/// The outcome of opening an OpenPGP message (inline or PGP/MIME).
#[derive(Debug)]
pub(crate) struct Opened {
    pub plaintext: Vec<u8>,
    pub encrypted: bool,
    /// Empty when the message carries no signature.
    pub sigs: Vec<SigOutcome>,
}

#[derive(Debug)]
pub(crate) enum OpenError {
    /// Encrypted, and none of our keys opens it.
    NoKey(String),
    /// Larger than the limit once decrypted (or decompressed); whether it
    /// was encrypted (and decrypted) before the limit stopped it.
    TooLarge { limit: usize, decrypted: bool },
    /// Not a well-formed OpenPGP message.
    Malformed(String),
}

pub(crate) struct Checker<'a> {
    pub keyring: &'a Keyring,
    pub team: Option<&'a TeamKey>,
    pub policy: &'a dyn Policy,
    pub now: SystemTime,
    /// Signature (and one-pass signature) packets looked at per message.
    pub max_sigs: usize,
    /// Plaintext produced at most by all the openings of one message
    /// together (the message's unpacking budget, see `analysis/budget.rs`).
    pub max_plaintext: usize,
    /// Plaintext produced so far by this checker's openings.
    pub spent: std::cell::Cell<usize>,
    /// An opening stopped at `max_plaintext`.
    pub over: std::cell::Cell<bool>,
    /// PKESK packets tried per message; each try costs a private-key operation.
    pub max_pkesks: usize,
}

impl Checker<'_> {
    /// Verifies a detached signature over `data`.
    pub fn detached(&self, data: &[u8], sig: &[u8]) -> Vec<SigOutcome> {
        let res = DetachedVerifierBuilder::from_bytes(sig).and_then(|b| {
            let mut v =
                b.with_policy(self.policy, Some(self.now), self.helper(Shared::default()))?;
            v.verify_bytes(data)?;
            Ok(v.into_helper())
        });
        finish(res)
    }

    /// Verifies a cleartext signed block (`-----BEGIN PGP SIGNED
    /// MESSAGE-----` through the signature's END line). Returns the
    /// outcomes and the signed text as the verifier read it (dash-escaping
    /// undone): the only text such a signature vouches for.
    pub fn cleartext(&self, block: &[u8]) -> (Vec<SigOutcome>, Vec<u8>) {
        let limit = self.left();
        let res = VerifierBuilder::from_bytes(block).and_then(|b| {
            let mut v = b.buffer_size(buffer_for(limit)).with_policy(
                self.policy,
                Some(self.now),
                self.helper(Shared::default()),
            )?;
            let text = drain(&mut v, limit)?;
            Ok((v.into_helper(), text))
        });
        match res {
            Ok((helper, text)) => {
                self.spend(text.len());
                (finish(Ok(helper)), text)
            }
            Err(e) => {
                self.stopped(&e);
                (finish(Err(e)), Vec::new())
            }
        }
    }

    /// Plaintext the message may still produce.
    fn left(&self) -> usize {
        self.max_plaintext.saturating_sub(self.spent.get())
    }

    fn spend(&self, n: usize) {
        self.spent.set(self.spent.get().saturating_add(n));
    }

    /// Whether `e` is the budget running out; if so, it has.
    fn stopped(&self, e: &anyhow::Error) -> bool {
        let over = e.downcast_ref::<TooLarge>().is_some();
        if over {
            self.over.set(true);
            self.spent.set(self.max_plaintext);
        }
        over
    }

    /// Decrypts (when encrypted) and verifies (when signed) an OpenPGP
    /// message given as binary packets.
    pub fn open(&self, message: &[u8]) -> Result<Opened, OpenError> {
        let limit = self.left();
        let shared = Shared::default();
        let res = DecryptorBuilder::from_bytes(message).and_then(|b| {
            let mut d = b.buffer_size(buffer_for(limit)).with_policy(
                self.policy,
                Some(self.now),
                self.helper(shared.clone()),
            )?;
            let plaintext = drain(&mut d, limit)?;
            Ok((plaintext, d.into_helper()))
        });
        match res {
            Ok((plaintext, helper)) => {
                self.spend(plaintext.len());
                Ok(Opened {
                    plaintext,
                    encrypted: helper.encrypted,
                    sigs: helper.outcomes,
                })
            }
            Err(e) => {
                if let Some(reason) = shared.no_key.lock().ok().and_then(|mut g| g.take()) {
                    return Err(OpenError::NoKey(reason));
                }
                if self.stopped(&e) {
                    let decrypted = shared.decrypted.load(std::sync::atomic::Ordering::Relaxed);
                    return Err(OpenError::TooLarge { limit, decrypted });
                }
                Err(OpenError::Malformed(format!("{e:#}")))
            }
        }
    }

    fn helper(&self, shared: Shared) -> Helper<'_> {
        Helper {
            keyring: self.keyring,
            team: self.team,
            policy: self.policy,
            now: self.now,
            max_sigs: self.max_sigs,
            max_pkesks: self.max_pkesks,
            sig_packets: 0,
            outcomes: Vec::new(),
            encrypted: false,
            shared,
        }
    }
}

/// Records why decryption failed while Sequoia owns the helper, so that
/// the reason survives the error return.
#[derive(Default, Clone)]
struct Shared {
    no_key: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    /// A session key opened the message (known before its end is read).
    decrypted: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Shared {
    fn set(&self, reason: String) {
        if let Ok(mut g) = self.no_key.lock() {
            *g = Some(reason);
        }
    }
}

#[derive(Debug)]
struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("plaintext larger than the limit")
    }
}

impl std::error::Error for TooLarge {}

/// Sequoia reads ahead up to 25 MiB of plaintext (by default) before it
/// hands out the first byte, so that it can judge the signatures of a
/// small message first, and every layer below buffers as much. We read a
/// message whole before looking at its signatures anyway, so a small
/// read-ahead costs nothing; without it every opening, even one with no
/// budget left, unpacked 25 MiB first, several times over.
fn buffer_for(limit: usize) -> usize {
    limit.saturating_add(1).min(READ_AHEAD)
}

const READ_AHEAD: usize = 1 << 20;

fn drain(r: &mut impl Read, limit: usize) -> openpgp::Result<Vec<u8>> {
    // Small reads on purpose: Sequoia's readers buffer what a read asks
    // for at every layer (decryption, decompression, literal data), and
    // read_to_end asks for ever larger reads into its spare capacity; a
    // 64 MiB plaintext then sat in memory several times over.
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if out.len() + n > limit {
            return Err(TooLarge.into());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

fn finish(res: openpgp::Result<Helper<'_>>) -> Vec<SigOutcome> {
    match res {
        Ok(helper) if helper.outcomes.is_empty() => vec![SigOutcome::error("no signature found")],
        Ok(helper) => helper.outcomes,
        Err(e) => vec![SigOutcome::error(format!(
            "malformed signature data: {e:#}"
        ))],
    }
}

struct Helper<'a> {
    keyring: &'a Keyring,
    team: Option<&'a TeamKey>,
    policy: &'a dyn Policy,
    now: SystemTime,
    max_sigs: usize,
    max_pkesks: usize,
    sig_packets: usize,
    outcomes: Vec<SigOutcome>,
    encrypted: bool,
    shared: Shared,
}

impl VerificationHelper for Helper<'_> {
    fn inspect(&mut self, pp: &PacketParser) -> openpgp::Result<()> {
        if matches!(pp.packet, Packet::Signature(_) | Packet::OnePassSig(_)) {
            self.sig_packets += 1;
            if self.sig_packets > self.max_sigs {
                return Err(anyhow::anyhow!(
                    "more than {} signature packets",
                    self.max_sigs
                ));
            }
        }
        Ok(())
    }

    fn get_certs(&mut self, ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(self.keyring.lookup_all(ids))
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        for layer in structure {
            match layer {
                MessageLayer::Encryption { .. } => self.encrypted = true,
                MessageLayer::Compression { .. } => {}
                MessageLayer::SignatureGroup { results } => {
                    for r in results {
                        let o = match r {
                            Ok(good) => self.judge_good(good),
                            Err(e) => self.judge_error(e),
                        };
                        self.outcomes.push(o);
                    }
                }
            }
        }
        Ok(())
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        let recipients: Vec<String> = pkesks
            .iter()
            .map(|p| match p.recipient() {
                Some(h) => h.to_hex(),
                None => "anonymous recipient".into(),
            })
            .collect();
        let Some(team) = self.team else {
            let why = "no team secret key is configured".to_string();
            self.shared.set(why.clone());
            return Err(anyhow::anyhow!(why));
        };
        for pkesk in pkesks.iter().take(self.max_pkesks) {
            let wanted = pkesk.recipient();
            for (cert, key) in team.secrets() {
                if let Some(w) = &wanted {
                    if !w.aliases(KeyHandle::from(key.fingerprint())) {
                        continue;
                    }
                }
                let Ok(mut pair) = key.clone().into_keypair() else {
                    continue;
                };
                if let Some((algo, sk)) = pkesk.decrypt(&mut pair, sym_algo) {
                    if decrypt(algo, &sk) {
                        self.shared
                            .decrypted
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                        return Ok(Some(cert.clone()));
                    }
                }
            }
        }
        let why = if pkesks.is_empty() && !skesks.is_empty() {
            "encrypted with a password only".to_string()
        } else {
            format!(
                "no secret key for any recipient ({})",
                recipients.join(", ")
            )
        };
        self.shared.set(why.clone());
        Err(anyhow::anyhow!(why))
    }
}

impl Helper<'_> {
    fn judge_good(&self, good: GoodChecksum<'_>) -> SigOutcome {
        let cert = good.ka.cert();
        let key_fpr = good.ka.key().fingerprint();
        let mut o = self.signer(cert);
        // Sequoia judged the key at the signature's creation time, which
        // the signer chooses. A key revoked or expired since then could be
        // signing backdated mail, so it must still be good now, too.
        match cert.with_policy(self.policy, self.now) {
            Err(e) => {
                o.kind = SigKind::Expired;
                o.detail = format!("certificate {} is not valid now: {e:#}", cert.fingerprint());
            }
            Ok(vc) => {
                let key_now = vc.keys().key_handle(key_fpr.clone()).next();
                if let RevocationStatus::Revoked(_) = vc.revocation_status() {
                    o.kind = SigKind::Revoked;
                    o.detail = format!("certificate {} is revoked", cert.fingerprint());
                } else if key_now
                    .as_ref()
                    .is_some_and(|k| matches!(k.revocation_status(), RevocationStatus::Revoked(_)))
                {
                    o.kind = SigKind::Revoked;
                    o.detail = format!("signing key {key_fpr} is revoked");
                } else if let Err(e) = vc.alive() {
                    o.kind = SigKind::Expired;
                    o.detail = format!("certificate {} has expired: {e:#}", cert.fingerprint());
                } else if let Some(Err(e)) = key_now.as_ref().map(|k| k.alive()) {
                    o.kind = SigKind::Expired;
                    o.detail = format!("signing key {key_fpr} has expired: {e:#}");
                } else if key_now.is_none() {
                    o.kind = SigKind::Expired;
                    o.detail =
                        format!("signing key {key_fpr} is no longer bound to its certificate");
                } else {
                    o.kind = SigKind::Valid;
                    o.detail = format!(
                        "valid signature by {}{}",
                        cert.fingerprint(),
                        created(good.sig)
                    );
                    o.digest = packet_digest(good.sig, &key_fpr);
                    o.created = good.sig.signature_creation_time();
                }
            }
        }
        o
    }

    fn judge_error(&self, e: VerificationError<'_>) -> SigOutcome {
        match e {
            VerificationError::MissingKey { sig } => {
                let issuers: Vec<String> = sig.get_issuers().iter().map(|h| h.to_hex()).collect();
                SigOutcome {
                    kind: SigKind::UnknownKey,
                    fingerprint: None,
                    uids: Vec::new(),
                    emails: Vec::new(),
                    digest: None,
                    created: None,
                    detail: if issuers.is_empty() {
                        "signature names no issuer".into()
                    } else {
                        format!(
                            "no certificate in the keyring for issuer {}",
                            issuers.join(", ")
                        )
                    },
                }
            }
            VerificationError::UnboundKey { sig, cert, error } => {
                let mut o = self.signer(cert);
                if self.revoked(cert) {
                    o.kind = SigKind::Revoked;
                    o.detail = format!("certificate {} is revoked", cert.fingerprint());
                } else {
                    o.kind = SigKind::Bad;
                    o.detail = format!(
                        "signing key of {} was not valid when the signature was made{}: {error:#}",
                        cert.fingerprint(),
                        created(sig)
                    );
                }
                o
            }
            VerificationError::BadKey { sig, ka, error } => {
                let cert = ka.cert();
                let mut o = self.signer(cert);
                let key_revoked = matches!(ka.revocation_status(), RevocationStatus::Revoked(_));
                if self.revoked(cert) || key_revoked {
                    o.kind = SigKind::Revoked;
                    o.detail = format!("signing key of {} is revoked", cert.fingerprint());
                } else if ka.alive().is_err() || ka.valid_cert().alive().is_err() {
                    o.kind = SigKind::Expired;
                    o.detail = format!(
                        "signing key of {} had expired when it signed{}: {error:#}",
                        cert.fingerprint(),
                        created(sig)
                    );
                } else {
                    o.kind = SigKind::Bad;
                    o.detail = format!("unusable signing key of {}: {error:#}", cert.fingerprint());
                }
                o
            }
            VerificationError::BadSignature { sig, ka, error } => {
                let mut o = self.signer(ka.cert());
                o.kind = SigKind::Bad;
                o.detail = format!(
                    "signature by {} does not verify{}: {error:#}",
                    ka.cert().fingerprint(),
                    created(sig)
                );
                o
            }
            VerificationError::MalformedSignature { error, .. } => {
                SigOutcome::error(format!("malformed signature: {error:#}"))
            }
            VerificationError::UnknownSignature { sig } => {
                SigOutcome::error(format!("unparsable signature: {}", sig.error()))
            }
            // The enum is non-exhaustive; whatever Sequoia adds is not good.
            #[allow(unreachable_patterns)]
            _ => SigOutcome::error("unrecognised verification error"),
        }
    }

    fn revoked(&self, cert: &Cert) -> bool {
        matches!(
            cert.revocation_status(self.policy, self.now),
            RevocationStatus::Revoked(_)
        )
    }

    /// The signer's identity as the keyring knows it.
    fn signer(&self, cert: &Cert) -> SigOutcome {
        let mut uids = Vec::new();
        let mut emails = Vec::new();
        match cert.with_policy(self.policy, self.now) {
            Ok(vc) => {
                for ua in vc.userids() {
                    if let RevocationStatus::Revoked(_) = ua.revocation_status() {
                        continue;
                    }
                    uids.push(String::from_utf8_lossy(ua.userid().value()).into_owned());
                    if let Ok(Some(e)) = ua.userid().email_normalized() {
                        emails.push(e);
                    }
                }
            }
            Err(_) => {
                // Shown to people, never matched against From.
                for ua in cert.userids() {
                    uids.push(String::from_utf8_lossy(ua.userid().value()).into_owned());
                }
            }
        }
        SigOutcome {
            kind: SigKind::Error,
            fingerprint: Some(hex_fpr(&cert.fingerprint())),
            uids,
            emails,
            detail: String::new(),
            digest: None,
            created: None,
        }
    }
}

/// What identifies one signature whatever its encoding: SHA-256 over the
/// issuer's fingerprint and the digest the signature was verified against
/// (the signed data and the hashed subpackets, creation time included).
/// The serialised packet would not do: its unhashed area can be changed,
/// and ECDSA signatures can be re-encoded, without breaking them.
fn packet_digest(sig: &Signature, issuer: &openpgp::Fingerprint) -> Option<[u8; 32]> {
    use openpgp::serialize::Marshal;
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(issuer.as_bytes());
    match sig.computed_digest() {
        Some(d) => h.update(d),
        // Always set once a signature verified; the packet is the fallback.
        None => {
            let mut buf = Vec::new();
            sig.serialize(&mut buf).ok()?;
            h.update(&buf);
        }
    }
    Some(h.finalize().into())
}

fn created(sig: &Signature) -> String {
    match sig.signature_creation_time() {
        Some(t) => format!(" (signed {})", super::keyring::rfc3339(t)),
        None => String::new(),
    }
}
