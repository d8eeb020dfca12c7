//! `csirtd ingest [FILE…|-]`: what an MTA pipe calls (compare rt-mailgate).
//! One line per message; exit 75 (EX_TEMPFAIL) when the store cannot be
//! used right now, so that the MTA keeps the message and retries. While the
//! daemon runs, the messages are handed to it over the control socket.

use super::{EX_NOINPUT, EX_TEMPFAIL};
use crate::config::Config;
use crate::control::{self, Item, Request};
use crate::intake::Origin;
use crate::store::{Store, StoreError};
use crate::workflow::pipeline::Pipeline;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub fn run(cfg: &Config, files: &[PathBuf]) -> ExitCode {
    let inputs = match read_inputs(cfg, files) {
        Ok(i) => i,
        Err((code, msg)) => {
            eprintln!("csirtd: {msg}");
            return ExitCode::from(code);
        }
    };
    let store = match Store::open(&cfg.store.path, cfg.store.cache_mb) {
        Ok(s) => s,
        Err(StoreError::Locked { .. }) => return forward(cfg, inputs),
        Err(e) => {
            eprintln!("csirtd: {e}");
            return ExitCode::from(if e.is_temporary() { EX_TEMPFAIL } else { 1 });
        }
    };
    let pipeline = match Pipeline::new(store, cfg.clone()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("csirtd: {e}");
            return ExitCode::from(super::EX_CONFIG);
        }
    };
    let items: Vec<(String, Vec<u8>)> = inputs
        .into_iter()
        .map(|(b, o)| (o.to_string(), b))
        .collect();
    let (code, out, err) = ingest_all(&pipeline, &items, |_| {});
    let _ = std::io::stdout().write_all(&out);
    eprint!("{err}");
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

fn forward(cfg: &Config, inputs: Vec<(Vec<u8>, Origin)>) -> ExitCode {
    let request = Request::Ingest {
        items: inputs
            .iter()
            .map(|(b, o)| Item {
                origin: o.to_string(),
                data: control::b64(b),
            })
            .collect(),
    };
    match control::call(
        &control::socket_path(&cfg.store.path),
        &request,
        Duration::from_secs(120),
    ) {
        Ok(r) => super::relay(r),
        Err(e) => {
            eprintln!(
                "csirtd: the store is in use by the running daemon, and {e}; the MTA should retry"
            );
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

/// Stores each message, flushes once, and only then reports them: nothing
/// is announced as stored before it is on disk. `after_flush` lets the
/// daemon wake its outbox sender. Returns (exit code, stdout, stderr).
pub fn ingest_all(
    pipeline: &Pipeline,
    items: &[(String, Vec<u8>)],
    after_flush: impl FnOnce(&Store),
) -> (u8, Vec<u8>, String) {
    let mut out = Vec::new();
    let mut err = String::new();
    let mut code = 0;
    for (origin, bytes) in items {
        match pipeline.process(bytes, origin) {
            Ok(p) => {
                let _ = writeln!(out, "{} {}", p.placement.ticket(), p.placement.word());
            }
            Err(e) => {
                // What was stored before stays stored; running the same
                // command again reports those as duplicates.
                err.push_str(&format!("csirtd: {origin}: not stored: {e}\n"));
                code = EX_TEMPFAIL;
                break;
            }
        }
    }
    if let Err(e) = pipeline.store().flush() {
        return (
            EX_TEMPFAIL,
            Vec::new(),
            format!("csirtd: cannot flush the store: {e}\n"),
        );
    }
    after_flush(pipeline.store());
    (code, out, err)
}
