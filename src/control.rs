//! The running daemon holds the store (sled allows one process). Operator
//! commands and MTA pipes that find it locked hand their request to the
//! daemon over a Unix socket inside the store directory instead, so `ticket
//! list` and `ingest` work whether or not the daemon runs.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn socket_path(store: &Path) -> PathBuf {
    store.join("control.sock")
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// A command line (after the global options) to run inside the daemon,
    /// with the text of a note or reply that the client read (its file or
    /// editor is the client's, not the daemon's).
    Cli {
        args: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<String>,
    },
    /// Messages read by the client (files may not be readable by the daemon).
    Ingest { items: Vec<Item> },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Item {
    pub origin: String,
    /// Base64 of the raw message.
    pub data: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub code: u8,
    /// Base64: `ticket raw` output is arbitrary bytes.
    pub stdout: String,
    pub stderr: String,
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot reach the running daemon at {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create the control socket {path}: {source} (a Unix socket path must be under 108 bytes: choose a shorter store.path)")]
    Bind {
        path: String,
        source: std::io::Error,
    },
    #[error("the daemon did not answer properly: {0}")]
    Protocol(String),
}

/// Sends one request and waits for the answer.
pub fn call(path: &Path, request: &Request, timeout: Duration) -> Result<Response, ControlError> {
    let shown = path.display().to_string();
    let connect = |source| ControlError::Connect {
        path: shown.clone(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(connect)?;
    stream.set_read_timeout(Some(timeout)).map_err(connect)?;
    stream.set_write_timeout(Some(timeout)).map_err(connect)?;
    let mut line =
        serde_json::to_vec(request).map_err(|e| ControlError::Protocol(e.to_string()))?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|e| ControlError::Protocol(e.to_string()))?;
    let mut answer = Vec::new();
    BufReader::new(stream)
        .read_until(b'\n', &mut answer)
        .map_err(|e| ControlError::Protocol(e.to_string()))?;
    serde_json::from_slice(&answer).map_err(|e| ControlError::Protocol(e.to_string()))
}

/// Serves requests until `shutdown`; each request runs on a blocking thread
/// through `handle`. Requests are bounded by `max_request` bytes.
/// Creates the socket, owner-only. Done before the daemon reports itself
/// running: without it every `ingest` would fail for as long as it runs.
pub fn bind(path: &Path) -> Result<tokio::net::UnixListener, ControlError> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |source| ControlError::Bind {
        path: path.display().to_string(),
        source,
    };
    // A socket left by a crashed daemon would make bind fail.
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    Ok(listener)
}

pub async fn serve<F>(
    listener: tokio::net::UnixListener,
    path: PathBuf,
    max_request: usize,
    handle: std::sync::Arc<F>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()>
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
{
    tracing::info!(socket = %path.display(), "control socket ready");
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            a = listener.accept() => a,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                continue;
            }
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let std_stream = match stream.into_std() {
                Ok(s) => s,
                Err(e) => return tracing::warn!(error = %e, "control connection lost"),
            };
            let result =
                tokio::task::spawn_blocking(move || serve_one(std_stream, max_request, &*handle))
                    .await;
            if let Ok(Err(e)) = result {
                tracing::warn!(error = %e, "control request failed");
            }
        });
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

fn serve_one<F>(stream: UnixStream, max_request: usize, handle: &F) -> std::io::Result<()>
where
    F: Fn(Request) -> Response,
{
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut line = Vec::new();
    BufReader::new(stream.try_clone()?)
        .take(max_request as u64 + 1)
        .read_until(b'\n', &mut line)?;
    let response = if line.len() > max_request {
        Response {
            code: crate::cli::EX_NOINPUT,
            stdout: String::new(),
            stderr: format!("request exceeds {max_request} bytes (limits.max_stored_size)\n"),
        }
    } else {
        match serde_json::from_slice::<Request>(&line) {
            Ok(r) => handle(r),
            Err(e) => Response {
                code: crate::cli::EX_USAGE,
                stdout: String::new(),
                stderr: format!("malformed control request: {e}\n"),
            },
        }
    };
    let mut out = serde_json::to_vec(&response).unwrap_or_default();
    out.push(b'\n');
    let mut stream = stream;
    stream.write_all(&out)
}
