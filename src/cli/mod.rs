//! The command line: a contract that MTAs, scripts and later issues rely on.

mod ingest;
mod outbox;
mod ticket;

use crate::config::{self, Config, LogFormat};
use crate::store::{Store, StoreError};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// sysexits.h: the MTA keeps the message and retries later.
pub const EX_TEMPFAIL: u8 = 75;
pub const EX_USAGE: u8 = 64;
pub const EX_NOINPUT: u8 = 66;
pub const EX_CONFIG: u8 = 78;

#[derive(Parser, Debug)]
#[command(
    name = "csirtd",
    version,
    about = "The mail front door of a CSIRT: incident reports in, tickets and signed replies out"
)]
pub struct Cli {
    /// Configuration file [default: $CSIRTD_CONFIG, then ./csirtd.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log format; overrides log.format
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: watch the intake, store tickets, deliver the outbox
    Run {
        /// Process what is waiting, deliver what is due, then exit
        #[arg(long)]
        drain: bool,
    },
    /// Store messages from files or standard input, as an MTA pipe would
    Ingest {
        /// Message files; none or `-` reads one message from standard input
        files: Vec<PathBuf>,
    },
    /// Look at and change tickets
    #[command(subcommand)]
    Ticket(ticket::TicketCommand),
    /// Look at and deliver the outgoing queue
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    /// Validate the configuration and print a summary
    CheckConfig,
    /// Measure intake throughput and latency on generated reports (use a release build)
    Bench(crate::bench::BenchArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Bench(args) = &cli.command {
        crate::logging::init(cli.log_format.unwrap_or_default(), "warn");
        return match crate::bench::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e, 1),
        };
    }
    let path = config::locate(cli.config.as_deref());
    let cfg = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("csirtd: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    crate::logging::init(cli.log_format.unwrap_or(cfg.log.format), &cfg.log.level);
    match cli.command {
        Command::CheckConfig => {
            print!("{}", cfg.summary());
            ExitCode::SUCCESS
        }
        Command::Run { drain } => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return fail(&e.into(), 1),
            };
            match rt.block_on(crate::daemon::run(cfg, drain)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e, exit_code_for(&e)),
            }
        }
        Command::Ingest { files } => ingest::run(&cfg, &files),
        Command::Ticket(cmd) => with_store(&cfg, |store| ticket::run(store, &cfg, cmd)),
        Command::Outbox(cmd) => with_store(&cfg, |store| outbox::run(store, &cfg, cmd)),
        Command::Bench(_) => unreachable!("handled above"),
    }
}

fn exit_code_for(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<StoreError>() {
        Some(se) if se.is_temporary() => EX_TEMPFAIL,
        _ => 1,
    }
}

pub(crate) fn fail(e: &anyhow::Error, code: u8) -> ExitCode {
    eprintln!("csirtd: {e:#}");
    ExitCode::from(code)
}

fn with_store(cfg: &Config, f: impl FnOnce(&Store) -> anyhow::Result<ExitCode>) -> ExitCode {
    let store = match Store::open(&cfg.store.path, cfg.store.cache_mb) {
        Ok(s) => s,
        Err(e) => {
            let code = if e.is_temporary() { EX_TEMPFAIL } else { 1 };
            return fail(&e.into(), code);
        }
    };
    match f(&store) {
        Ok(code) => code,
        Err(e) => fail(&e, exit_code_for(&e)),
    }
}
