//! `handshakes`: opening handshakes per second. K clients each loop over
//! connect (TCP), TLS handshake (`wss://`: a full one, no resumption),
//! WebSocket upgrade, closing handshake (a close frame and the server's
//! reply), and wait for the server to close the TCP connection (so the
//! TIME_WAIT stays with the server and the generator's ports are not used
//! up). Reports handshakes completed per second, their latency (connect to
//! the `101` response) and the server's CPU time per handshake (with
//! `--count-syscalls`, its system calls per handshake too).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::LocalSet;

use super::net::{self, Connector, Target};
use super::tls::{self, Tls};
use super::{bounded, bump, HandshakeArgs, Phase, Progress, Report, RunState};

/// The mask of the close frame (any value is valid).
const MASK: [u8; 4] = [0x5a, 0x11, 0xc3, 0x08];

/// How long one connection may take, from connect to the server's close.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

struct Shared {
    run: RunState,
    /// Handshakes completed in the measured phase.
    completed: Cell<u64>,
    /// Attempts that failed in any phase.
    failed: Cell<u64>,
    latency: RefCell<Histogram<u64>>,
}

/// Runs the scenario.
pub fn run(args: HandshakeArgs) -> Result<Report, String> {
    let common = &args.common;
    let in_flight = bounded("in-flight", args.in_flight, super::MAX_CONNS)?;
    let target = Target::parse_any(&common.url)?;
    let tls = tls::for_target(&target, common.ca.as_deref())?.map(Rc::new);
    super::prepare(common)?;
    let runtime = super::runtime(common.coalesce_us)?;
    let max_failures = args.max_failures;
    let mut report = LocalSet::new().block_on(&runtime, async {
        let connector = Rc::new(Connector::new(&target, common.source_addrs).await?);
        let shared = Rc::new(Shared {
            run: RunState::new(),
            completed: Cell::new(0),
            failed: Cell::new(0),
            latency: RefCell::new(super::histogram()?),
        });
        let progress = Progress::new(common, 0, "");
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let (shared, connector, target) =
                    (shared.clone(), connector.clone(), target.clone());
                let tls = tls.clone();
                tokio::task::spawn_local(async move {
                    while shared.run.phase.get() != Phase::Done {
                        let attempt = one(&connector, &target, tls.as_deref());
                        let outcome = tokio::time::timeout(ATTEMPT_TIMEOUT, attempt)
                            .await
                            .unwrap_or_else(|_| Err(format!("not done in {ATTEMPT_TIMEOUT:?}")));
                        match outcome {
                            Ok(latency) => {
                                bump(&shared.run.replies, 1);
                                if shared.run.phase.get() == Phase::Measure {
                                    bump(&shared.completed, 1);
                                    let nanos =
                                        u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
                                    shared.latency.borrow_mut().saturating_record(nanos);
                                }
                            }
                            Err(e) => {
                                bump(&shared.failed, 1);
                                if shared.failed.get() > max_failures {
                                    shared.run.fail(format!(
                                        "more than {max_failures} attempts failed; the last: {e}"
                                    ));
                                    return;
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        let (start, end) = shared
            .run
            .warm_up_and_measure(
                &args.timing,
                &super::Probes::server(common.server_pid)
                    .count_syscalls(args.timing.count_syscalls),
                &progress,
            )
            .await?;
        super::join_all(tasks).await;
        let completed = shared.completed.get();
        if completed == 0 {
            return Err("no handshake completed during the measured phase".to_string());
        }
        let mut report = Report {
            messages: completed,
            deliveries: completed,
            failed: Some(shared.failed.get()),
            ..Report::default()
        };
        start.fill(&end, completed, &mut report)?;
        report.msgs_per_s = completed as f64 / report.elapsed_s;
        report.deliveries_per_s = report.msgs_per_s;
        super::fill_latency(&shared.latency.borrow(), &mut report);
        Ok(report)
    })?;
    report.scenario = "handshakes";
    report.transport = if target.tls { "wss" } else { "websocket" };
    report.label = common.label.clone();
    report.round = common.round;
    report.url = common.url.clone();
    report.conns = in_flight;
    report.depth = 1;
    report.source_addrs = common.source_addrs;
    report.coalesce_us = common.coalesce_us;
    report.warmup_s = args.timing.warmup;
    report.duration_s = args.timing.duration;
    Ok(report)
}

/// One connection, from connect to the server's close; the time from
/// connect to the `101` response.
async fn one(
    connector: &Connector,
    target: &Target,
    tls: Option<&Tls>,
) -> Result<Duration, String> {
    let start = Instant::now();
    let tcp = connector.connect().await?;
    match tls {
        None => upgrade_and_close(tcp, target, start).await,
        Some(tls) => upgrade_and_close(tls.connect(tcp).await?, target, start).await,
    }
}

async fn upgrade_and_close<S>(
    mut stream: S,
    target: &Target,
    start: Instant,
) -> Result<Duration, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = net::ws_handshake(&mut stream, target).await?;
    let latency = start.elapsed();
    stream
        .write_all(&net::close_frame(MASK))
        .await
        .map_err(|e| format!("send close: {e}"))?;
    stream
        .flush()
        .await
        .map_err(|e| format!("send close: {e}"))?;
    // Read up to the server's close frame ...
    loop {
        let mut pos = 0;
        while let Some(head) = net::parse_frame(buf.get(pos..).unwrap_or_default(), 125)? {
            if head.opcode == net::OP_CLOSE {
                // ... then until it closes the connection (a TLS stream may
                // end without close_notify: an error here is that end).
                let mut rest = [0u8; 256];
                while let Ok(n) = stream.read(&mut rest).await {
                    if n == 0 {
                        break;
                    }
                }
                return Ok(latency);
            }
            pos += head.total_len();
        }
        buf.drain(..pos);
        buf.reserve(256);
        let n = stream
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("read close: {e}"))?;
        if n == 0 {
            return Err("server closed before its close frame".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A TLS server on 127.0.0.1 that answers one upgrade with `status` and,
    /// after a 101, the client's close frame with its own, then closes.
    async fn server(status: &'static str) -> (String, std::path::PathBuf) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let ca = std::env::temp_dir().join(format!(
            "socketeer-bench-handshakes-{}-{status}.pem",
            std::process::id()
        ));
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("wss://localhost:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(tls.read_u8().await.unwrap());
            }
            let response = format!(
                "HTTP/1.1 {status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
            );
            tls.write_all(response.as_bytes()).await.unwrap();
            if status.starts_with("101") {
                let mut close = [0u8; 8];
                tls.read_exact(&mut close).await.unwrap();
                assert_eq!(close[0], 0x88, "a close frame");
                tls.write_all(&[0x88, 0x02, 0x03, 0xE8]).await.unwrap();
                tls.shutdown().await.unwrap();
            }
        });
        (url, ca)
    }

    async fn attempt(url: &str, ca: &std::path::Path) -> Result<Duration, String> {
        let target = Target::parse_any(url).unwrap();
        let tls = tls::for_target(&target, Some(ca)).unwrap().unwrap();
        let connector = Connector::new(&target, 1).await.unwrap();
        tokio::time::timeout(ATTEMPT_TIMEOUT, one(&connector, &target, Some(&tls)))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_wss_upgrade_and_close_completes() {
        let (url, ca) = server("101 Switching Protocols").await;
        let outcome = attempt(&url, &ca).await;
        std::fs::remove_file(&ca).unwrap();
        assert!(outcome.unwrap() > Duration::ZERO);
    }

    #[tokio::test]
    async fn a_refused_upgrade_fails() {
        let (url, ca) = server("400 Bad Request").await;
        let outcome = attempt(&url, &ca).await;
        std::fs::remove_file(&ca).unwrap();
        assert!(outcome.unwrap_err().contains("refused"));
    }

    #[test]
    fn wss_needs_a_ca() {
        let target = Target::parse_any("wss://127.0.0.1:1").unwrap();
        assert!(tls::for_target(&target, None).is_err());
        let plain = Target::parse_any("ws://127.0.0.1:1").unwrap();
        assert!(tls::for_target(&plain, None).unwrap().is_none());
    }
}
