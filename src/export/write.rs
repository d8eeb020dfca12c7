//! Writing an export: files first, each synced, then the manifest and its
//! hash, then the directories; then everything is read back and checked
//! against the manifest, as `csirtd export verify` would.

use super::{
    io, mbox, sha256_hex, sha256sum_line, verify, ExportError, FileEntry, Layout, Manifest,
    MessageEntry, TicketEntry, FORMAT, MANIFEST, MANIFEST_SHA,
};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

type Result<T> = std::result::Result<T, ExportError>;

/// One incoming message to export.
pub struct Message<'a> {
    pub raw: &'a [u8],
    pub ticket_message: u64,
    pub received_at: OffsetDateTime,
    pub source: String,
    pub message_id: Option<String>,
    pub record: serde_json::Value,
}

pub struct Exporter {
    dir: PathBuf,
    layout: Layout,
    /// Several tickets (`--incident`): each in its own subdirectory
    /// (eml-dir); mbox files are named after their ticket anyway.
    nested: bool,
    files: Vec<FileEntry>,
    tickets: Vec<TicketEntry>,
    /// Directories made, synced at the end so that their entries last.
    dirs: Vec<PathBuf>,
    mbox: Option<OpenMbox>,
}

struct OpenMbox {
    rel: String,
    path: PathBuf,
    file: std::io::BufWriter<File>,
    offset: u64,
    sha: Sha256,
}

fn create_new(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io(path))
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io(path))
}

impl Exporter {
    /// Makes `dir`, which must be new or empty: an export never mixes with
    /// other files, or `verify` could not tell them apart.
    pub fn create(dir: &Path, layout: Layout, nested: bool) -> Result<Exporter> {
        if dir.exists() {
            let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
            if entries.next().is_some() {
                return Err(ExportError::NotEmpty(dir.display().to_string()));
            }
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(Exporter {
            dir: dir.to_path_buf(),
            layout,
            nested,
            files: Vec::new(),
            tickets: Vec::new(),
            dirs: vec![dir.to_path_buf()],
            mbox: None,
        })
    }

    /// Starts the next ticket; its messages follow with `add`.
    pub fn ticket(
        &mut self,
        id: &str,
        role: &str,
        ticket: serde_json::Value,
        outgoing: Vec<serde_json::Value>,
    ) -> Result<()> {
        self.close_mbox()?;
        self.tickets.push(TicketEntry {
            id: id.to_string(),
            role: role.to_string(),
            ticket,
            messages: Vec::new(),
            outgoing,
        });
        Ok(())
    }

    pub fn add(&mut self, m: Message<'_>) -> Result<()> {
        let Some(ticket) = self.tickets.last() else {
            return Ok(());
        };
        let id = ticket.id.clone();
        let index = ticket.messages.len() as u64 + 1;
        let sha256 = sha256_hex(m.raw);
        let (file, mbox_offset, mbox_length) = match self.layout {
            Layout::EmlDir => {
                let name = format!("{index:04}-{}.eml", &sha256[..12]);
                let rel = if self.nested {
                    let sub = self.dir.join(&id);
                    if !self.dirs.contains(&sub) {
                        std::fs::create_dir(&sub).map_err(io(&sub))?;
                        self.dirs.push(sub);
                    }
                    format!("{id}/{name}")
                } else {
                    name
                };
                let path = self.dir.join(&rel);
                let mut f = create_new(&path)?;
                f.write_all(m.raw).map_err(io(&path))?;
                f.sync_all().map_err(io(&path))?;
                self.files.push(FileEntry {
                    path: rel.clone(),
                    size: m.raw.len() as u64,
                    sha256: sha256.clone(),
                });
                (rel, None, None)
            }
            Layout::Mbox => {
                if self.mbox.is_none() {
                    let rel = format!("{id}.mbox");
                    let path = self.dir.join(&rel);
                    let file = std::io::BufWriter::new(create_new(&path)?);
                    self.mbox = Some(OpenMbox {
                        rel,
                        path,
                        file,
                        offset: 0,
                        sha: Sha256::new(),
                    });
                }
                let Some(open) = self.mbox.as_mut() else {
                    return Ok(());
                };
                let entry = mbox::entry(m.raw, &mbox::envelope_sender(m.raw), m.received_at);
                open.file.write_all(&entry).map_err(io(&open.path))?;
                open.sha.update(&entry);
                let at = open.offset;
                open.offset += entry.len() as u64;
                (open.rel.clone(), Some(at), Some(entry.len() as u64))
            }
        };
        let entry = MessageEntry {
            index,
            ticket_message: m.ticket_message,
            file,
            mbox_offset,
            mbox_length,
            size: m.raw.len() as u64,
            sha256,
            received_at: m.received_at.format(&Rfc3339).unwrap_or_default(),
            source: m.source,
            message_id: m.message_id,
            record: m.record,
        };
        if let Some(t) = self.tickets.last_mut() {
            t.messages.push(entry);
        }
        Ok(())
    }

    fn close_mbox(&mut self) -> Result<()> {
        let Some(open) = self.mbox.take() else {
            return Ok(());
        };
        let f = open
            .file
            .into_inner()
            .map_err(|e| io(&open.path)(e.into_error()))?;
        f.sync_all().map_err(io(&open.path))?;
        self.files.push(FileEntry {
            path: open.rel,
            size: open.offset,
            sha256: hex::encode(open.sha.finalize()),
        });
        Ok(())
    }

    /// Writes the manifest and its hash, syncs, then reads everything back:
    /// a mismatch is an error, the export is not to be handed over.
    pub fn finish(
        mut self,
        exported_at: OffsetDateTime,
        exported_by: &str,
    ) -> Result<(Manifest, String)> {
        self.close_mbox()?;
        let manifest = Manifest {
            format: FORMAT.into(),
            csirtd_version: crate::cli::VERSION.into(),
            exported_at: exported_at.format(&Rfc3339).unwrap_or_default(),
            exported_by: exported_by.to_string(),
            layout: self.layout,
            files: self.files,
            tickets: self.tickets,
        };
        let path = self.dir.join(MANIFEST);
        let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| io(&path)(e.into()))?;
        json.push(b'\n');
        let mut f = create_new(&path)?;
        f.write_all(&json).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
        let manifest_sha = sha256_hex(&json);
        let sum_path = self.dir.join(MANIFEST_SHA);
        let mut f = create_new(&sum_path)?;
        f.write_all(sha256sum_line(&manifest_sha, MANIFEST).as_bytes())
            .map_err(io(&sum_path))?;
        f.sync_all().map_err(io(&sum_path))?;
        // Deepest first: a subdirectory's entries, then its own entry.
        for d in self.dirs.iter().rev() {
            sync_dir(d)?;
        }
        let report = verify::verify(&self.dir);
        if !report.problems.is_empty() {
            return Err(ExportError::SelfCheck {
                dir: self.dir.display().to_string(),
                problems: report.problems,
            });
        }
        Ok((manifest, manifest_sha))
    }
}
