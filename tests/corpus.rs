//! Mail nobody on this team wrote: every message of the shared MIME corpus
//! (MIME torture tests, real-world provider mail, malformed structure) must
//! ingest without a panic and be stored bit for bit. CI sets CSIRTD_CORPUS;
//! without it this test says so and checks nothing.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn corpus_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let skip = name.ends_with(".json")
                || name.ends_with(".sh")
                || name.starts_with("COPYING")
                || name.starts_with("LICENSE")
                || name.starts_with("README");
            if !skip {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_corpus_message_is_stored_bit_for_bit() {
    let Some(root) = std::env::var_os("CSIRTD_CORPUS").map(PathBuf::from) else {
        eprintln!("CSIRTD_CORPUS is not set: corpus test skipped (.ci/run sets it)");
        return;
    };
    let mime = root.join("mime");
    assert!(
        mime.is_dir(),
        "CSIRTD_CORPUS={} has no mime/ folder",
        root.display()
    );
    let files = corpus_files(&mime);
    assert!(
        files.len() > 300,
        "expected the whole corpus, found {} files",
        files.len()
    );

    let env = Env::with_extra("[ack]\nrate_limit = 100000\n");
    let mut outcomes: Vec<(PathBuf, String, String)> = Vec::new();
    for chunk in files.chunks(64) {
        let mut cmd = env.cmd();
        cmd.arg("ingest").args(chunk);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "ingest of a chunk starting at {} failed with {:?} (101 would be a panic): {}",
            chunk[0].display(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), chunk.len(), "one line per message");
        for (f, l) in chunk.iter().zip(lines) {
            let mut it = l.split_whitespace();
            outcomes.push((
                f.clone(),
                it.next().unwrap().to_string(),
                it.next().unwrap().to_string(),
            ));
        }
    }

    let store = csirtd::store::Store::open(&env.path("store"), 64).unwrap();
    let mut stored = 0;
    let mut duplicates = 0;
    let mut failures = Vec::new();
    for (file, ticket, word) in &outcomes {
        let raw = std::fs::read(file).unwrap();
        use sha2::Digest;
        let sha: [u8; 32] = sha2::Sha256::digest(&raw).into();
        match word.as_str() {
            "created" | "appended" => {
                let Some((t, seq)) = store.message_by_sha(&sha).unwrap() else {
                    failures.push(format!(
                        "{}: no stored message with its SHA-256",
                        file.display()
                    ));
                    continue;
                };
                if t.to_string() != *ticket {
                    failures.push(format!(
                        "{}: stored on {t}, reported {ticket}",
                        file.display()
                    ));
                }
                if store.raw(seq).unwrap().as_deref() != Some(raw.as_slice()) {
                    failures.push(format!("{}: stored bytes differ", file.display()));
                }
                stored += 1;
            }
            "duplicate" => {
                // Kept once: the earlier copy with the same Message-ID (or bytes) is on that ticket.
                let t: csirtd::model::TicketId = ticket.parse().unwrap();
                if store.ticket(t).unwrap().is_none() {
                    failures.push(format!(
                        "{}: duplicate of missing ticket {ticket}",
                        file.display()
                    ));
                }
                duplicates += 1;
            }
            other => failures.push(format!("{}: unexpected outcome {other}", file.display())),
        }
    }
    eprintln!(
        "corpus: {} files, {stored} stored, {duplicates} duplicates",
        outcomes.len()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(stored > duplicates, "most corpus messages are distinct");
}
