//! `csirtd export verify DIR`: a copy of an export checked against its
//! manifest, and the manifest against its hash. Needs no store and no
//! configuration: whoever received the copy can run it.

use super::{mbox, Manifest, MessageEntry, FORMAT, MANIFEST, MANIFEST_SHA};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Every problem found, one line each (`missing: …`, `altered: …`,
/// `extra: …`), and what was checked.
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<String>,
    pub files: usize,
    pub messages: usize,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn summary(&self, dir: &Path) -> String {
        if self.ok() {
            format!(
                "{}: all {} file(s) and {} message(s) match the manifest\n",
                dir.display(),
                self.files,
                self.messages
            )
        } else {
            format!(
                "{}: {} problem(s); {} file(s) and {} message(s) in the manifest\n",
                dir.display(),
                self.problems.len(),
                self.files,
                self.messages
            )
        }
    }
}

/// A manifest path as a path inside `dir`; None for anything that could
/// reach outside it (absolute, `..`, empty parts).
fn inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let plain = !rel.is_empty()
        && rel
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\\'));
    plain.then(|| dir.join(rel))
}

/// Size and SHA-256 of a file, read in pieces (an mbox may be large).
fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(sha.finalize())))
}

pub fn verify(dir: &Path) -> Report {
    let mut report = Report::default();
    let manifest_path = dir.join(MANIFEST);
    let json = match std::fs::read(&manifest_path) {
        Ok(j) => j,
        Err(e) => {
            report.problems.push(format!(
                "missing: {MANIFEST} ({e}); {} is no complete csirtd export",
                dir.display()
            ));
            return report;
        }
    };
    check_manifest_sum(dir, &json, &mut report);
    let manifest: Manifest = match serde_json::from_slice(&json) {
        Ok(m) => m,
        Err(e) => {
            report.problems.push(format!(
                "altered: {MANIFEST} is not a readable manifest ({e})"
            ));
            return report;
        }
    };
    if manifest.format != FORMAT {
        report.problems.push(format!(
            "altered: {MANIFEST} says format {:?}, expected {FORMAT:?}",
            manifest.format
        ));
        return report;
    }
    let mut listed = BTreeSet::from([MANIFEST.to_string(), MANIFEST_SHA.to_string()]);
    // Files that match their entry; an altered eml file is one problem,
    // not two (its message is the whole file).
    let mut intact = BTreeSet::new();
    let mut present = BTreeSet::new();
    for f in &manifest.files {
        report.files += 1;
        listed.insert(f.path.clone());
        let Some(path) = inside(dir, &f.path) else {
            report.problems.push(format!(
                "altered: {MANIFEST} names {:?}, which is not a plain path inside the export",
                f.path
            ));
            continue;
        };
        match hash_file(&path) {
            Ok((size, sha)) => {
                present.insert(f.path.clone());
                if size == f.size && sha == f.sha256 {
                    intact.insert(f.path.clone());
                } else {
                    report.problems.push(format!(
                        "altered: {} ({size} bytes, SHA-256 {sha}; the manifest says {} bytes, {})",
                        f.path, f.size, f.sha256
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.problems.push(format!("missing: {}", f.path));
            }
            Err(e) => report
                .problems
                .push(format!("unreadable: {} ({e})", f.path)),
        }
    }
    for t in &manifest.tickets {
        for m in &t.messages {
            report.messages += 1;
            if !listed.contains(&m.file) {
                report.problems.push(format!(
                    "altered: {MANIFEST} puts message {} of {} in {:?}, which its file list lacks",
                    m.index, t.id, m.file
                ));
            } else if intact.contains(&m.file)
                || (present.contains(&m.file) && m.mbox_offset.is_some())
            {
                if let Some(problem) = check_message(dir, &t.id, m) {
                    report.problems.push(problem);
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, "", &mut found, &mut report.problems);
    for rel in found {
        if !listed.contains(&rel) {
            report.problems.push(format!("extra: {rel}"));
        }
    }
    report
}

fn check_manifest_sum(dir: &Path, json: &[u8], report: &mut Report) {
    let sum = match std::fs::read_to_string(dir.join(MANIFEST_SHA)) {
        Ok(s) => s,
        Err(e) => {
            report
                .problems
                .push(format!("missing: {MANIFEST_SHA} ({e})"));
            return;
        }
    };
    let mut parts = sum.split_whitespace();
    let (want, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let got = super::sha256_hex(json);
    if name.trim_start_matches('*') != MANIFEST {
        report.problems.push(format!(
            "altered: {MANIFEST_SHA} names {name:?}, not {MANIFEST}"
        ));
    } else if !want.eq_ignore_ascii_case(&got) {
        report.problems.push(format!(
            "altered: {MANIFEST} (SHA-256 {got}; {MANIFEST_SHA} says {want})"
        ));
    }
}

/// The message's own bytes against its size and hash: the whole file for
/// eml-dir, its entry un-quoted for mbox.
fn check_message(dir: &Path, ticket: &str, m: &MessageEntry) -> Option<String> {
    let path = inside(dir, &m.file)?;
    let what = format!("message {} of {} in {}", m.index, ticket, m.file);
    let bytes = match (m.mbox_offset, m.mbox_length) {
        (None, None) => std::fs::read(&path).map_err(|e| e.to_string()),
        (Some(offset), Some(length)) => read_at(&path, offset, length)
            .map_err(|e| e.to_string())
            .and_then(|entry| {
                mbox::message_of(&entry, m.size)
                    .ok_or_else(|| "its mbox entry is not as written".to_string())
            }),
        _ => Err("the manifest gives only half of its place in the mbox".to_string()),
    };
    match bytes {
        Err(e) => Some(format!("altered: {what} ({e})")),
        Ok(b) => {
            let sha = super::sha256_hex(&b);
            (b.len() as u64 != m.size || sha != m.sha256).then(|| {
                format!(
                    "altered: {what} ({} bytes, SHA-256 {sha}; the manifest says {} bytes, {})",
                    b.len(),
                    m.size,
                    m.sha256
                )
            })
        }
    }
}

fn read_at(path: &Path, offset: u64, length: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if offset.checked_add(length).is_none_or(|end| end > len) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "its entry lies beyond the end of the file",
        ));
    }
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; usize::try_from(length).unwrap_or(usize::MAX)];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

/// Every non-directory entry under `dir`, as `/`-joined relative paths.
fn walk(dir: &Path, prefix: &str, found: &mut Vec<String>, problems: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("unreadable: {} ({e})", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&entry.path(), &rel, found, problems),
            _ => found.push(rel),
        }
    }
    found.sort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{sha256_hex, sha256sum_line, FileEntry, Layout};

    fn write_manifest(dir: &Path, files: Vec<FileEntry>) {
        let m = Manifest {
            format: FORMAT.into(),
            csirtd_version: "test".into(),
            exported_at: "2026-01-01T00:00:00Z".into(),
            exported_by: "test".into(),
            layout: Layout::EmlDir,
            files,
            tickets: Vec::new(),
        };
        let json = serde_json::to_vec(&m).unwrap();
        std::fs::write(dir.join(MANIFEST), &json).unwrap();
        std::fs::write(
            dir.join(MANIFEST_SHA),
            sha256sum_line(&sha256_hex(&json), MANIFEST),
        )
        .unwrap();
    }

    #[test]
    fn a_manifest_cannot_point_outside_the_export() {
        let outer = tempfile::tempdir().unwrap();
        let dir = outer.path().join("export");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(outer.path().join("secret"), b"x").unwrap();
        for path in ["../secret", "/etc/passwd", "a//b", "./x", ""] {
            write_manifest(
                &dir,
                vec![FileEntry {
                    path: path.into(),
                    size: 1,
                    sha256: sha256_hex(b"x"),
                }],
            );
            let r = verify(&dir);
            assert_eq!(r.problems.len(), 1, "{path}: {:?}", r.problems);
            assert!(
                r.problems[0].contains("not a plain path"),
                "{:?}",
                r.problems
            );
        }
    }

    #[test]
    fn an_empty_directory_is_no_export() {
        let dir = tempfile::tempdir().unwrap();
        let r = verify(dir.path());
        assert!(!r.ok());
        assert!(r.problems[0].starts_with("missing: manifest.json"));
    }
}
