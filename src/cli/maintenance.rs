//! `csirtd backup`, `restore` and `migrate`: the store as a whole.

use crate::config::Config;
use crate::store::backup::{self, Manifest};
use crate::store::schema::Found;
use crate::store::{Store, SCHEMA_VERSION};
use anyhow::Context as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// A progress bar on a terminal; nothing otherwise (logs and pipes stay
/// clean).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn new(what: &str) -> Progress {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = terminal.then(|| {
            let bar = indicatif::ProgressBar::new(0);
            let style =
                indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}, {eta} left")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(what.to_string());
            bar
        });
        Progress { bar }
    }

    pub fn update(&mut self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(done);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn describe(m: &Manifest) -> String {
    let entries: u64 = m.trees.iter().map(|t| t.entries).sum();
    let bytes: u64 = m.trees.iter().map(|t| t.bytes).sum();
    format!(
        "{} trees, {entries} entries, {:.1} MB, schema {}",
        m.trees.len(),
        bytes as f64 / 1e6,
        m.schema_version
    )
}

/// `csirtd backup DIR`, here or inside the daemon.
pub fn backup(store: &Store, dir: &Path, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let mut progress = Progress::new("backing up");
    let manifest = store.backup_to(dir, OffsetDateTime::now_utc(), &mut |d, t| {
        progress.update(d, t)
    });
    progress.finish();
    let manifest = manifest?;
    writeln!(
        out,
        "backup written to {}: {}",
        dir.display(),
        describe(&manifest)
    )?;
    tracing::info!(dir = %dir.display(), "backup written");
    Ok(())
}

/// `csirtd restore DIR`: into the configured store path, which must be new.
pub fn restore(cfg: &Config, dir: &Path) -> anyhow::Result<String> {
    let mut progress = Progress::new("restoring");
    let restored = backup::restore(
        dir,
        &cfg.store.path,
        cfg.store.cache_mb,
        OffsetDateTime::now_utc(),
        &mut |d, t| progress.update(d, t),
    );
    progress.finish();
    let restored = restored?;
    let mut text = format!(
        "restored {} entries from {} into {}\n",
        restored.entries,
        dir.display(),
        cfg.store.path.display()
    );
    if restored.held.is_empty() {
        text.push_str("no unsent mail was in the backup\n");
    } else {
        text.push_str(&format!(
            "{} unsent outbox entries wait for release, as they may have been sent since the backup: check each, then `csirtd outbox release ID` (entries: {})\n",
            restored.held.len(),
            restored
                .held
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(text)
}

/// Where `migrate` puts its backup unless told.
fn default_backup_dir(store: &Path, found: u32, now: OffsetDateTime) -> PathBuf {
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let name = store
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store".into());
    store.with_file_name(format!("{name}.backup-schema{found}-{stamp}"))
}

/// `csirtd migrate`: a backup first, then the schema mark. Idempotent.
pub fn migrate(cfg: &Config, backup_dir: Option<&Path>) -> anyhow::Result<String> {
    let store = match Store::open_for_migration(&cfg.store.path, cfg.store.cache_mb) {
        Ok(s) => s,
        Err(e @ crate::store::StoreError::Locked { .. }) => {
            return Err(anyhow::Error::new(e).context(
                "migrate needs the store to itself: stop the daemon (`systemctl stop csirtd`) and run it again",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let found = match store.schema_found()? {
        Found::Version(v) => v,
        Found::Fresh => {
            return Ok(format!(
                "the store at {} is empty: nothing to migrate (it is marked schema {SCHEMA_VERSION} when the daemon first writes it)\n",
                cfg.store.path.display()
            ))
        }
    };
    if found == SCHEMA_VERSION {
        return Ok(format!(
            "the store at {} is at schema {SCHEMA_VERSION}, which this csirtd writes: nothing to migrate\n",
            cfg.store.path.display()
        ));
    }
    let now = OffsetDateTime::now_utc();
    let dir = backup_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_backup_dir(&cfg.store.path, found, now));
    let mut out = Vec::new();
    backup(&store, &dir, &mut out)
        .context("the backup before migrating failed; nothing was changed")?;
    // Every older layout is read as it is (see `store::SCHEMA_VERSION`);
    // what a migration adds is an index (the ticket list's, schema 4),
    // built after the backup and before the mark.
    if found < 4 {
        let n = store.build_summaries()?;
        writeln!(out, "indexed {n} ticket(s) for `ticket list`")?;
        store.flush()?;
    }
    store.mark_schema()?;
    tracing::info!(from = found, to = SCHEMA_VERSION, backup = %dir.display(), "store migrated");
    Ok(format!(
        "{}migrated the store at {} from schema {found} to {SCHEMA_VERSION}; the backup stays in {} (csirtd restore {} brings the old store back, for the old csirtd)\n",
        String::from_utf8_lossy(&out),
        cfg.store.path.display(),
        dir.display(),
        dir.display()
    ))
}
