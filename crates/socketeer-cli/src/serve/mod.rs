//! `socketeer serve`: the chat demo. One HTTP server (plain or TLS) answers
//! the page (`/`, `/app.js`, `/style.css`, committed under `web/` and built
//! into the binary), the official `socket.io-client` browser bundle
//! (`/socket.io/socket.io.js`, read from `web/node_modules`, installed by
//! `scripts/serve`), `/healthz`, and the Socket.IO endpoint `/socket.io/`
//! with the chat of [`chat`] on the in-memory adapter, or, with `--redis
//! URL` (or `REDIS_URL`), on the Redis adapter as one node of a cluster
//! ([`chat_cluster`]). `/metrics` answers the library's metrics in the
//! Prometheus text format (unless `--no-metrics`).
//!
//! Ctrl-C or SIGTERM shuts it down gracefully: it stops accepting, closes
//! every Socket.IO connection ("server shutting down"), lets HTTP requests
//! in progress finish, and exits within [`DRAIN_TIMEOUT`]. With TLS,
//! SIGHUP reads `--tls-cert` and `--tls-key` again (a renewed certificate
//! is served to new connections; a bad one is logged and the previous one
//! kept). The connection and session limits of the library are flags
//! (`--max-connections`, `--max-sessions-per-ip`, ...).

pub mod chat;
pub mod chat_cluster;
pub mod chat_server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use socketeer::server::{SocketIo, SocketIoConfig};
use socketeer_engineio::server::RequestBody;
use socketeer_engineio::server::{
    EngineIoConfig, HttpOptions, ReloadableCert, DEFAULT_MAX_HEADER_BYTES,
};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Longest wait for connections to close after a shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Where `npm ci` in `web/` puts the bundle.
const BUNDLE_IN_WEB: &str = "web/node_modules/socket.io-client/dist/socket.io.min.js";

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");

/// The page may load only its own scripts and styles and talk only to its
/// own origin (the WebSocket included).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// Command-line arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Port to listen on (0 picks a free one; the log says which).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// PEM certificate chain: serve HTTPS (and wss://) instead of HTTP.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert. SIGHUP reads both files again: new
    /// connections get the new certificate, open ones stay; if the new
    /// files are bad the error is logged and the previous certificate kept.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Seconds for a client to complete its TLS handshake (a client that
    /// connects and stalls is disconnected).
    #[arg(long, default_value = "10", value_parser = seconds, value_name = "SECS")]
    tls_handshake_timeout: Duration,
    /// Seconds for a client to send a request head (HTTP request or
    /// WebSocket handshake).
    #[arg(long, default_value = "10", value_parser = seconds, value_name = "SECS")]
    handshake_timeout: Duration,
    /// Most TCP connections open at once; further ones wait in the listen
    /// backlog. WebSockets stop counting once open (see --max-sessions).
    #[arg(long, default_value_t = 10_000, value_parser = count, value_name = "N")]
    max_connections: usize,
    /// Most TCP connections open at once from one client IP address; the
    /// requests of one more are answered 503 [default: no limit (behind a
    /// reverse proxy every client has the proxy's address)]
    #[arg(long, value_parser = count, value_name = "N")]
    max_connections_per_ip: Option<usize>,
    /// Most Socket.IO (Engine.IO) sessions at once; one more handshake is
    /// answered 503.
    #[arg(long, default_value_t = 100_000, value_parser = count, value_name = "N")]
    max_sessions: usize,
    /// Most sessions at once from one client IP address; one more
    /// handshake is answered 503 [default: no limit]
    #[arg(long, value_parser = count, value_name = "N")]
    max_sessions_per_ip: Option<usize>,
    /// Most bytes queued for sending to one client; a message that would
    /// go over it disconnects that client ("send queue overflow").
    #[arg(long, default_value_t = 8 << 20, value_parser = count, value_name = "BYTES")]
    max_queued_bytes: usize,
    /// Largest message (WebSocket) or polling request body in bytes; a
    /// client that sends more is disconnected (WebSocket close 1009, polling 413).
    /// Chat messages are far smaller (2000 characters).
    #[arg(long, default_value_t = 100_000, value_parser = count, value_name = "BYTES")]
    max_payload: usize,
    /// Log filter: a level (error, warn, info, debug, trace) or directives
    /// such as `info,socketeer=debug`.
    #[arg(long, default_value = "info", value_name = "FILTER")]
    log_level: String,
    /// The socket.io-client browser bundle served at /socket.io/socket.io.js
    /// [default: web/node_modules/socket.io-client/dist/socket.io.min.js in
    /// the current directory, else in the source tree]
    #[arg(long, value_name = "FILE")]
    client_bundle: Option<PathBuf>,
    /// Redis URL (`redis://host:port`): run as one server of a cluster
    /// sharing this Redis (broadcasts, room counts, presence and history
    /// span every server). Without it, the chat lives in this process.
    #[arg(long, env = "REDIS_URL", value_name = "URL")]
    redis: Option<String>,
    /// Serve no /metrics (and record none).
    #[arg(long)]
    no_metrics: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let filter = match EnvFilter::try_new(&args.log_level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("socketeer serve: bad --log-level {:?}: {e}", args.log_level);
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(args));
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// What every request handler shares.
struct App {
    io: SocketIo,
    chat: Arc<chat_server::Chat>,
    bundle: PathBuf,
    shutting_down: AtomicBool,
    /// The recorder's handle, rendered at `/metrics`.
    metrics: Option<PrometheusHandle>,
}

/// The content type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Installs the Prometheus recorder, before the server is built: the
/// library takes its counters' handles from the recorder installed when
/// the namespaces are made.
fn install_metrics() -> Option<PrometheusHandle> {
    match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => {
            socketeer::server::metrics::describe();
            Some(handle)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot install the metrics recorder: no /metrics");
            None
        }
    }
}

/// Finds the client bundle: the flag, else `web/...` under the current
/// directory, else under the source tree this binary was built from.
fn bundle_path(flag: Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag {
        return p;
    }
    let here = PathBuf::from(BUNDLE_IN_WEB);
    if here.is_file() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(BUNDLE_IN_WEB)
}

/// A count or size given on the command line: a positive integer.
fn count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A timeout given on the command line: seconds, fractions allowed.
fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{e}"))?;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err("must be a positive number of seconds".into()),
    }
}

/// The certificate and key of `--tls-cert` and `--tls-key`, read again on
/// SIGHUP.
fn load_tls(
    cert: &Path,
    key: &Path,
) -> Result<(Arc<ReloadableCert>, tokio_rustls::TlsAcceptor), String> {
    let reloadable = ReloadableCert::from_pem_files(cert, key).map_err(|e| e.to_string())?;
    let acceptor = reloadable.acceptor().map_err(|e| e.to_string())?;
    Ok((reloadable, acceptor))
}

/// Reads the certificate and key again on each SIGHUP. Registered before
/// the server says it listens: from then on SIGHUP no longer ends the
/// process.
#[cfg(unix)]
fn reload_on_sighup(cert: Arc<ReloadableCert>) -> Result<(), std::io::Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let reloading = cert.clone();
            match tokio::task::spawn_blocking(move || reloading.reload()).await {
                Ok(Ok(())) => tracing::info!(
                    cert = %cert.cert_path().display(),
                    key = %cert.key_path().display(),
                    "SIGHUP: TLS certificate reloaded"
                ),
                Ok(Err(e)) => tracing::error!(
                    "SIGHUP: TLS certificate not reloaded, still serving the previous one: {e}"
                ),
                Err(e) => tracing::error!(error = %e, "SIGHUP: the reload failed"),
            }
        }
    });
    Ok(())
}

async fn serve(args: Args) -> ExitCode {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match load_tls(cert, key) {
            Ok((reloadable, acceptor)) => {
                #[cfg(unix)]
                if let Err(e) = reload_on_sighup(reloadable) {
                    tracing::error!(error = %e, "cannot listen for SIGHUP");
                    return ExitCode::FAILURE;
                }
                #[cfg(not(unix))]
                drop(reloadable);
                Some(acceptor)
            }
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let listener = match TcpListener::bind((args.host.as_str(), args.port)).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(host = %args.host, port = args.port, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the listening address");
            return ExitCode::FAILURE;
        }
    };

    let metrics = if args.no_metrics {
        None
    } else {
        install_metrics()
    };
    let limits = chat::Limits::default();
    let mut config = SocketIoConfig {
        engine: EngineIoConfig {
            path: "/socket.io/".into(),
            max_payload: args.max_payload,
            max_sessions: args.max_sessions,
            max_sessions_per_ip: args.max_sessions_per_ip,
            max_queued_bytes: args.max_queued_bytes,
            ..Default::default()
        },
        ..Default::default()
    };
    let cluster = match &args.redis {
        Some(url) => match chat_cluster::Cluster::connect(url, limits).await {
            Ok((adapter, cluster)) => {
                tracing::info!(
                    history = limits.history,
                    "cluster mode: Redis at {}",
                    redacted(url)
                );
                config.adapter = adapter;
                Some(cluster)
            }
            Err(e) => {
                tracing::error!("{}", redacted(&e.to_string()));
                return match e {
                    chat_cluster::ConnectError::Url { .. } => ExitCode::from(2),
                    chat_cluster::ConnectError::Unreachable { .. } => ExitCode::FAILURE,
                };
            }
        },
        None => None,
    };
    let io = SocketIo::new(config);
    let chat = chat_server::attach(&io, limits, cluster);
    let bundle = bundle_path(args.client_bundle);
    if bundle.is_file() {
        tracing::info!(path = %bundle.display(), "client bundle");
    } else {
        tracing::warn!(
            path = %bundle.display(),
            "socket.io-client bundle missing: /socket.io/socket.io.js will answer 404; \
             run ./scripts/serve (or `npm ci` in web/) to install it"
        );
    }
    let app = Arc::new(App {
        io: io.clone(),
        chat,
        bundle,
        shutting_down: AtomicBool::new(false),
        metrics,
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("listening on {scheme}://{addr}/");

    // The one accept loop of socketeer's servers: connection caps, request
    // head and TLS handshake timeouts, graceful drain.
    let options = HttpOptions {
        max_connections: args.max_connections,
        // None by default: `socketeer serve` is often behind a proxy.
        max_connections_per_ip: args.max_connections_per_ip,
        header_read_timeout: args.handshake_timeout,
        tls_handshake_timeout: args.tls_handshake_timeout,
        max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        drain: DRAIN_TIMEOUT,
        tls,
    };
    let handler = {
        let app = app.clone();
        move |req: Request<RequestBody>, _remote: SocketAddr| {
            let app = app.clone();
            async move { route(&app, req).await }
        }
    };
    // One drain deadline from the signal on, for the HTTP connections and
    // the sessions alike.
    let signalled = Arc::new(std::sync::OnceLock::new());
    let stopping = {
        let app = app.clone();
        let signalled = signalled.clone();
        async move {
            shutdown_signal().await;
            let _ = signalled.set(Instant::now());
            tracing::info!(
                sessions = app.io.engine().session_count(),
                "shutting down: closing connections"
            );
            app.shutting_down.store(true, Ordering::Release);
            // `serve_mounted` shuts the server down once this returns.
        }
    };
    // The server at its path (its long-polls routed from their heads),
    // `route` for the rest.
    let served = io
        .clone()
        .serve_mounted(listener, handler, stopping, &options)
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "server failed");
        return ExitCode::FAILURE;
    }
    // The WebSocket sessions are the engine's, not HTTP connections: wait
    // (within the drain timeout) for them to have closed.
    let deadline = *signalled.get_or_init(Instant::now) + DRAIN_TIMEOUT;
    let idle = || io.engine().session_count() == 0;
    while !idle() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if idle() {
        tracing::info!("shut down");
    } else {
        tracing::warn!(
            sessions = io.engine().session_count(),
            "shut down with sessions still open after {DRAIN_TIMEOUT:?}"
        );
    }
    ExitCode::SUCCESS
}

/// `text` with the password of any `redis://user:password@` in it hidden.
fn redacted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                out.push_str(&format!("{user}:***@{host}"));
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    respond(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(body.as_bytes()),
    )
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every request but the Socket.IO server's (`serve_mounted` sends those
/// to the server).
async fn route(app: &App, req: Request<RequestBody>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path {
        "/" | "/index.html" => {
            let mut r = respond(
                StatusCode::OK,
                "text/html; charset=utf-8",
                Bytes::from_static(INDEX_HTML.as_bytes()),
            );
            let h = r.headers_mut();
            h.insert("content-security-policy", HeaderValue::from_static(CSP));
            h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
            r
        }
        "/app.js" => respond(StatusCode::OK, JS, Bytes::from_static(APP_JS.as_bytes())),
        "/style.css" => respond(
            StatusCode::OK,
            "text/css; charset=utf-8",
            Bytes::from_static(STYLE_CSS.as_bytes()),
        ),
        "/socket.io/socket.io.js" | "/socket.io/socket.io.min.js" => file(&app.bundle, JS).await,
        "/socket.io/socket.io.min.js.map" => {
            let mut map = app.bundle.clone().into_os_string();
            map.push(".map");
            file(Path::new(&map), "application/json").await
        }
        "/healthz" => healthz(app),
        "/metrics" => match &app.metrics {
            Some(handle) => {
                handle.run_upkeep();
                respond(
                    StatusCode::OK,
                    PROMETHEUS_TEXT,
                    Bytes::from(handle.render()),
                )
            }
            None => text(StatusCode::NOT_FOUND, "metrics disabled (--no-metrics)\n"),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn file(path: &Path, content_type: &'static str) -> Response<Full<Bytes>> {
    match tokio::fs::read(path).await {
        Ok(data) => respond(StatusCode::OK, content_type, Bytes::from(data)),
        Err(e) => {
            tracing::warn!(
                path = %path.display(),
                error = %e,
                "socket.io-client bundle missing: run ./scripts/serve (or `npm ci` in web/) to install it"
            );
            text(
                StatusCode::NOT_FOUND,
                "socket.io-client bundle not installed: run ./scripts/serve (or `npm ci` in web/)\n",
            )
        }
    }
}

fn healthz(app: &App) -> Response<Full<Bytes>> {
    let (connections, rooms) = app.chat.counts();
    let sessions = app.io.engine().session_count();
    if app.shutting_down.load(Ordering::Acquire) {
        let body = serde_json::json!({ "status": "shutting down", "sessions": sessions });
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            Bytes::from(body.to_string()),
        );
    }
    let body = serde_json::json!({
        "status": "ok",
        "sessions": sessions,
        "connections": connections,
        "rooms": rooms,
    });
    respond(
        StatusCode::OK,
        "application/json",
        Bytes::from(body.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn redis_passwords_are_not_logged() {
        assert_eq!(
            redacted("cannot connect to Redis at redis://u:pw@h:6379/0: refused"),
            "cannot connect to Redis at redis://u:***@h:6379/0: refused"
        );
        assert_eq!(
            redacted("bad Redis URL \"redis://:pw@h\": x"),
            "bad Redis URL \"redis://:***@h\": x"
        );
        assert_eq!(
            redacted("redis://h:1 and rediss://h"),
            "redis://h:1 and rediss://h"
        );
    }
}
