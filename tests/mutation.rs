//! A bounded mutation pass over real mail, through the whole pipeline, on
//! stable Rust (issue 13; the long coverage-guided runs are cargo-fuzz's,
//! see `fuzz/`). A few thousand mutants of the shared corpus (or of
//! `fixtures/` without it): no panic, the input bytes stored exactly, and a
//! bounded time per message.

use csirtd::config::Config;
use csirtd::store::Store;
use csirtd::workflow::decide::Placement;
use csirtd::workflow::pipeline::Pipeline;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MUTANTS: usize = 6000;
/// Per message, in a debug build on a busy 2-core machine: generous, but
/// far below what a hang or a quadratic blow-up costs.
const PER_MESSAGE: Duration = Duration::from_secs(5);

/// Snippets an attacker splices in: MIME, encoded words, armor, controls.
const HOSTILE: &[&[u8]] = &[
    b"\r\n--",
    b"\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
    b"\r\nContent-Type : multipart/signed; boundary=\"b\"\r\n",
    b"\r\nContent-Transfer-Encoding: base64\r\n",
    b"=?utf-8?b?AAAA?=",
    b"=?iso-8859-1?q?=0A=0D?=",
    b"\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQ==\r\n-----END PGP MESSAGE-----\r\n",
    b"\r\n-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n",
    b"\x00",
    b"\r",
    b"\x1b]0;title\x07",
    b"\r\n\r\n",
    b"\r\n\tfolded",
    b"192.0.2.1 1.2.3.4.5 http://x.example/ CVE-2026-0001 ",
];

fn corpus_files() -> Vec<PathBuf> {
    let mut roots = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")];
    if let Some(c) = std::env::var_os("CSIRTD_CORPUS") {
        roots.push(PathBuf::from(c));
    }
    let mut out = Vec::new();
    let mut stack = roots;
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_none_or(|x| {
                !["json", "asc", "pgp", "gpg", "key", "md", "txt"]
                    .contains(&x.to_str().unwrap_or(""))
            }) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn mutate(rng: &mut StdRng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut m = base.to_vec();
    for _ in 0..rng.gen_range(1..6) {
        let len = m.len().max(1);
        let at = rng.gen_range(0..len).min(m.len());
        match rng.gen_range(0..7) {
            0 => {
                if let Some(b) = m.get_mut(at) {
                    *b ^= 1 << rng.gen_range(0..8);
                }
            }
            1 => {
                let end = (at + rng.gen_range(1..64)).min(m.len());
                m.drain(at..end);
            }
            2 => {
                let end = (at + rng.gen_range(1..256)).min(m.len());
                let chunk = m[at..end].to_vec();
                let times = rng.gen_range(1..8);
                for _ in 0..times {
                    m.splice(at..at, chunk.iter().copied());
                }
            }
            3 => {
                let h = HOSTILE[rng.gen_range(0..HOSTILE.len())];
                m.splice(at..at, h.iter().copied());
            }
            4 => {
                let from = rng.gen_range(0..other.len().max(1)).min(other.len());
                m.truncate(at);
                m.extend_from_slice(&other[from..]);
            }
            5 => m.truncate(at),
            _ => {
                if let Some(b) = m.get_mut(at) {
                    *b = [b'\n', b'\r', b':', b'-', b'=', b'>', 0, 0xff][rng.gen_range(0..8)];
                }
            }
        }
    }
    m
}

#[test]
fn mutants_of_real_mail_never_panic_are_stored_exactly_and_take_bounded_time() {
    let files = corpus_files();
    assert!(
        !files.is_empty(),
        "no .eml files in fixtures/ or the corpus"
    );
    let mails: Vec<Vec<u8>> = files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|m| m.len() < 2 << 20)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[team]\nname = \"CERT Example\"\naddress = \"cert@cert.example\"\ntag = \"CERT-EX\"\ndomain = \"cert.example\"\n\
         [store]\npath = \"{}\"\n[outbox]\ntransport = \"file\"\n[outbox.file]\ndir = \"{}\"\n",
        dir.path().join("store").display(),
        dir.path().join("outbox").display()
    );
    let cfg = Config::from_toml(&toml, &dir.path().join("csirtd.toml")).unwrap();
    let store = Store::open(&cfg.store.path, 16).unwrap();
    let pipeline = Pipeline::new(store, cfg).unwrap();

    // Panics the pipeline catches (mail-parser's, say) are findings too:
    // each mutant that caused one is kept for a regression test.
    let caught = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = caught.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        default_hook(info);
    }));
    // Fixed, so a failure reproduces; CSIRTD_MUTATION_SEED explores others.
    let seed = std::env::var("CSIRTD_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(13);
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for n in 0..MUTANTS {
        let base = &mails[rng.gen_range(0..mails.len())];
        let other = &mails[rng.gen_range(0..mails.len())];
        let raw = mutate(&mut rng, base, other);
        let before = caught.load(std::sync::atomic::Ordering::SeqCst);
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pipeline.process(&raw, "mutation")
        }));
        let took = t.elapsed();
        slowest = slowest.max(took);
        let processed = match outcome {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => panic!("mutant {n}: store error {e}"),
            Err(_) => {
                let path = std::env::temp_dir().join(format!("csirtd-mutant-{n}.eml"));
                let _ = std::fs::write(&path, &raw);
                panic!("mutant {n} panicked; written to {}", path.display());
            }
        };
        assert!(took < PER_MESSAGE, "mutant {n} took {took:?}");
        if caught.load(std::sync::atomic::Ordering::SeqCst) != before {
            let path = std::env::temp_dir().join(format!("csirtd-caught-{n}.eml"));
            let _ = std::fs::write(&path, &raw);
            eprintln!(
                "mutant {n}: a panic was caught inside the pipeline; kept as {}",
                path.display()
            );
        }
        let sha: [u8; 32] = Sha256::digest(&raw).into();
        let stored = pipeline.store().message_by_sha(&sha).unwrap();
        match (processed.placement, stored) {
            (_, Some((_, seq))) => {
                let bytes = pipeline.store().raw(seq).unwrap().expect("raw bytes");
                assert!(bytes == raw, "mutant {n}: stored bytes differ");
            }
            // A byte-identical re-delivery of an earlier mutant is stored
            // once, under the first; nothing else may be missing.
            (Placement::Duplicate(_), None) => {}
            (p, None) => panic!("mutant {n} ({p:?}) was not stored"),
        }
    }
    eprintln!(
        "{MUTANTS} mutants of {} mails in {:?}, slowest {slowest:?}",
        mails.len(),
        started.elapsed()
    );
}
