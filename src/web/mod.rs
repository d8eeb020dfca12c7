//! The web desk (`[web]`): the queue, tickets, search and the handling
//! steps in a browser, served by the daemon on its own runtime. What it
//! shows was written by attackers, so: server-rendered askama templates
//! (every value escaped), no inline script or style, a strict CSP, HTML
//! parts never rendered, attachments only as downloads; and what it
//! accepts acts as a handler, so: sessions or a trusted proxy's header,
//! a CSRF token and a same-origin check on every POST, and each step is
//! an event naming the web user. Blocking store work runs in
//! `spawn_blocking`.

pub mod auth;
pub mod headers;
mod pages;
pub mod session;

use crate::config::{Config, WebConfig};
use crate::reload::Current;
use anyhow::Context as _;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use session::{Sessions, Who};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What every handler shares.
pub struct Desk {
    pub current: Arc<Current>,
    /// Told the outbox's high-water mark after a step that queued mail,
    /// so that the sender takes it at once.
    pub durable: Arc<watch::Sender<u64>>,
    /// `[web]` as the desk started: its listener, TLS, session timeouts
    /// and login limits. Users and the proxy settings are read from the
    /// live configuration instead (`current`), which SIGHUP reloads.
    pub web: WebConfig,
    pub sessions: Sessions,
    pub limiter: auth::Limiter,
    /// The TOTP step each user last logged in with.
    pub totp_used: auth::UsedCodes,
    pub tls: bool,
    /// Signs the CSRF tokens of proxy-authenticated users, who have no
    /// session, and the login form's token.
    pub(crate) secret: String,
}

pub type AppState = Arc<Desk>;

impl Desk {
    pub fn new(current: Arc<Current>, durable: Arc<watch::Sender<u64>>, web: WebConfig) -> Desk {
        let idle = Duration::from_secs(web.idle_minutes.saturating_mul(60));
        let max = Duration::from_secs(web.max_hours.saturating_mul(3600));
        let limiter = auth::Limiter::new(
            web.login_max_failures,
            Duration::from_secs(web.login_window_minutes.saturating_mul(60)),
        );
        Desk {
            current,
            durable,
            tls: web.tls(),
            web,
            sessions: Sessions::new(idle, max),
            limiter,
            totp_used: auth::UsedCodes::default(),
            secret: session::random_token(),
        }
    }

    fn handlers(&self) -> Vec<String> {
        self.current
            .get()
            .config()
            .handlers
            .iter()
            .map(|h| h.name.clone())
            .collect()
    }

    /// The CSRF token of a proxy-authenticated user: fixed for the
    /// process, unguessable without its secret.
    fn proxy_csrf(&self, user: &str) -> String {
        use hmac::{Hmac, Mac};
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(self.secret.as_bytes()) else {
            // Any key length is taken; should it not be, no token matches.
            return session::random_token();
        };
        mac.update(b"csirtd web csrf\0");
        mac.update(user.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Tells the sender that queued mail may go.
    pub fn wake_sender(&self) {
        if let Ok(hw) = self.current.get().store().outbox_high_water() {
            let _ = self.durable.send(hw);
        }
    }
}

pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/logout", post(pages::login::logout))
        .route("/queue", get(pages::queue::page))
        .route("/search", get(pages::search::page))
        .route("/ticket/{id}", get(pages::ticket::page))
        .route("/ticket/{id}/message/{n}/raw", get(pages::download::raw))
        .route(
            "/ticket/{id}/message/{n}/attachment/{k}",
            get(pages::download::attachment),
        )
        .route("/ticket/{id}/{verb}", post(pages::actions::act))
        .route("/advisories", get(pages::advisories::list))
        .route("/advisories/{id}", get(pages::advisories::detail))
        .route("/trends", get(pages::trends::page))
        .route("/trends/chart.svg", get(pages::trends::chart))
        .route("/outbox", get(pages::outbox::page))
        .route("/outbox/{id}/{verb}", post(pages::outbox::act))
        .route("/static/desk.css", get(pages::static_css))
        .route("/static/desk.js", get(pages::static_js))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard));
    for layer in headers::layers() {
        app = app.layer(layer);
    }
    app.with_state(state)
}

/// Paths anyone may reach: the login form and the static files.
fn public(path: &str) -> bool {
    path == "/login" || path.starts_with("/static/")
}

/// Every request: POSTs from another site are refused; the rest need a
/// session (or the trusted proxy's header), else GETs go to the login
/// page and everything else is refused.
async fn guard(State(desk): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let path = req.uri().path().to_string();
    let reading = matches!(*req.method(), Method::GET | Method::HEAD);
    if !reading {
        if let Some(why) = headers::cross_site(req.headers()) {
            tracing::warn!(%peer, path, why, "web: cross-site request refused");
            if path == "/login" {
                pages::login::count_refusal(&desk, peer, None, "a cross-site request");
            }
            return pages::refused(StatusCode::FORBIDDEN, "Cross-site requests are refused.");
        }
    }
    let who = authenticate(&desk, &req, peer);
    if let Some(w) = &who {
        req.extensions_mut().insert(w.clone());
    }
    if public(&path) || who.is_some() {
        return next.run(req).await;
    }
    if reading {
        Redirect::to("/login").into_response()
    } else {
        tracing::warn!(%peer, path, "web: request without a session refused");
        pages::refused(StatusCode::FORBIDDEN, "Log in first.")
    }
}

fn authenticate(desk: &Desk, req: &Request, peer: std::net::IpAddr) -> Option<Who> {
    let live = desk.current.get();
    let web = &live.config().web;
    if let Some(name) = &web.proxy_header {
        let value = req
            .headers()
            .get(name.as_str())
            .and_then(|v| v.to_str().ok());
        let (decision, handler) = auth::proxied(web, &desk.handlers(), peer, value);
        match decision {
            auth::Proxied::User(user) => {
                let handler = handler.unwrap_or_default();
                return Some(Who {
                    csrf: desk.proxy_csrf(&user),
                    user,
                    handler,
                    session: None,
                });
            }
            auth::Proxied::Untrusted => tracing::warn!(
                %peer,
                header = %name,
                "web: proxy header from an address not in web.trusted_proxies; ignored"
            ),
            auth::Proxied::Unknown(user) => tracing::warn!(
                %peer,
                user,
                "web: the proxy names a user who is neither in [[web.users]] nor in [[handlers]]; refused"
            ),
            auth::Proxied::Absent => {}
        }
    }
    let id = session::cookie_of(req.headers())?;
    let who = desk.sessions.get(&id)?;
    // A user removed from [[web.users]] (or mapped to another handler)
    // by a reload loses the sessions opened before it.
    if !auth::still_configured(web, &who.user, &who.handler) {
        desk.sessions.remove(&id);
        tracing::warn!(user = %who.user, %peer, "web: session ended: the user is no longer in [[web.users]] as handler {}", who.handler);
        return None;
    }
    Some(who)
}

/// Binds `[web] listen` and serves until shutdown; None when the desk is
/// off. Errors name the configuration key.
pub async fn start(
    cfg: &Config,
    current: Arc<Current>,
    durable: Arc<watch::Sender<u64>>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(addr) = cfg.web.listen_addr() else {
        return Ok(None);
    };
    let tls = match (&cfg.web.tls_cert, &cfg.web.tls_key) {
        (Some(c), Some(k)) => Some(tls_acceptor(c, k)?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("web.listen: cannot listen on {addr}"))?;
    let desk = Arc::new(Desk::new(current, durable, cfg.web.clone()));
    let app = router(desk);
    tracing::info!(%addr, tls = tls.is_some(), "web desk listening");
    Ok(Some(tokio::spawn(serve(listener, tls, app, shutdown))))
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("web.tls_cert: cannot read {}: {e}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("web.tls_cert: {} holds no PEM certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        anyhow::anyhow!(
            "web.tls_key: cannot read a PEM private key from {}: {e}",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("web.tls_cert: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| anyhow::anyhow!("web.tls_key: does not fit web.tls_cert: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts until shutdown; each connection is HTTP/1.1 with a header
/// timeout (a slow client cannot hold a task forever), the peer address
/// handed to the handlers as `ConnectInfo`.
async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("web: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(stream)) => connection(stream, peer, app).await,
                        Ok(Err(e)) => tracing::debug!(%peer, "web: TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "web: TLS handshake timed out"),
                    }
                }
                None => connection(tcp, peer, app).await,
            }
        });
    }
    tracing::info!("web desk stopped");
}

async fn connection<S>(stream: S, peer: SocketAddr, app: Router)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(20))
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, "web: connection ended: {e}");
    }
}

/// `Cache-Control` for the static files: they change only with the binary.
pub(crate) const STATIC_CACHE: (header::HeaderName, &str) =
    (header::CACHE_CONTROL, "private, max-age=3600");
