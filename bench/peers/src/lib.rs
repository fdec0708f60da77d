//! Shared helpers for the benchmark peers: start-up (the port, the
//! open-file limit, TLS) and the trivial servers' frame parser.
//!
//! Every peer binary is invoked as `BIN PORT`, binds `127.0.0.1:PORT` and
//! serves until killed: the `echo-*` servers echo text and binary WebSocket
//! messages back unchanged, the `io-*` servers answer `socketeer bench`'s
//! Socket.IO scenarios.

use std::net::{Ipv4Addr, SocketAddr};

/// Parses the single `PORT` argument and returns the loopback address to bind.
///
/// Exits the process with a usage message when the argument is missing or invalid.
pub fn listen_addr_from_args() -> SocketAddr {
    let mut args = std::env::args();
    let bin = args.next().unwrap_or_else(|| "echo".into());
    match (args.next().map(|p| p.parse::<u16>()), args.next()) {
        (Some(Ok(port)), None) => SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        _ => {
            eprintln!("usage: {bin} PORT");
            std::process::exit(2);
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit so that idle-connection
/// runs (10,000 sockets) are not capped by the usual soft limit of 1,024.
pub fn raise_fd_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("warning: could not raise the open-file limit: {e}");
    }
}

/// The TLS acceptor of the `wss://` peers: the certificate chain and key of
/// the PEM files named by `TLS_CERT` and `TLS_KEY`, with the rustls settings
/// socketeer serves with (the `ring` provider, TLS 1.2 and 1.3, no client
/// certificates, ALPN `http/1.1`), so that only the WebSocket layers differ.
///
/// Exits the process with a message when a variable is missing or a file
/// cannot be used.
pub fn tls_acceptor_from_env() -> tokio_rustls::TlsAcceptor {
    match tls_acceptor() {
        Ok(acceptor) => acceptor,
        Err(e) => {
            eprintln!("TLS: {e}");
            std::process::exit(2);
        }
    }
}

fn tls_acceptor() -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name} (a PEM file)"));
    let (cert, key) = (var("TLS_CERT")?, var("TLS_KEY")?);
    let chain = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| format!("{cert}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{cert}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("{key}: {e}"))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// Opcode, header length (with the mask) and payload length of the complete
/// masked frame at the start of `buf`, if there is one (the trivial
/// servers' frame parser: no checks).
pub fn client_frame(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (b0, b1) = (*buf.first()?, *buf.get(1)?);
    let (header, len) = match b1 & 0x7F {
        126 => (
            8,
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            14,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        ),
        n => (6, n as usize),
    };
    (buf.len() >= header + len).then_some((b0 & 0x0F, header, len))
}

/// The Socket.IO answers of the trivial servers (`io-trivial`,
/// `io-trivial-hyper`): the least `socketeer bench`'s scenarios need.
pub mod trivial_io {
    /// Between the packets of a polling payload.
    pub const SEPARATOR: u8 = 0x1e;
    const EVENT_WITH_ACK: &[u8] = b"[\"message-with-ack\",";

    /// The Engine.IO open packet of session `sid` (no upgrades offered).
    pub fn open_packet(sid: &str) -> Vec<u8> {
        format!(
            "0{{\"sid\":\"{sid}\",\"upgrades\":[],\"pingInterval\":25000,\
             \"pingTimeout\":20000,\"maxPayload\":1000000}}"
        )
        .into_bytes()
    }

    /// The answer to one packet: the namespace's CONNECT reply, or the ack
    /// of an event.
    pub fn answer(packet: &[u8], sid: &str) -> Option<Vec<u8>> {
        if packet.starts_with(b"40") {
            return Some(format!("40{{\"sid\":\"{sid}-io\"}}").into_bytes());
        }
        let rest = packet.strip_prefix(b"42")?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (id, args) = rest.split_at(digits);
        let args = args.strip_prefix(EVENT_WITH_ACK)?;
        if id.is_empty() {
            return None;
        }
        let mut ack = Vec::with_capacity(4 + id.len() + args.len());
        ack.extend_from_slice(b"43");
        ack.extend_from_slice(id);
        ack.push(b'[');
        ack.extend_from_slice(args);
        Some(ack)
    }
}
