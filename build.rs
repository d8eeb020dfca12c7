//! Puts the git commit into `csirtd --version` (CSIRTD_COMMIT).
//!
//! Runs git when there is a repository of this very crate (a source tarball
//! has none, and one unpacked inside another repository must not take that
//! repository's commit); otherwise "unknown commit". CSIRTD_COMMIT in the
//! environment (a distribution's build from a tarball) wins.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CSIRTD_COMMIT");
    // Every change under src/ recompiles the crate anyway, so rerunning
    // this script then costs nothing extra, and keeps "-dirty" true to the
    // sources. Edits elsewhere (tests/, README) do not rerun it: that is
    // what keeps a test-only change from rebuilding the library.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let commit = match std::env::var("CSIRTD_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => from_git().unwrap_or_else(|| "unknown commit".to_string()),
    };
    println!("cargo:rustc-env=CSIRTD_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(["--no-optional-locks"])
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn from_git() -> Option<String> {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    if !same_dir(&top, &manifest_dir) {
        return None;
    }
    // A new commit or checkout moves HEAD or the ref it names. In a
    // worktree these live in different git directories; --git-path knows.
    watch(Path::new(&git(&["rev-parse", "--git-path", "HEAD"])?));
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        let loose = PathBuf::from(git(&["rev-parse", "--git-path", &r])?);
        if loose.exists() {
            watch(&loose);
        } else {
            // Packed (after git gc): the next commit writes the loose file
            // into this directory. Not the directory otherwise: it holds
            // every branch, and another worktree's commit would rebuild us.
            watch(&PathBuf::from(git(&[
                "rev-parse",
                "--git-path",
                "packed-refs",
            ])?));
            if let Some(dir) = loose.parent() {
                watch(dir);
            }
        }
    }
    let hash = git(&["rev-parse", "--short=7", "HEAD"])?;
    let date = git(&["log", "-1", "--format=%cs", "HEAD"])?;
    let dirty = match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if !s.is_empty() => "-dirty",
        _ => "",
    };
    Some(format!("{hash}{dirty} {date}"))
}

/// Only paths that exist: cargo takes a missing one as changed at every
/// build, which would recompile the crate each time.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
