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
            clap_mangen::generate_to(clap_cmd, dir)
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

fn create(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}
