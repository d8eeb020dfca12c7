//! `csirtd web passwd NAME`: the argon2id hash of a web desk password, as
//! the line to paste into that user's `[[web.users]]` entry. Needs no
//! configuration: it can run on the machine where the password is typed.

use std::io::{BufRead, IsTerminal, Read, Write};

#[derive(clap::Subcommand, Debug)]
pub enum WebCommand {
    /// Read a password (without echo on a terminal, else one line of standard input) and print its argon2id hash for [[web.users]] password_hash
    Passwd {
        /// The web user's name, as in [[web.users]] name
        name: String,
    },
}

/// Longer is a file piped by mistake.
const MAX_PASSWORD: usize = 1024;

pub fn run(cmd: &WebCommand) -> anyhow::Result<String> {
    let WebCommand::Passwd { name } = cmd;
    let password = if std::io::stdin().is_terminal() {
        let first = prompt(&format!("Password for web user {name}: "))?;
        let again = prompt("Again: ")?;
        if first != again {
            anyhow::bail!("the two passwords differ; nothing was printed");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .take(MAX_PASSWORD as u64 + 2)
            .read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if password.is_empty() {
        anyhow::bail!("the password is empty; nothing was printed");
    }
    if password.len() > MAX_PASSWORD {
        anyhow::bail!("the password is longer than {MAX_PASSWORD} bytes");
    }
    let hash = crate::web::auth::hash_password(&password)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    let _ = writeln!(
        std::io::stderr(),
        "paste this line into the [[web.users]] entry with name = \"{}\":",
        name.escape_default()
    );
    Ok(format!("password_hash = \"{hash}\"\n"))
}

/// One line from the terminal with echo off, restored whatever happens.
fn prompt(text: &str) -> anyhow::Result<String> {
    let mut err = std::io::stderr();
    write!(err, "{text}")?;
    err.flush()?;
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for our own stdin.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is our standard input, `old` a valid termios to fill.
    if unsafe { libc::tcgetattr(fd, &mut old) } != 0 {
        anyhow::bail!(
            "cannot read the terminal's settings: {}",
            std::io::Error::last_os_error()
        );
    }
    let mut quiet = old;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above; `quiet` is a copy of the terminal's own settings.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
