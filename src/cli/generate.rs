//! `csirtd generate`: man pages and shell completions written from the
//! clap definitions themselves, so they cannot drift from the binary that
//! ships them. Hidden: packagers run it (`scripts/deb.sh`), operators read
//! the result with `man csirtd` and Tab.

use anyhow::Context;
use clap::{CommandFactory, Subcommand};
use clap_complete::Shell;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum GenerateCommand {
    /// Write csirtd.1 and one page per subcommand (csirtd-ticket-list.1, …) into DIR
    Man {
        /// Created when missing
        dir: PathBuf,
    },
    /// Write the completion script for SHELL into DIR (csirtd.bash, _csirtd, csirtd.fish, …)
    Completions {
        shell: Shell,
        /// Created when missing
        dir: PathBuf,
    },
}

/// Writes the files and returns one line per file for stdout.
pub fn run(cmd: &GenerateCommand) -> anyhow::Result<String> {
    let mut clap_cmd = super::Cli::command();
    match cmd {
        GenerateCommand::Man { dir } => {
            create(dir)?;
            man_pages(clap_cmd, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .with_context(|| format!("listing {}", dir.display()))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".1"))
                .collect();
            names.sort();
            Ok(names
                .iter()
                .map(|n| format!("{}\n", dir.join(n).display()))
                .collect())
        }
        GenerateCommand::Completions { shell, dir } => {
            create(dir)?;
            let path = clap_complete::generate_to(*shell, &mut clap_cmd, "csirtd", dir)
                .with_context(|| {
                    format!("writing the {shell} completions into {}", dir.display())
                })?;
            Ok(format!("{}\n", path.display()))
        }
    }
}

/// One page per command, as `clap_mangen::generate_to` writes them, but
/// each with the release and the commit's date in its header: a
/// subcommand has no version of its own, which left "cancel " there.
fn man_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<()> {
    fn each(cmd: clap::Command, dir: &Path, date: &str) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            each(sub.clone(), dir, date)?;
        }
        clap_mangen::Man::new(cmd)
            .date(date)
            .source(concat!("csirtd ", env!("CARGO_PKG_VERSION")))
            .manual("csirtd manual")
            .generate_to(dir)
            .map(drop)
    }
    let mut cmd = cmd.disable_help_subcommand(true);
    // Gives each subcommand its display name (csirtd-outbox-retry).
    cmd.build();
    each(cmd, dir, commit_date().unwrap_or_default())
}

/// "2026-12-06" from CSIRTD_COMMIT ("abc1234 2026-12-06"), when it has one.
fn commit_date() -> Option<&'static str> {
    let last = env!("CSIRTD_COMMIT").rsplit(' ').next()?;
    let b = last.as_bytes();
    (b.len() == 10 && b[4] == b'-' && b[7] == b'-').then_some(last)
}

fn create(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}
