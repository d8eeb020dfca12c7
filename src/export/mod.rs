//! Evidence export (issue 16): a ticket's messages exactly as received, in
//! a directory with a manifest of their hashes, for law enforcement or a
//! court. Anyone can check a copy without csirtd: `sha256sum -c
//! manifest.json.sha256` for the manifest, then the manifest's hashes for
//! each file; `csirtd export verify DIR` does both and also finds files
//! added to the directory.
//!
//! This module is the layout and its checking, without the store: the
//! command line (`cli::export`) hands it the records and raw bytes.

pub mod mbox;
pub mod verify;
mod write;

pub use write::{Exporter, Message};

use serde::{Deserialize, Serialize};

/// What `format` says in every manifest of this layout.
pub const FORMAT: &str = "csirtd-export/1";
pub const MANIFEST: &str = "manifest.json";
/// The manifest's own hash, in `sha256sum` form.
pub const MANIFEST_SHA: &str = "manifest.json.sha256";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// One file per message, `0001-<sha256 prefix>.eml`
    EmlDir,
    /// One mboxrd file per ticket, `<ticket id>.mbox`
    Mbox,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::EmlDir => "eml-dir",
            Layout::Mbox => "mbox",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub csirtd_version: String,
    pub exported_at: String,
    /// The operator who asked (the Unix user of the client).
    pub exported_by: String,
    pub layout: Layout,
    /// Every file of the export but the manifest and its hash: nothing
    /// else belongs in the directory.
    pub files: Vec<FileEntry>,
    pub tickets: Vec<TicketEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the export directory, `/` between parts.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketEntry {
    pub id: String,
    /// `ticket`, or for `--incident`: `incident` and `report`.
    pub role: String,
    /// The ticket as `ticket show --json` has it, events included; its
    /// messages are below, with where each went.
    pub ticket: serde_json::Value,
    /// Incoming mail: the evidence, byte for byte.
    pub messages: Vec<MessageEntry>,
    /// The team's mail on this ticket (acknowledgements, replies): listed
    /// with the hash of the stored bytes, not exported.
    pub outgoing: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageEntry {
    /// Counting from 1 within this ticket's export.
    pub index: u64,
    /// `csirtd ticket raw ID --message N` gives the same bytes.
    pub ticket_message: u64,
    /// The file holding it, relative to the export directory.
    pub file: String,
    /// mbox only: where its entry (From_ line to separator) starts in the
    /// file, and how many bytes it takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mbox_offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mbox_length: Option<u64>,
    /// Of the message as received (in an mbox: before quoting).
    pub size: u64,
    pub sha256: String,
    pub received_at: String,
    /// Where it came from: `maildir:<file>`, `imap:<account>…`, `stdin`, `file:<path>`.
    pub source: String,
    pub message_id: Option<String>,
    /// The stored record as `ticket show --json` renders it: OpenPGP
    /// verdict and signer, DKIM/SPF/DMARC, flags.
    pub record: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} exists and is not empty; export into a new or empty directory (--out)")]
    NotEmpty(String),
    #[error("the export in {dir} does not match what was written ({} problem(s)): {}; the disk may be failing, export again elsewhere", problems.len(), problems.join("; "))]
    SelfCheck { dir: String, problems: Vec<String> },
}

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The line `sha256sum -c` reads.
pub fn sha256sum_line(hex: &str, name: &str) -> String {
    format!("{hex}  {name}\n")
}
