//! `csirtd ingest [FILE…|-]`: what an MTA pipe calls (compare rt-mailgate).
//! One line per message; exit 75 (EX_TEMPFAIL) when the store cannot be
//! used right now, so that the MTA keeps the message and retries.

use super::{EX_NOINPUT, EX_TEMPFAIL};
use crate::config::Config;
use crate::intake::Origin;
use crate::store::Store;
use crate::workflow::pipeline::Pipeline;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(cfg: &Config, files: &[PathBuf]) -> ExitCode {
    let mut inputs: Vec<(Vec<u8>, Origin)> = Vec::new();
    let stdin_only = files.is_empty() || (files.len() == 1 && files[0].as_os_str() == "-");
    if stdin_only {
        let mut buf = Vec::new();
        // Bounded: a pipe that never ends must not exhaust memory. Anything
        // up to the store limit is kept (flagged oversized past the parse limit).
        let cap = cfg.limits.max_stored_size as u64;
        if let Err(e) = std::io::stdin().take(cap + 1).read_to_end(&mut buf) {
            eprintln!("csirtd: cannot read standard input: {e}");
            return ExitCode::from(EX_TEMPFAIL);
        }
        if buf.len() as u64 > cap {
            eprintln!("csirtd: message on standard input exceeds limits.max_stored_size ({cap} bytes); refused so that the MTA bounces it");
            return ExitCode::from(EX_NOINPUT);
        }
        inputs.push((buf, Origin::Stdin));
    } else {
        for f in files {
            match std::fs::read(f) {
                Ok(b) => inputs.push((b, Origin::File(f.clone()))),
                Err(e) => {
                    eprintln!("csirtd: cannot read {}: {e}", f.display());
                    return ExitCode::from(EX_NOINPUT);
                }
            }
        }
    }

    let store = match Store::open(&cfg.store.path, cfg.store.cache_mb) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("csirtd: {e}");
            return ExitCode::from(if e.is_temporary() { EX_TEMPFAIL } else { 1 });
        }
    };
    let pipeline = match Pipeline::new(store.clone(), cfg.clone()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("csirtd: {e}");
            return ExitCode::from(super::EX_CONFIG);
        }
    };
    let mut lines = Vec::new();
    let mut code = ExitCode::SUCCESS;
    for (bytes, origin) in &inputs {
        match pipeline.process(bytes, &origin.to_string()) {
            Ok(p) => lines.push(format!("{} {}", p.placement.ticket(), p.placement.word())),
            Err(e) => {
                // What was stored before stays stored; running the same
                // command again reports those as duplicates.
                eprintln!("csirtd: {origin}: not stored: {e}");
                code = ExitCode::from(EX_TEMPFAIL);
                break;
            }
        }
    }
    // Nothing is reported stored before it is on disk.
    if let Err(e) = store.flush() {
        eprintln!("csirtd: cannot flush the store: {e}");
        return ExitCode::from(EX_TEMPFAIL);
    }
    for l in lines {
        println!("{l}");
    }
    code
}
