//! Outgoing mail as PGP/MIME (RFC 3156): signed with the team key
//! (`multipart/signed`), optionally encrypted too (`multipart/encrypted`,
//! signed inside).
//!
//! The input is a complete message as `mail::compose::render` produces
//! it: headers and a single-part body. The Content-* headers move into
//! the signed (or encrypted) part; every other header stays outside.

use super::keyring::TeamKey;
use super::{mime, PgpError};
use openpgp::armor;
use openpgp::cert::Preferences;
use openpgp::crypto::hash::Hash;
use openpgp::crypto::mpi;
use openpgp::crypto::{KeyPair, Signer as _};
use openpgp::packet::signature::{Signature4, SignatureBuilder};
use openpgp::packet::Signature;
use openpgp::policy::{Policy, StandardPolicy};
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Recipient, Signer};
use openpgp::serialize::Serialize as _;
use openpgp::types::{HashAlgorithm, SignatureType};
use openpgp::Cert;
use openpgp::Packet;
use rand::{Rng, RngCore};
use sequoia_openpgp as openpgp;
use std::io::Write;
use std::time::SystemTime;

/// SHA-256: accepted everywhere, and what `micalg` then says.
const HASH: HashAlgorithm = HashAlgorithm::SHA256;
const MICALG: &str = "pgp-sha256";

/// The message split into what stays outside and the MIME entity that
/// gets signed or encrypted.
struct Split {
    outer: Vec<u8>,
    inner: Vec<u8>,
}

fn split_message(raw: &[u8]) -> Result<Split, PgpError> {
    let ent = mime::split(raw);
    if ent.header.is_empty() {
        return Err(PgpError::BadMessage("no header section".into()));
    }
    let mut outer = Vec::new();
    let mut content = Vec::new();
    // Whole fields, continuation lines included, so that folding survives.
    let mut to_content = false;
    for (s, _, l) in mime::lines(ent.header) {
        let line = ent.header.get(s..l).unwrap_or_default();
        if !line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            let lower = line.to_ascii_lowercase();
            to_content = lower.starts_with(b"content-");
        }
        let dest = if to_content { &mut content } else { &mut outer };
        dest.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            dest.extend_from_slice(b"\r\n");
        }
    }
    if content.is_empty() {
        content.extend_from_slice(b"Content-Type: text/plain; charset=us-ascii\r\n");
    }
    let has_mime_version = mime::fields(&outer)
        .iter()
        .any(|f| f.name == "mime-version");
    if !has_mime_version {
        outer.extend_from_slice(b"MIME-Version: 1.0\r\n");
    }
    let mut inner = content;
    inner.extend_from_slice(b"\r\n");
    inner.extend_from_slice(ent.body);
    Ok(Split {
        outer: mime::to_crlf(&outer).into_owned(),
        inner: mime::to_crlf(&inner).into_owned(),
    })
}

fn boundary(avoid: &[u8]) -> String {
    loop {
        let n: u128 = rand::thread_rng().gen();
        let b = format!("=_csirtd_{n:032x}");
        if super::found::find(avoid, b.as_bytes()).is_none() {
            return b;
        }
    }
}

/// Signs an outgoing message with the team key: PGP/MIME
/// `multipart/signed`, a detached armored signature over the CRLF
/// canonical inner part.
pub fn sign_message(raw: &[u8], team: &TeamKey) -> Result<Vec<u8>, PgpError> {
    sign_message_at(raw, team, SystemTime::now())
}

pub fn sign_message_at(raw: &[u8], team: &TeamKey, now: SystemTime) -> Result<Vec<u8>, PgpError> {
    let policy = StandardPolicy::new();
    let split = split_message(raw)?;
    let sig = detached_signature(&split.inner, team, &policy, now)?;
    let b = boundary(&split.inner);
    let mut out = split.outer;
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/signed; micalg={MICALG};\r\n protocol=\"application/pgp-signature\";\r\n boundary=\"{b}\"\r\n\r\n\
             This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--{b}\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&split.inner);
    out.extend_from_slice(
        format!(
            "\r\n--{b}\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\
             Content-Description: OpenPGP digital signature\r\n\
             Content-Disposition: attachment; filename=\"signature.asc\"\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&mime::to_crlf(&sig));
    out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    Ok(out)
}

/// The message `sign_message` signed, put back together from its output:
/// the outer header fields (without the multipart Content-Type) and the
/// signed entity, whose Content-* fields and body are the original's.
/// `sign_message` and `encrypt_message` on the result split it exactly
/// as they split the original. None when `signed` is not a PGP/MIME
/// `multipart/signed` message.
pub fn signed_content(signed: &[u8]) -> Option<Vec<u8>> {
    let ent = mime::split(signed);
    let ct = mime::content_type(&mime::fields(ent.header), "text/plain");
    if ct.mime != "multipart/signed" || ct.param("protocol") != Some("application/pgp-signature") {
        return None;
    }
    let parts = mime::parts(ent.body, ct.param("boundary")?)?;
    let inner = parts.first()?;
    let mut out = Vec::with_capacity(signed.len());
    let mut content_type = false;
    for (s, _, l) in mime::lines(ent.header) {
        let line = ent.header.get(s..l).unwrap_or_default();
        if !line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            content_type = line.to_ascii_lowercase().starts_with(b"content-type:");
        }
        if !content_type {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(inner);
    Some(out)
}

fn detached_signature(
    data: &[u8],
    team: &TeamKey,
    policy: &dyn Policy,
    now: SystemTime,
) -> Result<Vec<u8>, PgpError> {
    let key = team.signing_key(policy, now)?;
    let mut pair = key.into_keypair()?;
    let sig = if pair.public().version() == 4 {
        v4_binary_signature(&mut pair, data, now)?
    } else {
        SignatureBuilder::new(SignatureType::Binary)
            .set_hash_algo(HASH)
            .set_signature_creation_time(now)?
            .sign_message(&mut pair, data)?
    };
    let mut sink = Vec::new();
    {
        let mut w = armor::Writer::new(&mut sink, armor::Kind::Signature)
            .map_err(|e| PgpError::Openpgp(e.to_string()))?;
        Packet::from(sig).serialize(&mut w)?;
        w.finalize().map_err(|e| PgpError::Openpgp(e.to_string()))?;
    }
    Ok(sink)
}

/// The name under which Sequoia salts its v4 signatures.
const SALT_NOTATION: &str = "salt@notations.sequoia-pgp.org";

/// A v4 binary-document signature made as Sequoia's
/// `SignatureBuilder::pre_sign` makes one (creation time, issuer, issuer
/// fingerprint, a 32-byte salt notation), with the salt drawn from the
/// operating system. Sequoia's Nettle backend seeds a new Yarrow generator
/// for every random draw (3,000 SHA-256 rounds), which was over half the
/// cost of an Ed25519 acknowledgement signature; Ed25519 itself needs no
/// randomness, and a salt needs only unpredictability.
fn v4_binary_signature(
    pair: &mut KeyPair,
    data: &[u8],
    now: SystemTime,
) -> Result<Signature, PgpError> {
    let mut salt = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| PgpError::Openpgp(format!("no randomness from the system: {e}")))?;
    let public = pair.public().clone();
    let builder = SignatureBuilder::new(SignatureType::Binary)
        .set_hash_algo(HASH)
        .set_signature_creation_time(now)?
        .set_issuer(public.keyid())?
        .set_issuer_fingerprint(public.fingerprint())?
        .set_notation(SALT_NOTATION, salt, None, false)?;
    let template = |digest_prefix, mpis| {
        Signature4::new(
            SignatureType::Binary,
            public.pk_algo(),
            HASH,
            builder.hashed_area().clone(),
            builder.unhashed_area().clone(),
            digest_prefix,
            mpis,
        )
    };
    let unsigned = template(
        [0, 0],
        mpi::Signature::Unknown {
            mpis: Box::new([]),
            rest: Box::new([]),
        },
    );
    let mut hash = HASH.context()?.for_signature(4);
    hash.update(data);
    unsigned.hash(&mut hash)?;
    let digest = hash.into_digest()?;
    let mpis = pair.sign(HASH, &digest)?;
    let prefix = [
        digest.first().copied().unwrap_or_default(),
        digest.get(1).copied().unwrap_or_default(),
    ];
    Ok(template(prefix, mpis).into())
}

/// Signs and encrypts an outgoing message: PGP/MIME `multipart/encrypted`
/// whose payload is the inner entity, signed inside the OpenPGP message
/// by the team key and encrypted to every recipient and to the team (so
/// that the team can read what it sent).
pub fn encrypt_message(
    raw: &[u8],
    team: &TeamKey,
    recipients: &[Cert],
) -> Result<Vec<u8>, PgpError> {
    encrypt_message_at(raw, team, recipients, SystemTime::now())
}

pub fn encrypt_message_at(
    raw: &[u8],
    team: &TeamKey,
    recipients: &[Cert],
    now: SystemTime,
) -> Result<Vec<u8>, PgpError> {
    let policy = StandardPolicy::new();
    let split = split_message(raw)?;
    let key = team.signing_key(&policy, now)?;
    let pair = key.into_keypair()?;

    let mut all: Vec<&Cert> = recipients.iter().collect();
    let team_public = team.public_certs();
    all.extend(team_public.iter());
    let mut keys = Vec::new();
    for cert in &all {
        let vc = cert
            .with_policy(&policy, now)
            .map_err(|e| PgpError::NoEncryptionKey(format!("{}: {e:#}", cert.fingerprint())))?;
        let before = keys.len();
        for ka in vc
            .keys()
            .supported()
            .alive()
            .revoked(false)
            .for_transport_encryption()
        {
            keys.push((vc.features(), ka.key().clone()));
        }
        if keys.len() == before
            && recipients
                .iter()
                .any(|r| r.fingerprint() == cert.fingerprint())
        {
            return Err(PgpError::NoEncryptionKey(cert.fingerprint().to_hex()));
        }
    }
    let rcpts: Vec<Recipient> = keys
        .iter()
        .map(|(features, key)| Recipient::new(features.clone(), key.key_handle(), key))
        .collect();

    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        let message = Armorer::new(message).kind(armor::Kind::Message).build()?;
        let message = Encryptor::for_recipients(message, rcpts).build()?;
        let mut signer = Signer::new(message, pair)?
            .hash_algo(HASH)?
            .creation_time(now);
        // Every recipient, the team included: a reader not listed would
        // (rightly) see the signature as surreptitiously forwarded.
        for r in &all {
            signer = signer.add_intended_recipient(r);
        }
        let message = signer.build()?;
        let mut literal = LiteralWriter::new(message).build()?;
        literal
            .write_all(&split.inner)
            .map_err(|e| PgpError::Openpgp(e.to_string()))?;
        literal.finalize()?;
    }

    let b = boundary(b"");
    let mut out = split.outer;
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/encrypted;\r\n protocol=\"application/pgp-encrypted\";\r\n boundary=\"{b}\"\r\n\r\n\
             This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n\
             --{b}\r\nContent-Type: application/pgp-encrypted\r\n\
             Content-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n\r\n\
             --{b}\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\
             Content-Description: OpenPGP encrypted message\r\n\
             Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&mime::to_crlf(&sink));
    out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    Ok(out)
}

/// An inline cleartext signature (RFC 9580 §7) over `text`, for list
/// servers that append a footer to the body: the footer lands after the
/// signature block and the signed text still verifies.
pub fn clearsign_text(text: &str, team: &TeamKey) -> Result<String, PgpError> {
    let policy = StandardPolicy::new();
    let now = SystemTime::now();
    let key = team.signing_key(&policy, now)?;
    let pair = key.into_keypair()?;
    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        let mut signer = Signer::new(message, pair)?
            .hash_algo(HASH)?
            .creation_time(now)
            .cleartext()
            .build()?;
        signer
            .write_all(text.as_bytes())
            .map_err(|e| PgpError::Openpgp(e.to_string()))?;
        signer.finalize()?;
    }
    String::from_utf8(sink).map_err(|e| PgpError::Openpgp(e.to_string()))
}
