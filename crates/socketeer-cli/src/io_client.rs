//! `socketeer io`: an interactive Socket.IO client for debugging a server.
//!
//! Each stdin line `EVENT [JSON_ARRAY]` emits EVENT with the array's items
//! as arguments (`--ack`: waits for the acknowledgement and prints it).
//! What happens is printed one line each: JSON objects when stdout is not
//! a terminal, colours for a person when it is:
//!
//! ```text
//! {"connect":"<sid>"}                 {"disconnect":"<reason>"}
//! {"event":"<name>","args":[...]}     {"ack":[...]}  {"ack_error":"<why>"}
//! {"connect_error":"<message>"}       {"reconnect_attempt":N}  {"reconnect":N}
//! {"reconnect_failed":true}           {"error":"<bad input line>"}
//! ```
//!
//! Binary values are printed as `{"$bin":"<hex>"}`. Events the server sends
//! with an acknowledgement request are acknowledged with no arguments.
//! The client reconnects by itself (unless `--no-reconnect`). It exits when
//! stdin ends (after the emitted events are sent and `--linger` has
//! passed), or when the socket is given up: after a server-side disconnect
//! (status 0), a refusal or failed reconnection (status 1).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value as Json};
use socketeer::client::{
    Auth, DisconnectReason, Manager, ManagerOptions, Socket, SocketOptions, Transports,
};
use socketeer::Value;
use tokio::sync::mpsc;

/// Command-line arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Server URL, e.g. http://127.0.0.1:3000 (https://, ws://, wss:// too).
    url: String,
    /// Engine.IO path.
    #[arg(long, default_value = "/socket.io/")]
    path: String,
    /// Namespace to join.
    #[arg(long, default_value = "/")]
    namespace: String,
    /// Auth payload sent when joining (a JSON object).
    #[arg(long, value_name = "JSON")]
    auth: Option<String>,
    /// Transports: polling then upgrade (both), or one only.
    #[arg(long, value_enum, default_value_t = TransportArg::Both)]
    transport: TransportArg,
    /// Wait for each emit's acknowledgement and print it.
    #[arg(long)]
    ack: bool,
    /// How long to wait for an acknowledgement, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    ack_timeout: u64,
    /// Do not reconnect after losing the connection.
    #[arg(long)]
    no_reconnect: bool,
    /// After stdin ends, keep printing for this many milliseconds.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    linger: u64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TransportArg {
    Websocket,
    Polling,
    Both,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let auth = match args.auth.as_deref().map(serde_json::from_str::<Json>) {
        None => Auth::None,
        Some(Ok(v @ Json::Object(_))) => Auth::Static(Value::from(v)),
        Some(_) => {
            eprintln!("socketeer io: --auth must be a JSON object");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("socketeer io: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(session(args, auth))
}

/// How lines are shown.
#[derive(Clone, Copy)]
struct Printer {
    human: bool,
}

impl Printer {
    /// Prints one object, its members in the order given.
    fn print(&self, members: &[(&str, Json)]) {
        let text = if self.human {
            human(members)
        } else {
            let parts: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{}:{v}", Json::from(*k)))
                .collect();
            format!("{{{}}}", parts.join(","))
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

/// A terminal rendering of a printed object.
fn human(members: &[(&str, Json)]) -> String {
    const RESET: &str = "\x1b[0m";
    let Some((key, value)) = members.first() else {
        return String::new();
    };
    let args = members
        .get(1)
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    let plain = |v: &Json| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    match *key {
        "event" => format!("\x1b[36m← {}{RESET} {args}", plain(value)),
        "ack" => format!("\x1b[35m↩ ack{RESET} {value}"),
        "connect" => format!("\x1b[32m● connected{RESET} as {}", plain(value)),
        "reconnect" => format!("\x1b[32m● reconnected{RESET} after {value} attempt(s)"),
        "disconnect" => format!("\x1b[33m○ disconnected{RESET}: {}", plain(value)),
        "reconnect_attempt" => format!("\x1b[33m… reconnecting{RESET} (attempt {value})"),
        _ => format!(
            "\x1b[31m✗ {}{RESET}: {}",
            key.replace('_', " "),
            plain(value)
        ),
    }
}

/// JSON with binary values as `{"$bin": "<hex>"}`.
fn show(v: &Value) -> Json {
    match v {
        Value::Binary(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            json!({ "$bin": hex })
        }
        Value::Array(a) => Json::Array(a.iter().map(show).collect()),
        Value::Object(o) => Json::Object(o.iter().map(|(k, v)| (k.clone(), show(v))).collect()),
        other => other.clone().into_json(),
    }
}

/// Why the session ends on its own.
enum End {
    ServerDisconnect,
    Refused,
}

async fn session(args: Args, auth: Auth) -> ExitCode {
    let printer = Printer {
        human: std::io::stdout().is_terminal(),
    };
    let mut options = ManagerOptions::default();
    options.engine.path = args.path.clone();
    options.engine.transports = match args.transport {
        TransportArg::Websocket => Transports::WebSocket,
        TransportArg::Polling => Transports::Polling,
        TransportArg::Both => Transports::Both,
    };
    options.config.reconnection = !args.no_reconnect;
    let manager = Manager::new(args.url.clone(), options);
    let (end_tx, mut end_rx) = mpsc::unbounded_channel::<End>();
    watch(&manager, printer, end_tx.clone());
    let socket = manager.socket(
        &args.namespace,
        SocketOptions {
            auth,
            ..Default::default()
        },
    );
    handlers(&socket, printer, end_tx);
    socket.connect();

    let mut lines = stdin_lines();
    let ack_timeout = Duration::from_millis(args.ack_timeout);
    let code = loop {
        tokio::select! {
            // An end already reported wins over stdin closing at the same
            // time (a reader that saw the disconnect line may close it).
            biased;
            end = end_rx.recv() => break Some(match end {
                Some(End::ServerDisconnect) | None => ExitCode::SUCCESS,
                Some(End::Refused) => ExitCode::FAILURE,
            }),
            line = lines.recv() => {
                let Some(line) = line else { break None };
                emit_line(&socket, &line, args.ack, ack_timeout, printer).await;
            }
        }
    };
    if let Some(code) = code {
        manager.close();
        return code;
    }
    // Stdin ended: let the emitted events leave, then the replies come.
    let wait = async {
        let flushed = async {
            while socket.active() && !(socket.connected() && socket.buffered() == 0) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), flushed).await;
        tokio::time::sleep(Duration::from_millis(args.linger)).await;
    };
    let code = tokio::select! {
        biased;
        Some(end) = end_rx.recv() => Some(end),
        _ = wait => None,
    };
    let code = match code {
        Some(End::ServerDisconnect) => ExitCode::SUCCESS,
        Some(End::Refused) => ExitCode::FAILURE,
        None if !socket.active() && !socket.connected() => ExitCode::FAILURE,
        None => ExitCode::SUCCESS,
    };
    manager.close();
    // Give the DISCONNECT packet and the close a moment to leave.
    tokio::time::sleep(Duration::from_millis(50)).await;
    code
}

/// Stdin lines, read on a thread of their own (the channel ends at EOF).
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Parses `EVENT [JSON_ARRAY]`.
fn parse_line(line: &str) -> Result<(String, Vec<Value>), String> {
    let line = line.trim();
    let (event, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let args = match rest.trim() {
        "" => Vec::new(),
        json => match serde_json::from_str::<Json>(json) {
            Ok(Json::Array(items)) => items.into_iter().map(Value::from).collect(),
            Ok(_) => return Err("arguments must be a JSON array".into()),
            Err(e) => return Err(format!("invalid JSON: {e}")),
        },
    };
    Ok((event.to_owned(), args))
}

async fn emit_line(socket: &Socket, line: &str, ack: bool, timeout: Duration, printer: Printer) {
    if line.trim().is_empty() {
        return;
    }
    let (event, args) = match parse_line(line) {
        Ok(parsed) => parsed,
        Err(e) => {
            printer.print(&[("error", json!(format!("{e}: {line}")))]);
            return;
        }
    };
    if !ack {
        if let Err(e) = socket.emit(&event, args) {
            printer.print(&[("error", json!(e.to_string()))]);
        }
        return;
    }
    match socket.emit_with_ack(&event, args).timeout(timeout).await {
        Ok(reply) => printer.print(&[("ack", show(&Value::Array(reply)))]),
        Err(e) => printer.print(&[("ack_error", json!(e.to_string()))]),
    }
}

fn watch(manager: &Manager, printer: Printer, end: mpsc::UnboundedSender<End>) {
    manager.on_reconnect_attempt(move |n| printer.print(&[("reconnect_attempt", json!(n))]));
    manager.on_reconnect(move |n| printer.print(&[("reconnect", json!(n))]));
    manager.on_reconnect_failed(move || {
        printer.print(&[("reconnect_failed", json!(true))]);
        let _ = end.send(End::Refused);
    });
}

fn handlers(socket: &Socket, printer: Printer, end: mpsc::UnboundedSender<End>) {
    socket.on_connect(move |s| printer.print(&[("connect", json!(s.id()))]));
    let end_on_disconnect = end.clone();
    socket.on_disconnect(move |_, reason| {
        // Reported before it is printed: whoever reads the line and closes
        // stdin finds the end already queued.
        if reason == DisconnectReason::IoServerDisconnect {
            let _ = end_on_disconnect.send(End::ServerDisconnect);
        }
        printer.print(&[("disconnect", json!(reason.as_str()))]);
    });
    socket.on_connect_error(move |s, e| {
        printer.print(&[("connect_error", json!(e.message))]);
        if !s.active() {
            let _ = end.send(End::Refused);
        }
    });
    socket.on_any(move |_, event, args, ack| {
        printer.print(&[("event", json!(event)), ("args", show(&Value::Array(args)))]);
        if let Some(ack) = ack {
            let _ = ack.send(Vec::new());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_parsed() {
        assert_eq!(parse_line("ping").unwrap(), ("ping".into(), vec![]));
        assert_eq!(
            parse_line("  chat  [1, \"two\", {\"x\": null}] ").unwrap(),
            (
                "chat".into(),
                vec![
                    Value::from(1),
                    Value::from("two"),
                    Value::from(json!({"x": null}))
                ]
            )
        );
        assert!(parse_line("chat {\"not\":\"array\"}").is_err());
        assert!(parse_line("chat [1,").is_err());
    }

    #[test]
    fn binary_is_shown_as_hex() {
        let v = Value::Array(vec![Value::Binary(bytes::Bytes::from_static(&[0, 255]))]);
        assert_eq!(show(&v), json!([{"$bin": "00ff"}]));
    }

    #[test]
    fn terminal_lines_are_readable() {
        let l = human(&[("event", json!("chat")), ("args", json!(["hi"]))]);
        assert!(l.contains("chat") && l.contains("[\"hi\"]"));
        assert!(human(&[("connect_error", json!("unauthorized"))]).contains("unauthorized"));
    }
}
