//! The keyring (a directory of public certificates, the only keys a
//! verdict ever trusts) and the team's secret key.

use super::{hex_fpr, PgpError};
use openpgp::cert::prelude::*;
use openpgp::crypto::Password;
use openpgp::packet::key::{SecretParts, UnspecifiedRole};
use openpgp::packet::Key;
use openpgp::parse::Parse;
use openpgp::policy::{Policy, StandardPolicy};
use openpgp::serialize::SerializeInto;
use openpgp::types::RevocationStatus;
use openpgp::{Cert, Fingerprint, KeyHandle, KeyID};
use sequoia_openpgp as openpgp;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A certificate file larger than this is not a certificate anyone meant
/// to put in a keyring; reading it whole would only cost memory.
const MAX_CERT_FILE: u64 = 16 * 1024 * 1024;
const EXTENSIONS: &[&str] = &["asc", "pgp", "gpg"];

#[derive(Debug, Default, Clone)]
pub struct Keyring {
    dir: Option<PathBuf>,
    certs: BTreeMap<Fingerprint, Cert>,
    /// Key ID of every primary key and subkey -> primary fingerprints.
    by_keyid: HashMap<KeyID, Vec<Fingerprint>>,
    warnings: Vec<String>,
}

/// One certificate as `csirtd keys list --json` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub fingerprint: String,
    pub user_ids: Vec<String>,
    /// RFC 3339, or `None` when the certificate does not expire.
    pub expires: Option<String>,
    pub expired: bool,
    pub revoked: bool,
    /// Why the certificate is unusable under the standard policy (no
    /// valid self-signature, weak algorithms), when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
}

impl Keyring {
    /// An empty keyring: every signature is then `unknown-key`.
    pub fn empty() -> Self {
        Keyring::default()
    }

    /// Loads every `*.asc`, `*.pgp` and `*.gpg` file of `dir`. A file that
    /// cannot be read or holds no certificate is skipped with a warning
    /// (logged, and kept in [`Keyring::warnings`]); only a missing or
    /// unreadable directory is an error.
    pub fn load(dir: &Path) -> Result<Self, PgpError> {
        let mut ring = Keyring {
            dir: Some(dir.to_path_buf()),
            ..Keyring::default()
        };
        let entries = std::fs::read_dir(dir).map_err(|e| PgpError::io(dir, e))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
            })
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for path in files {
            match read_certs(&path) {
                Ok((certs, errors)) => {
                    for e in errors {
                        ring.warn(format!("{}: skipped a certificate: {e}", path.display()));
                    }
                    for c in certs {
                        ring.insert(c);
                    }
                }
                Err(e) => ring.warn(format!("skipped {e}")),
            }
        }
        Ok(ring)
    }

    /// A keyring from certificates in memory (tests, benchmarks).
    pub fn from_certs(certs: impl IntoIterator<Item = Cert>) -> Self {
        let mut ring = Keyring::default();
        for c in certs {
            ring.insert(c);
        }
        ring
    }

    fn warn(&mut self, msg: String) {
        tracing::warn!("keyring: {msg}");
        self.warnings.push(msg);
    }

    /// What was skipped while loading.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    fn insert(&mut self, cert: Cert) {
        // A keyring is public: secret material that came along (someone
        // dropped a TSK into the directory) is not kept in memory.
        let cert = cert.strip_secret_key_material();
        let fpr = cert.fingerprint();
        let merged = match self.certs.remove(&fpr) {
            Some(old) => match old.clone().merge_public(cert) {
                Ok(m) => m,
                Err(_) => old,
            },
            None => cert,
        };
        warm(&merged);
        for k in merged.keys() {
            let ids = self.by_keyid.entry(k.key().keyid()).or_default();
            if !ids.contains(&fpr) {
                ids.push(fpr.clone());
            }
        }
        self.certs.insert(fpr, merged);
    }

    /// The certificates holding a key (primary or subkey) named by a
    /// fingerprint or key ID, e.g. the issuer of a signature.
    pub fn lookup(&self, handle: &KeyHandle) -> Vec<&Cert> {
        let keyid = KeyID::from(handle);
        let mut out = Vec::new();
        if let Some(fprs) = self.by_keyid.get(&keyid) {
            for fpr in fprs {
                if let Some(c) = self.certs.get(fpr) {
                    let matches = match handle {
                        KeyHandle::Fingerprint(f) => c.keys().any(|k| &k.key().fingerprint() == f),
                        KeyHandle::KeyID(_) => true,
                    };
                    if matches {
                        out.push(c);
                    }
                }
            }
        }
        out
    }

    /// All certificates holding any of the keys, without duplicates.
    pub fn lookup_all(&self, handles: &[KeyHandle]) -> Vec<Cert> {
        let mut seen = Vec::<Fingerprint>::new();
        let mut out = Vec::new();
        for h in handles {
            for c in self.lookup(h) {
                if !seen.contains(&c.fingerprint()) {
                    seen.push(c.fingerprint());
                    out.push(c.clone());
                }
            }
        }
        out
    }

    pub fn get(&self, fingerprint: &str) -> Option<&Cert> {
        let fpr: Fingerprint = fingerprint.parse().ok()?;
        self.certs.get(&fpr)
    }

    pub fn certs(&self) -> impl Iterator<Item = &Cert> {
        self.certs.values()
    }

    /// Adds the certificates in `files` to the keyring directory, one
    /// `<FINGERPRINT>.asc` per certificate (merged with what the keyring
    /// already holds for it). Every file is parsed before anything is
    /// written, so a bad file imports nothing.
    pub fn import(&mut self, files: &[PathBuf]) -> Result<Vec<String>, PgpError> {
        let dir = self.dir.clone().ok_or_else(|| PgpError::BadCert {
            path: PathBuf::from("(keyring)"),
            reason: "this keyring has no directory to import into".into(),
        })?;
        let mut incoming = Vec::new();
        for f in files {
            let (certs, errors) = read_certs(f)?;
            if let Some(e) = errors.into_iter().next() {
                return Err(PgpError::BadCert {
                    path: f.clone(),
                    reason: e,
                });
            }
            incoming.extend(certs);
        }
        let mut imported = Vec::new();
        for cert in incoming {
            let fpr = cert.fingerprint();
            self.insert(cert);
            let Some(merged) = self.certs.get(&fpr) else {
                continue;
            };
            let armored = merged
                .armored()
                .to_vec()
                .map_err(|e| PgpError::Openpgp(e.to_string()))?;
            let name = format!("{}.asc", hex_fpr(&fpr));
            write_atomically(&dir.join(name), &armored)?;
            let hex = hex_fpr(&fpr);
            if !imported.contains(&hex) {
                imported.push(hex);
            }
        }
        Ok(imported)
    }

    /// Every certificate with its state now, for `keys list`.
    pub fn list(&self) -> Vec<KeyInfo> {
        let policy = StandardPolicy::new();
        self.certs
            .values()
            .map(|c| key_info(c, &policy, SystemTime::now()))
            .collect()
    }
}

/// Checks every self-signature of `cert` once, so that its clones start
/// out checked.
///
/// Why: Sequoia checks self-signatures (binding signatures, self
/// revocations) lazily and remembers each result inside the certificate
/// (`cert::lazysigs::LazySignatures`); a clone copies what is known so far.
/// Verification hands out clones of the keyring's certificates for every
/// signature it checks (`VerificationHelper::get_certs` returns owned
/// certificates), so with never-checked originals every message checked
/// the signer's binding signatures again, about a third of the cost of a
/// detached signature. Checked once here, every clone starts checked.
/// Verdicts do not change: a result is what the lazy check would compute,
/// only computed earlier.
fn warm(cert: &Cert) {
    fn bundle<C>(b: &ComponentBundle<C>) {
        let _ = b.self_signatures().count();
        let _ = b.self_revocations().count();
        let _ = b.approvals().count();
    }
    bundle(cert.primary_key().bundle());
    for k in cert.keys().subkeys() {
        bundle(k.bundle());
    }
    for u in cert.userids() {
        bundle(u.bundle());
    }
    for u in cert.user_attributes() {
        bundle(u.bundle());
    }
    for u in cert.unknowns() {
        bundle(u.bundle());
    }
}

pub(crate) fn key_info(c: &Cert, policy: &dyn Policy, now: SystemTime) -> KeyInfo {
    let user_ids = c
        .userids()
        .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned())
        .collect();
    let revoked = matches!(
        c.revocation_status(policy, now),
        RevocationStatus::Revoked(_)
    );
    let (expires, expired, invalid) = match c.with_policy(policy, now) {
        Ok(vc) => {
            let exp = vc.primary_key().key_expiration_time();
            (exp.map(rfc3339), vc.alive().is_err(), None)
        }
        Err(e) => (None, false, Some(format!("{e:#}"))),
    };
    KeyInfo {
        fingerprint: hex_fpr(&c.fingerprint()),
        user_ids,
        expires,
        expired,
        revoked,
        invalid,
    }
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    let t: time::OffsetDateTime = t.into();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Reads one file of certificates: the good ones, and a description of
/// each one that failed to parse.
fn read_certs(path: &Path) -> Result<(Vec<Cert>, Vec<String>), PgpError> {
    let data = read_bounded(path)?;
    let parser = CertParser::from_bytes(&data).map_err(|e| PgpError::BadCert {
        path: path.to_path_buf(),
        reason: format!("{e:#}"),
    })?;
    let mut certs = Vec::new();
    let mut errors = Vec::new();
    for r in parser {
        match r {
            Ok(c) => certs.push(c),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if certs.is_empty() {
        return Err(PgpError::BadCert {
            path: path.to_path_buf(),
            reason: match errors.first() {
                Some(e) => format!("no usable OpenPGP certificate ({e})"),
                None => "no OpenPGP certificate in it".into(),
            },
        });
    }
    Ok((certs, errors))
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, PgpError> {
    let meta = std::fs::metadata(path).map_err(|e| PgpError::io(path, e))?;
    if meta.len() > MAX_CERT_FILE {
        return Err(PgpError::BadCert {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_CERT_FILE} bytes"),
        });
    }
    std::fs::read(path).map_err(|e| PgpError::io(path, e))
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), PgpError> {
    let tmp = path.with_extension("asc.tmp");
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        PgpError::io(path, e)
    })
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode()
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> u32 {
    0o600
}

/// Permission bits that let the file's group or anyone else read it.
pub fn exposed(mode: u32) -> bool {
    mode & 0o044 != 0
}

/// A file of secret key material (the team key, its passphrase) that
/// exists and that only its owner can read; otherwise why not, naming the
/// fix. Refused rather than warned about: a warning in a start-up log is
/// read after the key has been copied.
pub fn check_private(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{shown} does not exist"),
        _ => format!("cannot read {shown}: {e}"),
    })?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    let mode = mode_of(&meta);
    if exposed(mode) {
        return Err(format!(
            "{shown} holds secret key material and is readable by its group or by others (mode {:04o}); \
             make it private to the user csirtd runs as: chmod 600 {shown}",
            mode & 0o7777
        ));
    }
    Ok(())
}

/// The team's secret key(s), unlocked once at start. More than one
/// certificate may be in the file (e.g. during a key rollover): all are
/// tried for decryption, the first one that can sign signs.
#[derive(Clone)]
pub struct TeamKey {
    certs: Vec<Cert>,
    /// Unlocked secret keys, each with the certificate it belongs to.
    secrets: Vec<(Cert, Key<SecretParts, UnspecifiedRole>)>,
}

impl std::fmt::Debug for TeamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamKey")
            .field(
                "certs",
                &self
                    .certs
                    .iter()
                    .map(|c| c.fingerprint())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl TeamKey {
    /// Loads the team key file; `passphrase_file` holds the passphrase
    /// (one trailing newline is not part of it).
    pub fn load(path: &Path, passphrase_file: Option<&Path>) -> Result<Self, PgpError> {
        let data = read_bounded(path)?;
        let passphrase = match passphrase_file {
            Some(p) => {
                let mut pw = std::fs::read(p).map_err(|e| PgpError::io(p, e))?;
                if pw.ends_with(b"\n") {
                    pw.pop();
                    if pw.ends_with(b"\r") {
                        pw.pop();
                    }
                }
                Some(Password::from(pw))
            }
            None => None,
        };
        let certs: Vec<Cert> = CertParser::from_bytes(&data)
            .map_err(|e| PgpError::BadCert {
                path: path.to_path_buf(),
                reason: format!("{e:#}"),
            })?
            .filter_map(|r| r.ok())
            .collect();
        Self::from_certs(path, certs, passphrase.as_ref())
    }

    /// A team key from certificates in memory (tests, benchmarks).
    pub fn from_certs(
        path: &Path,
        certs: Vec<Cert>,
        passphrase: Option<&Password>,
    ) -> Result<Self, PgpError> {
        // Checked before the clones below, so that they start checked too
        // (see `warm`).
        for cert in &certs {
            warm(cert);
        }
        let mut secrets = Vec::new();
        for cert in certs.iter().filter(|c| c.is_tsk()) {
            for ka in cert.keys().secret() {
                let key = ka.key().clone().role_into_unspecified();
                let key = if key.has_unencrypted_secret() {
                    key
                } else {
                    let pw = passphrase.ok_or_else(|| PgpError::PassphraseNeeded {
                        path: path.to_path_buf(),
                    })?;
                    key.decrypt_secret(pw)
                        .map_err(|_| PgpError::WrongPassphrase {
                            path: path.to_path_buf(),
                            key: ka.key().fingerprint().to_hex(),
                        })?
                };
                secrets.push((cert.clone(), key));
            }
        }
        if secrets.is_empty() {
            return Err(PgpError::NoSecretKey {
                path: path.to_path_buf(),
            });
        }
        Ok(TeamKey { certs, secrets })
    }

    /// The primary fingerprint of the first certificate.
    pub fn fingerprint(&self) -> String {
        self.certs
            .first()
            .map(|c| hex_fpr(&c.fingerprint()))
            .unwrap_or_default()
    }

    pub fn certs(&self) -> &[Cert] {
        &self.certs
    }

    /// The public half, for the keyring or for correspondents.
    pub fn public_certs(&self) -> Vec<Cert> {
        self.certs
            .iter()
            .map(|c| c.clone().strip_secret_key_material())
            .collect()
    }

    /// Unlocked secret keys, for decryption.
    pub(crate) fn secrets(&self) -> &[(Cert, Key<SecretParts, UnspecifiedRole>)] {
        &self.secrets
    }

    /// The unlocked key to sign with now: signing-capable, alive and not
    /// revoked under the policy. Only the key: cloning its certificate
    /// too, for every signature, was work no caller used.
    pub(crate) fn signing_key(
        &self,
        policy: &dyn Policy,
        now: SystemTime,
    ) -> Result<Key<SecretParts, UnspecifiedRole>, PgpError> {
        let mut why = String::from("no secret key is signing-capable");
        for cert in &self.certs {
            let vc = match cert.with_policy(policy, now) {
                Ok(vc) => vc,
                Err(e) => {
                    why = format!("{}: {e:#}", cert.fingerprint());
                    continue;
                }
            };
            if let Err(e) = vc.alive() {
                why = format!("{} is not alive: {e:#}", cert.fingerprint());
                continue;
            }
            if let RevocationStatus::Revoked(_) = vc.revocation_status() {
                why = format!("{} is revoked", cert.fingerprint());
                continue;
            }
            for ka in vc.keys().for_signing().alive().revoked(false).supported() {
                let fpr = ka.key().fingerprint();
                if let Some((_, k)) = self.secrets.iter().find(|(_, k)| k.fingerprint() == fpr) {
                    return Ok(k.clone());
                }
            }
        }
        Err(PgpError::NoSigningKey(why))
    }
}
