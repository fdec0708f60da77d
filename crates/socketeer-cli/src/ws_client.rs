//! `socketeer ws URL`: an interactive raw WebSocket client, like `wscat`
//! or `websocat`.
//!
//! - Each stdin line is sent as a text message; with `--binary hex|base64`
//!   lines are decoded and sent as binary messages instead (a line that
//!   does not decode is reported on stderr and skipped).
//! - Each received text message is written to stdout as it is, followed by
//!   a newline; each binary message as one line of hex (or base64 with
//!   `--binary base64`).
//! - stdin EOF (or Ctrl+C) sends a close frame (1000) and waits, up to
//!   `--close-timeout`, for the peer's; messages arriving meanwhile are
//!   still printed.
//! - `wss://` trusts the webpki roots, or the certificates of `--ca FILE`.
//! - The close is reported on stderr (`closed: 1000 "reason"`). Exit
//!   status: 0 after a normal close (1000, or 1001 "going away", or a close
//!   frame without status), 1 after an abnormal close or an error, 2 when
//!   the connection could not be made.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use socketeer_ws::{
    connect_with_options, ClientConfig, CloseCode, CloseFrame, ConnectOptions, DeflateConfig,
    Message, StreamConfig,
};
use tokio::sync::mpsc;

/// How binary messages are written and, for input, whether lines are binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BinaryMode {
    /// Hexadecimal, two digits per byte (input: case-insensitive, spaces
    /// ignored).
    Hex,
    /// Standard base64 with padding (input: padding optional).
    Base64,
}

/// Command-line arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `ws://` or `wss://` URL.
    pub url: String,
    /// Subprotocol to offer (repeatable, in order of preference).
    #[arg(long = "subprotocol", short = 's', value_name = "S")]
    pub subprotocols: Vec<String>,
    /// Extra request header `NAME:VALUE` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "K:V")]
    pub headers: Vec<String>,
    /// Send stdin lines as binary messages decoded from this encoding, and
    /// print received binary messages in it (default for printing: hex).
    #[arg(long, value_enum, value_name = "hex|base64")]
    pub binary: Option<BinaryMode>,
    /// Trust the PEM certificates in FILE for wss:// (instead of the
    /// webpki roots).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
    /// Do not offer permessage-deflate.
    #[arg(long)]
    pub no_deflate: bool,
    /// Seconds to wait for the peer's close after stdin ends.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub close_timeout: f64,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("socketeer ws: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(session(args))
}

fn parse_header(h: &str) -> Option<(String, String)> {
    let (k, v) = h.split_once(':')?;
    let k = k.trim();
    if k.is_empty() {
        return None;
    }
    Some((k.to_owned(), v.trim().to_owned()))
}

/// Lowercase hex of `data`.
pub fn to_hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for &b in data {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Decodes hex, ignoring ASCII whitespace.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| char::from(b).to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()?;
    if digits.len() % 2 != 0 {
        return None;
    }
    Some(
        digits
            .chunks_exact(2)
            .map(|pair| match pair {
                [hi, lo] => hi << 4 | lo,
                _ => 0,
            })
            .collect(),
    )
}

const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn encode_binary(mode: BinaryMode, data: &[u8]) -> String {
    match mode {
        BinaryMode::Hex => to_hex(data),
        BinaryMode::Base64 => BASE64.encode(data),
    }
}

fn decode_line(mode: BinaryMode, line: &str) -> Option<Vec<u8>> {
    match mode {
        BinaryMode::Hex => from_hex(line),
        BinaryMode::Base64 => BASE64.decode(line.trim()).ok(),
    }
}

/// A rustls client configuration trusting the certificates of a PEM file.
fn tls_config(path: &std::path::Path) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| e.to_string())? {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    if roots.is_empty() {
        return Err("no certificate in the file".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

/// Whether a close ends the program successfully.
fn normal_close(frame: &Option<CloseFrame>) -> bool {
    match frame {
        None => true,
        Some(f) => f.code == CloseCode::NORMAL || f.code == CloseCode::GOING_AWAY,
    }
}

fn describe(frame: &Option<CloseFrame>) -> String {
    match frame {
        None => "no status code".to_owned(),
        Some(f) => format!("{} {:?}", f.code.0, f.reason),
    }
}

/// Lines of stdin (without their line ending; invalid UTF-8 replaced),
/// read by a thread: a blocking read must not hold the runtime at exit.
/// The channel is bounded, so a slow connection slows the reading.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut input = std::io::stdin().lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match input.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if tx
                .blocking_send(String::from_utf8_lossy(line).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    rx
}

async fn session(args: Args) -> ExitCode {
    let mut headers = Vec::new();
    for h in &args.headers {
        match parse_header(h) {
            Some(kv) => headers.push(kv),
            None => {
                eprintln!("socketeer ws: invalid header {h:?} (expected NAME:VALUE)");
                return ExitCode::from(2);
            }
        }
    }
    let tls = match &args.ca {
        Some(path) => match tls_config(path) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("socketeer ws: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let close_timeout =
        Duration::try_from_secs_f64(args.close_timeout.max(0.0)).unwrap_or(Duration::from_secs(5));
    let options = ConnectOptions {
        handshake: ClientConfig {
            subprotocols: args.subprotocols.clone(),
            headers,
            deflate: (!args.no_deflate).then(DeflateConfig::default),
        },
        stream: StreamConfig {
            close_timeout,
            ..StreamConfig::default()
        },
        tls,
        ..ConnectOptions::default()
    };
    let (mut ws, response) = match connect_with_options(&args.url, &options).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("socketeer ws: cannot connect to {}: {e}", args.url);
            return ExitCode::from(2);
        }
    };
    let subprotocol = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    match subprotocol {
        Some(p) => eprintln!("connected to {} (subprotocol {p})", args.url),
        None => eprintln!("connected to {}", args.url),
    }

    let print_mode = args.binary.unwrap_or(BinaryMode::Hex);
    let mut stdin = stdin_lines();
    let mut stdin_open = true;
    let mut close_deadline: Option<tokio::time::Instant> = None;
    let mut peer_close: Option<Option<CloseFrame>> = None;
    let stdout = std::io::stdout();

    loop {
        let deadline = close_deadline;
        tokio::select! {
            line = stdin.recv(), if stdin_open => {
                let message = match line {
                    Some(line) => match args.binary {
                        None => Some(Message::text(line)),
                        Some(mode) => match decode_line(mode, &line) {
                            Some(data) => Some(Message::Binary(Bytes::from(data))),
                            None => {
                                eprintln!("socketeer ws: not {mode:?}, not sent: {line:?}");
                                None
                            }
                        },
                    },
                    None => {
                        stdin_open = false;
                        Some(Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, ""))))
                    }
                };
                if let Some(message) = message {
                    let closing = matches!(message, Message::Close(_));
                    if closing {
                        close_deadline = Some(tokio::time::Instant::now() + close_timeout);
                    }
                    // Queued here; written as soon as the loop waits for input.
                    if let Err(e) = ws.feed(message).await {
                        if peer_close.is_none() {
                            eprintln!("socketeer ws: send failed: {e}");
                            return ExitCode::from(1);
                        }
                    }
                }
            }
            _ = tokio::signal::ctrl_c(), if stdin_open => {
                stdin_open = false;
                close_deadline = Some(tokio::time::Instant::now() + close_timeout);
                let _ = ws.feed(Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))).await;
            }
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                eprintln!("socketeer ws: the peer did not close within {close_timeout:?}");
                return ExitCode::from(1);
            }
            received = ws.recv() => match received {
                Some(Ok(message)) => {
                    let mut out = stdout.lock();
                    let written = match message {
                        Message::Text(text) => writeln!(out, "{text}"),
                        Message::Binary(data) => writeln!(out, "{}", encode_binary(print_mode, &data)),
                        Message::Close(frame) => {
                            peer_close = Some(frame);
                            Ok(())
                        }
                        Message::Ping(_) | Message::Pong(_) => Ok(()),
                    };
                    if written.and_then(|()| out.flush()).is_err() {
                        // stdout is gone (a closed pipe): close and stop.
                        stdin_open = false;
                        close_deadline.get_or_insert(tokio::time::Instant::now() + close_timeout);
                        let _ = ws.feed(Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))).await;
                    }
                }
                Some(Err(e)) => {
                    eprintln!("socketeer ws: connection failed: {e}");
                    return ExitCode::from(1);
                }
                None => {
                    return match peer_close {
                        Some(frame) => {
                            eprintln!("closed: {}", describe(&frame));
                            if normal_close(&frame) { ExitCode::SUCCESS } else { ExitCode::from(1) }
                        }
                        None => {
                            eprintln!("socketeer ws: the connection ended without a close frame");
                            ExitCode::from(1)
                        }
                    };
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        assert_eq!(to_hex(&[0, 1, 0xab, 0xff]), "0001abff");
        assert_eq!(from_hex("0001ABff"), Some(vec![0, 1, 0xab, 0xff]));
        assert_eq!(from_hex(" 00 01 "), Some(vec![0, 1]));
        assert_eq!(from_hex(""), Some(vec![]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("é1"), None);
    }

    #[test]
    fn base64_lines() {
        assert_eq!(encode_binary(BinaryMode::Base64, &[1, 2, 3, 4]), "AQIDBA==");
        assert_eq!(
            decode_line(BinaryMode::Base64, "AQIDBA"),
            Some(vec![1, 2, 3, 4])
        );
        assert_eq!(
            decode_line(BinaryMode::Base64, " AQIDBA== "),
            Some(vec![1, 2, 3, 4])
        );
        assert_eq!(decode_line(BinaryMode::Base64, "!!"), None);
    }

    #[test]
    fn headers_and_closes() {
        assert_eq!(
            parse_header("X-A: b:c"),
            Some(("X-A".to_owned(), "b:c".to_owned()))
        );
        assert_eq!(parse_header("nocolon"), None);
        assert_eq!(parse_header(":v"), None);
        assert!(normal_close(&None));
        assert!(normal_close(&Some(CloseFrame::new(1000u16, ""))));
        assert!(normal_close(&Some(CloseFrame::new(1001u16, "bye"))));
        assert!(!normal_close(&Some(CloseFrame::new(1011u16, ""))));
        assert_eq!(describe(&Some(CloseFrame::new(4000u16, "x"))), "4000 \"x\"");
    }
}
