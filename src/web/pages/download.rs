//! A message's raw bytes and its attachments, only ever as downloads
//! (`application/octet-stream`, `Content-Disposition: attachment`, a
//! sandboxing CSP): the browser saves them and renders nothing.

use super::{blocking, refused};
use crate::model::TicketId;
use crate::web::headers::download;
use crate::web::session::Who;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use mail_parser::{MessageParser, MimeHeaders, PartType};

/// The `k`th attachment (as `show::parts` lists them): name and bytes.
pub fn attachment_of(raw: &[u8], k: usize) -> Option<(String, Vec<u8>)> {
    let parse = std::panic::AssertUnwindSafe(|| {
        let m = MessageParser::default().parse(raw)?;
        let p = m.attachments().nth(k)?;
        let bytes: &[u8] = match &p.body {
            PartType::Message(inner) => inner.raw_message(),
            _ => p.contents(),
        };
        Some((
            p.attachment_name().unwrap_or("attachment").to_string(),
            bytes.to_vec(),
        ))
    });
    std::panic::catch_unwind(parse).ok().flatten()
}

/// The raw bytes of message `n` (from 1) of ticket `id`.
fn raw_of(
    desk: &AppState,
    id: TicketId,
    n: usize,
) -> impl FnOnce() -> anyhow::Result<Option<Vec<u8>>> {
    let pipeline = desk.current.get();
    move || {
        let store = pipeline.store();
        let messages = store.messages(id)?;
        let Some(m) = n.checked_sub(1).and_then(|i| messages.get(i)) else {
            return Ok(None);
        };
        Ok(store.raw(m.seq)?)
    }
}

pub async fn raw(
    State(desk): State<AppState>,
    Extension(who): Extension<Who>,
    Path((id, n)): Path<(String, usize)>,
) -> Response {
    let Ok(tid) = id.parse::<TicketId>() else {
        return refused(StatusCode::NOT_FOUND, "There is no such ticket.");
    };
    match blocking(raw_of(&desk, tid, n)).await {
        Ok(Some(bytes)) => {
            tracing::info!(user = %who.user, ticket = %tid, message = n, "web: raw message downloaded");
            download(bytes, &format!("{tid}-message-{n}.eml"))
        }
        Ok(None) => refused(StatusCode::NOT_FOUND, "There is no such message."),
        Err(r) => r,
    }
}

pub async fn attachment(
    State(desk): State<AppState>,
    Extension(who): Extension<Who>,
    Path((id, n, k)): Path<(String, usize, usize)>,
) -> Response {
    let Ok(tid) = id.parse::<TicketId>() else {
        return refused(StatusCode::NOT_FOUND, "There is no such ticket.");
    };
    let read = raw_of(&desk, tid, n);
    let found = blocking(move || Ok(read()?.and_then(|raw| attachment_of(&raw, k)))).await;
    match found {
        Ok(Some((name, bytes))) => {
            tracing::info!(user = %who.user, ticket = %tid, message = n, attachment = k, "web: attachment downloaded");
            download(bytes, &name)
        }
        Ok(None) => refused(StatusCode::NOT_FOUND, "There is no such attachment."),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_are_found_by_position() {
        let raw = b"From: a@x.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"x.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--b--\r\n";
        assert_eq!(
            attachment_of(raw, 0),
            Some(("x.zip".to_string(), b"PK\x03\x04".to_vec()))
        );
        assert_eq!(attachment_of(raw, 1), None);
    }
}
