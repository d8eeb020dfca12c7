//! Where mail comes from. A source hands out raw messages and is told when
//! each one is durably stored; only then may it let go of it (rename, move,
//! flag). Until then a crash means the message is seen again, and
//! de-duplication makes the second pass harmless.

pub mod imap;
pub mod maildir;
pub(crate) mod watch;

use crate::model::Flag;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file in a Maildir's `new/`, by its unique name.
    Maildir {
        name: String,
        /// The Maildir's configured name, when it has one.
        source: Option<String>,
    },
    File(std::path::PathBuf),
    Stdin,
    /// A message in an IMAP folder. The account name stands for the ticket
    /// defaults configured with it (label, constituency, category).
    Imap {
        account: String,
        folder: String,
        uidvalidity: u32,
        uid: u32,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Maildir { name, source: None } => write!(f, "maildir:{name}"),
            Origin::Maildir {
                name,
                source: Some(s),
            } => write!(f, "maildir:{s}/{name}"),
            Origin::File(p) => write!(f, "file:{}", p.display()),
            Origin::Stdin => write!(f, "stdin"),
            Origin::Imap {
                account,
                folder,
                uidvalidity,
                uid,
            } => write!(f, "imap:{account}/{folder}/{uidvalidity}/{uid}"),
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
    #[error("IMAP account {account}: {problem}")]
    Imap { account: String, problem: String },
}

/// Where a stored message goes in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Disposition {
    /// The usual place for handled mail (Maildir `cur/`, the IMAP
    /// processed folder or `\Seen`).
    Processed,
    /// Hostile or broken input: kept apart so that a handler looks at it
    /// with care, and so that no mail client renders it by accident.
    Quarantine,
}

impl Disposition {
    /// Quarantine for mail that hit a hard limit of the parser.
    pub fn for_flags(flags: &BTreeSet<Flag>) -> Disposition {
        let hostile = flags.iter().any(|f| {
            matches!(
                f,
                Flag::TooDeep
                    | Flag::TooManyParts
                    | Flag::Oversized
                    | Flag::Unparsed
                    | Flag::OverBudget
                    | Flag::AnalysisFailed
            )
        });
        if hostile {
            Disposition::Quarantine
        } else {
            Disposition::Processed
        }
    }
}

/// Lets network sources wake the intake thread as soon as they have mail,
/// instead of it noticing at its next poll.
#[derive(Clone, Default)]
pub struct Wakeup(Arc<(Mutex<bool>, Condvar)>);

impl Wakeup {
    pub fn notify(&self) {
        let (flag, cv) = &*self.0;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }

    /// Waits up to `timeout` for a notification; true if there was one
    /// (consumed), including one that came before the call.
    pub fn wait(&self, timeout: Duration) -> bool {
        let (flag, cv) = &*self.0;
        let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = cv
            .wait_timeout_while(guard, timeout, |woken| !*woken)
            .unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *guard, false)
    }
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
    /// The message is durably stored: the source may let go of it, putting
    /// it where `disposition` says.
    fn done(&mut self, origin: &Origin, disposition: Disposition) -> Result<(), IntakeError>;
    /// The message could not be stored: hand it out again on a later poll.
    fn release(&mut self, origin: &Origin);
    /// False while the source knows of messages it has not handed out yet
    /// (a network source still fetching); `run --drain` waits for true.
    fn caught_up(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_limit_flags_mean_quarantine() {
        let mut flags = BTreeSet::from([Flag::NoMessageId, Flag::UnknownTag]);
        assert_eq!(Disposition::for_flags(&flags), Disposition::Processed);
        for f in [
            Flag::TooDeep,
            Flag::TooManyParts,
            Flag::Oversized,
            Flag::Unparsed,
            Flag::OverBudget,
            Flag::AnalysisFailed,
        ] {
            flags.insert(f);
            assert_eq!(Disposition::for_flags(&flags), Disposition::Quarantine);
            flags.remove(&f);
        }
    }

    #[test]
    fn wakeup_keeps_a_notification_until_it_is_waited_for() {
        let w = Wakeup::default();
        assert!(!w.wait(Duration::from_millis(1)));
        w.notify();
        assert!(w.wait(Duration::from_secs(5)));
        assert!(!w.wait(Duration::from_millis(1)));
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w2.notify();
        });
        assert!(w.wait(Duration::from_secs(5)));
        t.join().unwrap();
    }
}
