//! Where mail comes from. A source hands out raw messages and is told when
//! each one is durably stored; only then may it let go of it (rename, move,
//! flag). Until then a crash means the message is seen again, and
//! de-duplication makes the second pass harmless.

pub mod maildir;

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file in a Maildir's `new/`, by its unique name.
    Maildir {
        name: String,
    },
    File(std::path::PathBuf),
    Stdin,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Maildir { name } => write!(f, "maildir:{name}"),
            Origin::File(p) => write!(f, "file:{}", p.display()),
            Origin::Stdin => write!(f, "stdin"),
        }
    }
}

pub struct RawMessage {
    pub bytes: Vec<u8>,
    pub origin: Origin,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// A place messages are taken from. Synchronous on purpose: the pipeline
/// that drives it runs on a blocking thread beside sled. Network sources
/// (IMAP) run as their own async task and are adapted to this through a
/// channel.
pub trait Source: Send {
    /// A short name for logs.
    fn name(&self) -> String;
    /// Up to `max` messages that are ready now.
    fn poll(&mut self, max: usize) -> Result<Vec<RawMessage>, IntakeError>;
    /// The message is durably stored: the source may let go of it.
    fn done(&mut self, origin: &Origin) -> Result<(), IntakeError>;
    /// The message could not be stored: hand it out again on a later poll.
    fn release(&mut self, origin: &Origin);
}
