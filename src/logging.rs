//! tracing output: human lines for a terminal, JSON lines for journald and
//! log shippers. `RUST_LOG` overrides the configured level.
//!
//! The log sink is whatever reads our stderr (a terminal, journald, a
//! Docker log driver, `| logger`), and it may go away or stop reading at
//! any time. A log line must never cost a message: lines go through a
//! bounded queue to one writer thread, a full queue drops the line (and
//! counts it), and a write error (EPIPE once the reader is gone) is
//! swallowed. Nothing here can panic a thread or block it on a pipe.

mod json;

pub use json::list;

use crate::config::LogFormat;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tracing_subscriber::EnvFilter;

/// The levels `log.level` accepts, alone or as `target=level`.
pub const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Lines held while the sink is slow; past this they are dropped.
const QUEUE: usize = 4096;

/// Checks a `log.level` value strictly: EnvFilter takes any word as a
/// target name, so `inf` or `warnings` would pass it and silence
/// everything. Returns the problem, in words for the operator.
pub fn check_level(spec: &str) -> Result<(), String> {
    let valid = || {
        format!(
            "use one of {}, or a comma list of target=level directives (e.g. \"info,csirtd::intake=debug\")",
            LEVELS.join(", ")
        )
    };
    if spec.trim().is_empty() {
        return Err(format!("is empty; {}", valid()));
    }
    for directive in spec.split(',') {
        let d = directive.trim();
        let (target, level) = match d.split_once('=') {
            Some((t, l)) => (Some(t.trim()), l.trim()),
            None => (None, d),
        };
        if !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level)) {
            return Err(format!("`{level}` is not a log level; {}", valid()));
        }
        if let Some(t) = target {
            let ok = !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'));
            if !ok {
                return Err(format!(
                    "`{d}`: `{t}` is not a target (a module path such as csirtd::intake); {}",
                    valid()
                ));
            }
        }
    }
    Ok(())
}

enum Line {
    Text(Vec<u8>),
    /// Answered once every line queued before it was written (or dropped).
    Flush(mpsc::Sender<()>),
}

struct Sink {
    queue: SyncSender<Line>,
    dropped: AtomicU64,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// One log line's writer: tracing's fmt layer formats a whole event and
/// writes it in one call.
pub struct QueuedWriter;

impl Write for QueuedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(sink) = SINK.get() {
            match sink.queue.try_send(Line::Text(buf.to_vec())) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    sink.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Log lines dropped so far (sink full or gone).
pub fn dropped() -> u64 {
    SINK.get().map_or(0, |s| s.dropped.load(Ordering::Relaxed))
}

fn start_sink() -> bool {
    if SINK.get().is_some() {
        return true;
    }
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let spawned = std::thread::Builder::new()
        .name("log".into())
        .spawn(move || write_lines(rx));
    if spawned.is_err() {
        return false;
    }
    let _ = SINK.set(Sink {
        queue: tx,
        dropped: AtomicU64::new(0),
    });
    true
}

/// The writer thread: the only one that may block on the sink.
fn write_lines(rx: Receiver<Line>) {
    let mut gone = false;
    let mut reported = 0u64;
    for line in rx {
        match line {
            Line::Text(text) => {
                if gone {
                    continue;
                }
                let lost = dropped();
                if let Err(e) = std::io::stderr().lock().write_all(&text) {
                    // The reader is gone: nobody will read another line.
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        gone = true;
                    }
                    if let Some(s) = SINK.get() {
                        s.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                } else if lost > reported {
                    // The sink reads again: say what it missed, as a log
                    // line of its own (JSON in JSON mode), queued after this.
                    tracing::warn!(
                        dropped = lost - reported,
                        "log lines dropped: the log reader was too slow"
                    );
                    reported = lost;
                }
            }
            Line::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Waits (at most `timeout`) for the lines logged so far to be written;
/// called before the process exits. A sink that does not read is not
/// waited for longer.
pub fn flush(timeout: Duration) {
    let Some(sink) = SINK.get() else {
        return;
    };
    let end = Instant::now() + timeout;
    let (tx, rx) = mpsc::channel();
    let mut line = Line::Flush(tx);
    loop {
        match sink.queue.try_send(line) {
            Ok(()) => break,
            Err(TrySendError::Full(l)) if Instant::now() < end => {
                line = l;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return,
        }
    }
    let _ = rx.recv_timeout(end.saturating_duration_since(Instant::now()));
}

/// Writes to stderr the messages a command prints itself, after the log
/// lines before them and under the same rules: `eprintln!` panics on a
/// closed pipe and blocks on a full one.
pub fn stderr(text: &str) {
    if text.is_empty() {
        return;
    }
    if SINK.get().is_some() {
        let _ = QueuedWriter.write(text.as_bytes());
    } else {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// Writes to stdout, ignoring errors (`print!` panics on a closed pipe,
/// e.g. `csirtd check-config | head -1`).
pub fn stdout(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

pub fn init(format: LogFormat, level: &str) {
    // RUST_LOG is the operator's override for one run; a typo in it must
    // not silence the log either, so it is held to the same rule.
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let refused_env = env
        .as_deref()
        .and_then(|v| check_level(v).err().map(|e| (v, e)));
    let chosen = match (&env, &refused_env) {
        (Some(v), None) => v.as_str(),
        _ => level,
    };
    let filter = EnvFilter::try_new(chosen).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if !start_sink() {
        // No thread for the writer: nothing is logged rather than risk
        // blocking on the sink.
        return;
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| QueuedWriter)
        // Its own report of a failed write goes to stderr with eprint!,
        // which panics when stderr is the closed pipe.
        .log_internal_errors(false)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder.event_format(json::JsonLines).try_init(),
    };
    if let Some((value, problem)) = refused_env {
        tracing::warn!("RUST_LOG=`{value}` ignored, log.level `{level}` used instead: {problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::check_level;

    #[test]
    fn levels_are_checked_strictly() {
        for ok in [
            "info",
            "WARN",
            "off",
            "info,csirtd::intake=debug",
            "warn, sled=error",
        ] {
            assert!(check_level(ok).is_ok(), "{ok}");
        }
        for bad in [
            "inf",
            "warnings",
            "verbose",
            "",
            "info,",
            "csirtd=loud",
            "=debug",
            "a b=info",
        ] {
            let e = check_level(bad).expect_err(bad);
            assert!(e.contains("off, error, warn, info, debug, trace"), "{e}");
        }
    }
}
