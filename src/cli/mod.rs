//! The command line: a contract that MTAs, scripts and later issues rely on.

mod advisory;
mod export;
pub mod generate;
mod handling;
mod incident;
pub mod ingest;
mod keys;
pub mod list;
pub(crate) mod lock;
mod maintenance;
mod notify;
pub(crate) mod outbox;
pub(crate) mod purge;
mod reverify;
pub(crate) mod search;
pub(crate) mod show;
pub(crate) mod stats;
pub(crate) mod ticket;
mod web;

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

/// `csirtd --version`: the release and the commit it was built from
/// (CSIRTD_COMMIT, from build.rs: "abc1234 2026-12-06", "-dirty" after
/// the hash for uncommitted changes, or "unknown commit").
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("CSIRTD_COMMIT"), ")");

#[derive(Parser, Debug)]
#[command(
    name = "csirtd",
    version = VERSION,
    about = "The mail front door of a CSIRT: incident reports in, tickets and signed replies out"
)]
pub struct Cli {
    /// Configuration file [default: $CSIRTD_CONFIG, then ./csirtd.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log format; overrides log.format
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Who gave the command: set by a `csirtd` that relays its command
    /// line to the running daemon, which records its client, not itself
    #[arg(long, global = true, hide = true)]
    pub operator: Option<String>,
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
    /// Import and list the OpenPGP keyring
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Judge a ticket's stored mail again with today's keyring (recorded as events)
    Reverify {
        /// 2026-00042 or the whole tag
        id: String,
    },
    /// Find tickets by IP, network, domain, URL, hash, CVE, AS number or subject words
    Search(search::SearchArgs),
    /// Tickets by category, constituency and status, reply and resolution times, top indicators
    Stats(stats::StatsArgs),
    /// Group reports under incidents
    #[command(subcommand)]
    Incident(incident::IncidentCommand),
    /// Send and look at advisories to notification lists
    #[command(subcommand)]
    Advisory(advisory::AdvisoryCommand),
    /// Constituency notifications: send the daily digests
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// Validate the configuration and print a summary
    CheckConfig,
    /// Write a consistent copy of the store into a new directory (through the daemon when it runs)
    Backup {
        /// A new or empty directory
        dir: PathBuf,
    },
    /// Restore a backup into the configured store path, which must be new; unsent mail is held for release
    Restore {
        /// A directory written by `csirtd backup`
        dir: PathBuf,
    },
    /// Bring the store to this csirtd's schema, after a backup (stop the daemon first)
    Migrate {
        /// Where the backup goes [default: beside the store, named after the schema and time]
        #[arg(long)]
        backup_dir: Option<PathBuf>,
    },
    /// Purge expired tickets as [retention] says: mail, texts and personal data go, a tombstone stays
    Purge(purge::PurgeArgs),
    /// Rewrite the store into fresh files, so that purged data leaves the disk (stop the daemon first)
    Compact,
    /// Measure intake throughput and latency on generated reports (use a release build)
    Bench(crate::bench::BenchArgs),
    /// Check an evidence export written by `csirtd ticket export`
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// The web desk: `web passwd NAME` prints a password hash for [[web.users]]
    #[command(subcommand)]
    Web(web::WebCommand),
    /// Man pages and shell completions from these definitions (for packaging)
    #[command(subcommand, hide = true)]
    Generate(generate::GenerateCommand),
}

pub fn main() -> ExitCode {
    let code = main_inner();
    // Log lines still queued for a slow sink get a moment, not forever.
    crate::logging::flush(std::time::Duration::from_secs(2));
    code
}

fn main_inner() -> ExitCode {
    let cli = Cli::parse();
    // Needs no configuration: it runs at packaging time.
    if let Command::Generate(cmd) = &cli.command {
        return match generate::run(cmd) {
            Ok(text) => {
                crate::logging::stdout(text.as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e, 1),
        };
    }
    // Needs no configuration either: a copy of an export is checked
    // wherever it went, by whoever received it.
    if let Command::Export(cmd) = &cli.command {
        return export::run_verify(cmd);
    }
    // Needs no configuration: the hash is pasted into it.
    if let Command::Web(cmd) = &cli.command {
        return match web::run(cmd) {
            Ok(line) => {
                crate::logging::stdout(line.as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e, 1),
        };
    }
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
            crate::logging::stderr(&format!("csirtd: {e}\n"));
            return ExitCode::from(EX_CONFIG);
        }
    };
    crate::logging::init(cli.log_format.unwrap_or(cfg.log.format), &cfg.log.level);
    match cli.command {
        Command::CheckConfig => check_config(&cfg),
        Command::Run { drain } => {
            // The same checks as check-config, before anything starts.
            let report = crate::preflight::check(&cfg);
            if !report.ok() {
                print_problems(&report);
                return ExitCode::from(EX_CONFIG);
            }
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
        Command::Restore { dir } => match maintenance::restore(&cfg, &dir) {
            Ok(text) => {
                crate::logging::stdout(text.as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e, 1),
        },
        Command::Migrate { backup_dir } => {
            match maintenance::migrate(&cfg, backup_dir.as_deref()) {
                Ok(text) => {
                    crate::logging::stdout(text.as_bytes());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e, exit_code_for(&e)),
            }
        }
        Command::Compact => {
            let mut out = Vec::new();
            let result = purge::compact(&cfg, &mut out);
            crate::logging::stdout(&out);
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e, exit_code_for(&e)),
            }
        }
        Command::Purge(args) => run_purge(&cfg, args),
        Command::Keys(cmd) => {
            let mut out = Vec::new();
            let result = keys::run(&cfg, cmd, &mut out);
            crate::logging::stdout(&out);
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e, 1),
            }
        }
        cmd @ (Command::Ticket(_)
        | Command::Outbox(_)
        | Command::Reverify { .. }
        | Command::Search(_)
        | Command::Stats(_)
        | Command::Incident(_)
        | Command::Advisory(_)
        | Command::Notify(_)
        | Command::Backup { .. }) => {
            // Read before the store: an editor session must not hold its lock.
            let input = match &cmd {
                Command::Ticket(t) => match handling::read_input(t) {
                    Ok(i) => i,
                    Err(e) => return fail(&e, exit_code_for(&e)),
                },
                _ => None,
            };
            run_store_command(&cfg, cmd, input)
        }
        Command::Bench(_) | Command::Generate(_) | Command::Export(_) | Command::Web(_) => {
            ExitCode::SUCCESS
        }
    }
}

/// `purge`: here when the store is free (and then compacted), else
/// through the daemon, which compacts at its next start.
fn run_purge(cfg: &Config, args: purge::PurgeArgs) -> ExitCode {
    let compact = args.yes && !args.no_compact;
    let cmd = Command::Purge(args);
    match open_or_forward(cfg, &cmd, None) {
        Ok(lock::Access::Store(store)) => {
            let Command::Purge(args) = cmd else {
                return ExitCode::FAILURE;
            };
            let operator = outbox::local_operator();
            let mut out = Vec::new();
            let result = purge::run(&store, cfg, &args, &mut out, &operator, false);
            crate::logging::stdout(&out);
            drop(store);
            match result {
                Ok(true) if compact => {
                    let mut out = Vec::new();
                    let done = purge::compact(cfg, &mut out);
                    crate::logging::stdout(&out);
                    match done {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(e) => fail(
                            &e.context("the purge is done, but the store was not compacted: run `csirtd compact` with the daemon stopped"),
                            1,
                        ),
                    }
                }
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(&e, exit_code_for(&e)),
            }
        }
        Ok(lock::Access::Daemon(code)) => code,
        Err(lock::LockError::Store(e)) => {
            let code = if e.is_temporary() { EX_TEMPFAIL } else { 1 };
            fail(&e.into(), code)
        }
        Err(e) => fail(&e.into(), EX_TEMPFAIL),
    }
}

fn run_store_command(cfg: &Config, cmd: Command, input: Option<String>) -> ExitCode {
    match open_or_forward(cfg, &cmd, input.clone()) {
        Ok(lock::Access::Store(store)) => {
            let operator = outbox::local_operator();
            let (code, out, err) = execute(&store, cfg, cmd, false, &operator, input);
            crate::logging::stdout(&out);
            crate::logging::stderr(&err);
            ExitCode::from(code)
        }
        Ok(lock::Access::Daemon(code)) => code,
        Err(lock::LockError::Store(e)) => {
            let code = match () {
                _ if e.is_schema() => EX_CONFIG,
                _ if e.is_temporary() => EX_TEMPFAIL,
                _ => 1,
            };
            fail(&e.into(), code)
        }
        Err(e) => fail(&e.into(), EX_TEMPFAIL),
    }
}

/// Runs a store command with its output captured, here or inside the daemon
/// for a forwarded request. Returns (exit code, stdout, stderr).
pub fn execute(
    store: &Store,
    cfg: &Config,
    cmd: Command,
    in_daemon: bool,
    operator: &str,
    input: Option<String>,
) -> (u8, Vec<u8>, String) {
    let mut out = Vec::new();
    let result = match cmd {
        Command::Ticket(c) => ticket::run(store, cfg, c, &mut out, operator, input),
        Command::Outbox(c) => outbox::run(store, cfg, c, &mut out, in_daemon, operator),
        Command::Reverify { id } => reverify::run(store, cfg, &id, &mut out),
        Command::Search(args) => search::run(store, cfg, args, &mut out),
        Command::Stats(args) => stats::run(store, args, &mut out),
        Command::Incident(c) => incident::run(store, cfg, c, &mut out),
        Command::Advisory(c) => advisory::run(store, cfg, c, &mut out, in_daemon),
        Command::Notify(c) => notify::run(store, cfg, c, &mut out),
        Command::Backup { dir } => maintenance::backup(store, &dir, &mut out),
        Command::Purge(args) => {
            purge::run(store, cfg, &args, &mut out, operator, in_daemon).map(|_| ())
        }
        _ => Err(anyhow::anyhow!(
            "this command cannot run through the daemon's control socket"
        )),
    };
    match result {
        Ok(()) => (0, out, String::new()),
        Err(e) => (
            exit_code_for(&e),
            out,
            format!("csirtd: {}\n", said_once(&e)),
        ),
    }
}

/// Handles a forwarded command line inside the daemon, with the text the
/// client read for it (a note or reply).
pub fn execute_forwarded(
    store: &Store,
    cfg: &Config,
    args: &[String],
    input: Option<String>,
) -> (u8, Vec<u8>, String) {
    let argv = std::iter::once("csirtd".to_string()).chain(args.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(cli) => {
            let operator = cli.operator.as_deref().map_or_else(
                || "unknown (a client that did not say)".to_string(),
                outbox::operator_name,
            );
            execute(store, cfg, cli.command, true, &operator, input)
        }
        Err(e) => (EX_USAGE, Vec::new(), e.to_string()),
    }
}

/// Commands that only read the store: they open it without the right to
/// write (an older schema is read as it is; nothing is marked).
fn reads_only(cmd: &Command) -> bool {
    use advisory::AdvisoryCommand as A;
    use outbox::OutboxCommand as O;
    use ticket::TicketCommand as T;
    matches!(
        cmd,
        Command::Ticket(T::List(_) | T::Show { .. } | T::Raw { .. } | T::Export(_))
            | Command::Outbox(O::List { .. })
            | Command::Advisory(A::List { .. } | A::Show { .. })
            | Command::Search(_)
            | Command::Stats(_)
            | Command::Backup { .. }
    ) || matches!(cmd, Command::Purge(a) if a.dry_run)
}

/// The command line without the global options, which only this process needs.
fn forwarded_args() -> Vec<String> {
    // First, before the subcommand: no trailing argument can swallow it.
    let mut out = vec![format!("--operator={}", outbox::local_operator())];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--config" || a == "--log-format" || a == "--operator" {
            args.next();
        } else if a == "--svg" {
            // The daemon writes the file: a relative path means ours, not its.
            out.push(a);
            out.extend(args.next().map(|p| absolute(&p)));
        } else if let Some(p) = a.strip_prefix("--svg=") {
            out.push(format!("--svg={}", absolute(p)));
        } else if a == "--out" {
            // `ticket export --out DIR`: the daemon writes there too.
            out.push(a);
            out.extend(args.next().map(|p| absolute(&p)));
        } else if let Some(p) = a.strip_prefix("--out=") {
            out.push(format!("--out={}", absolute(p)));
        } else if out.len() == 1 && a == "backup" {
            // As for --svg: the daemon writes where this process means.
            out.push(a);
            out.extend(args.next().map(|p| absolute(&p)));
        } else if !(a.starts_with("--config=")
            || a.starts_with("--log-format=")
            || a.starts_with("--operator="))
        {
            out.push(a);
        }
    }
    out
}

fn absolute(p: &str) -> String {
    std::path::absolute(p).map_or_else(|_| p.to_string(), |a| a.display().to_string())
}

/// The store, or the daemon's answer to this command line, waiting a
/// while for a store another process holds (see `lock`).
fn open_or_forward(
    cfg: &Config,
    cmd: &Command,
    input: Option<String>,
) -> Result<lock::Access<ExitCode>, lock::LockError> {
    let request = crate::control::Request::Cli {
        args: forwarded_args(),
        input,
    };
    let socket = crate::control::socket_path(&cfg.store.path);
    let wait = std::time::Duration::from_secs(cfg.store.lock_wait_secs);
    lock::open(
        &cfg.store.path,
        cfg.store.cache_mb,
        reads_only(cmd),
        wait,
        || match crate::control::call(&socket, &request, std::time::Duration::from_secs(60)) {
            Ok(r) => Some(relay(r)),
            Err(crate::control::ControlError::Connect { .. }) => None,
            Err(e) => {
                crate::logging::stderr(&format!(
                    "csirtd: the store at {} is in use by the running daemon, and {e}; try again later\n",
                    cfg.store.path.display()
                ));
                Some(ExitCode::from(EX_TEMPFAIL))
            }
        },
    )
}

pub(crate) fn relay(r: crate::control::Response) -> ExitCode {
    let out = crate::control::unb64(&r.stdout).unwrap_or_default();
    crate::logging::stdout(&out);
    crate::logging::stderr(&r.stderr);
    ExitCode::from(r.code)
}

fn exit_code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<handling::UsageError>().is_some() {
        return EX_USAGE;
    }
    // A handling step's store error is the store's, for the exit code too.
    let store = e.downcast_ref::<StoreError>().or_else(|| {
        match e.downcast_ref::<crate::workflow::desk::DeskError>() {
            Some(crate::workflow::desk::DeskError::Store(se)) => Some(se),
            _ => None,
        }
    });
    match store {
        Some(se) if se.is_schema() => EX_CONFIG,
        Some(se) if se.is_temporary() => EX_TEMPFAIL,
        _ => 1,
    }
}

pub(crate) fn fail(e: &anyhow::Error, code: u8) -> ExitCode {
    crate::logging::stderr(&format!("csirtd: {}\n", said_once(e)));
    ExitCode::from(code)
}

/// `check-config`: the configuration, then every check `run` makes
/// (`preflight`); 78 (EX_CONFIG) with each problem when one fails.
fn check_config(cfg: &Config) -> ExitCode {
    let report = crate::preflight::check(cfg);
    if !report.ok() {
        print_problems(&report);
        return ExitCode::from(EX_CONFIG);
    }
    let mut out = cfg.summary();
    for n in &report.notes {
        out.push_str(&format!("  note      {n}\n"));
    }
    crate::logging::stdout(out.as_bytes());
    ExitCode::SUCCESS
}

fn print_problems(report: &crate::preflight::Report) {
    let mut text = String::new();
    for p in &report.problems {
        text.push_str(&format!("csirtd: {p}\n"));
    }
    text.push_str(&format!(
        "csirtd: {} problem(s) in the configuration; csirtd run refuses to start with it\n",
        report.problems.len()
    ));
    crate::logging::stderr(&text);
}

/// An error and its causes, each said once: many errors name their cause
/// in their own text as well (`cannot open X: not found`), and anyhow's
/// chain would then repeat it (`…: not found: not found`).
pub(crate) fn said_once(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod said_once_tests {
    #[test]
    fn a_cause_already_in_the_text_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "entity not found");
        let e = anyhow::Error::new(io).context("cannot open the store at /x: entity not found");
        assert_eq!(
            super::said_once(&e),
            "cannot open the store at /x: entity not found"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(super::said_once(&e), "outer: inner");
    }
}
