//! `csirtd ingest [FILE…|-]`: what an MTA pipe calls (compare rt-mailgate).
//! One line per message; exit 75 (EX_TEMPFAIL) when the store cannot be
//! used right now, so that the MTA keeps the message and retries. While the
//! daemon runs, the messages are handed to it over the control socket.

use super::lock::{self, Access, LockError};
use super::{EX_NOINPUT, EX_TEMPFAIL};
use crate::config::Config;
use crate::control::{self, ControlError, Item, Request};
use crate::intake::Origin;
use crate::store::Store;
use crate::workflow::pipeline::Pipeline;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub fn run(cfg: &Config, files: &[PathBuf]) -> ExitCode {
    let inputs = match read_inputs(cfg, files) {
        Ok(i) => i,
        Err((code, msg)) => {
            crate::logging::stderr(&format!("csirtd: {msg}\n"));
            return ExitCode::from(code);
        }
    };
    let socket = control::socket_path(&cfg.store.path);
    // Encoded for the daemon only when one may be there to take it.
    let mut request = None;
    let access = lock::open(
        &cfg.store.path,
        cfg.store.cache_mb,
        false,
        Duration::from_secs(cfg.store.lock_wait_secs),
        || {
            let request = request.get_or_insert_with(|| request_for(&inputs));
            match control::call(&socket, request, Duration::from_secs(120)) {
                Err(ControlError::Connect { .. }) => None,
                answered => Some(answered),
            }
        },
    );
    let store = match access {
        Ok(Access::Store(s)) => s,
        Ok(Access::Daemon(Ok(r))) => return super::relay(r),
        Ok(Access::Daemon(Err(e))) => {
            crate::logging::stderr(&format!(
                "csirtd: the store is in use by the running daemon, and {e}; the MTA should retry\n"
            ));
            return ExitCode::from(EX_TEMPFAIL);
        }
        Err(e) => {
            crate::logging::stderr(&format!("csirtd: {e}; the MTA should retry\n"));
            // EX_CONFIG for a schema to migrate: MTAs defer on it too.
            return ExitCode::from(match &e {
                LockError::Held { .. } => EX_TEMPFAIL,
                LockError::Store(e) if e.is_schema() => super::EX_CONFIG,
                LockError::Store(e) if e.is_temporary() => EX_TEMPFAIL,
                LockError::Store(_) => 1,
            });
        }
    };
    let pipeline = match Pipeline::new(store, cfg.clone()) {
        Ok(p) => p,
        Err(e) => {
            crate::logging::stderr(&format!("csirtd: {e}\n"));
            return ExitCode::from(super::EX_CONFIG);
        }
    };
    let items: Vec<(String, Vec<u8>)> = inputs
        .into_iter()
        .map(|(b, o)| (o.to_string(), b))
        .collect();
    let (code, out, err) = ingest_all(&pipeline, &items, |_, _| {});
    crate::logging::stdout(&out);
    crate::logging::stderr(&err);
    ExitCode::from(code)
}

/// The messages to store, or an exit code with the reason.
type Inputs = Result<Vec<(Vec<u8>, Origin)>, (u8, String)>;

fn read_inputs(cfg: &Config, files: &[PathBuf]) -> Inputs {
    let cap = cfg.limits.max_stored_size as u64;
    let stdin_only = files.is_empty() || (files.len() == 1 && files[0].as_os_str() == "-");
    if stdin_only {
        let mut buf = Vec::new();
        // Bounded: a pipe that never ends must not exhaust memory. Anything
        // up to the store limit is kept (flagged oversized past the parse limit).
        std::io::stdin()
            .take(cap + 1)
            .read_to_end(&mut buf)
            .map_err(|e| (EX_TEMPFAIL, format!("cannot read standard input: {e}")))?;
        if buf.len() as u64 > cap {
            return Err((
                EX_NOINPUT,
                format!("message on standard input exceeds limits.max_stored_size ({cap} bytes); refused so that the MTA bounces it"),
            ));
        }
        return Ok(vec![(buf, Origin::Stdin)]);
    }
    let mut inputs = Vec::new();
    for f in files {
        let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        if size > cap {
            return Err((
                EX_NOINPUT,
                format!(
                    "{} exceeds limits.max_stored_size ({cap} bytes)",
                    f.display()
                ),
            ));
        }
        let bytes = std::fs::read(f)
            .map_err(|e| (EX_NOINPUT, format!("cannot read {}: {e}", f.display())))?;
        inputs.push((bytes, Origin::File(f.clone())));
    }
    Ok(inputs)
}

fn request_for(inputs: &[(Vec<u8>, Origin)]) -> Request {
    Request::Ingest {
        items: inputs
            .iter()
            .map(|(b, o)| Item {
                origin: o.to_string(),
                data: control::b64(b),
            })
            .collect(),
    }
}

/// Stores each message, flushes once, and only then reports them: nothing
/// is announced as stored before it is on disk. `after_flush` lets the
/// daemon wake its outbox sender. Returns (exit code, stdout, stderr).
pub fn ingest_all(
    pipeline: &Pipeline,
    items: &[(String, Vec<u8>)],
    after_flush: impl FnOnce(&Store, &crate::batch::BatchReport),
) -> (u8, Vec<u8>, String) {
    let mut out = Vec::new();
    let mut err = String::new();
    let mut code = 0;
    let mut report = crate::batch::BatchReport::default();
    let started = std::time::Instant::now();
    // Many files from a terminal: say how far it got.
    let mut progress =
        (items.len() > 1).then(|| super::maintenance::Progress::new("ingesting messages"));
    for (i, (origin, bytes)) in items.iter().enumerate() {
        if let Some(p) = progress.as_mut() {
            p.update(i as u64, items.len() as u64);
        }
        match pipeline.process(bytes, origin) {
            Ok(p) => {
                let _ = writeln!(out, "{} {}", p.placement.ticket(), p.placement.word());
                report.count(&p.placement, p.verdict);
            }
            Err(e) => {
                report.failed += 1;
                // What was stored before stays stored; running the same
                // command again reports those as duplicates.
                err.push_str(&format!("csirtd: {origin}: not stored: {e}\n"));
                code = EX_TEMPFAIL;
                break;
            }
        }
    }
    if let Some(p) = &progress {
        p.finish();
    }
    if let Err(e) = pipeline.store().flush() {
        return (
            EX_TEMPFAIL,
            Vec::new(),
            format!("csirtd: cannot flush the store: {e}\n"),
        );
    }
    report.commit_time = started.elapsed();
    after_flush(pipeline.store(), &report);
    (code, out, err)
}
