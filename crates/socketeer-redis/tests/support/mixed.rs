//! The mixed-cluster harness of the adapter tests: socketeer servers with
//! the handlers of `tests/node/cluster_server.mjs`, and the official
//! clients' process (`tests/node/cluster_clients.mjs`) driven through its
//! standard input.

use std::time::Duration;

use serde_json::{json, Value as Json};
use socketeer::server::{AckSender, AdapterFactory, Socket, SocketIo, SocketIoConfig};
use socketeer::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;

use super::node::Lines;
use socketeer::server::Args;

fn str_arg(args: &[Value], i: usize) -> String {
    args.get(i)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn rooms_arg(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => vec![],
    }
}

fn done(ack: Option<AckSender>, args: Vec<Value>) {
    if let Some(ack) = ack {
        let _ = ack.send(args);
    }
}

/// The handlers of `cluster_server.mjs`, on a socketeer socket.
pub fn handlers(socket: Socket, name: &'static str) {
    socket.set_data(serde_json::json!({ "server": name }));
    socket.on(
        "join",
        |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            s.join(rooms_arg(args.first()));
            done(ack, vec![]);
        },
    );
    socket.on(
        "to-all",
        |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            let event = str_arg(&args, 0);
            let _ = s.namespace().emit(&event, args[1..].to_vec());
            done(ack, vec![]);
        },
    );
    socket.on(
        "to-room",
        |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            let mut op = s.namespace().to(str_arg(&args, 0));
            if let Some(except) = args.get(1).and_then(Value::as_str) {
                op = op.except(except);
            }
            let _ = op.emit(&str_arg(&args, 2), args.get(3..).unwrap_or(&[]).to_vec());
            done(ack, vec![]);
        },
    );
    socket.on(
        "fetch-count",
        |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            let mut op = s.namespace().broadcast();
            for room in rooms_arg(args.first()) {
                op = op.to(room);
            }
            tokio::spawn(async move {
                let found = op.fetch_sockets().await;
                let mut ids: Vec<String> = found.iter().map(|s| s.id.to_string()).collect();
                ids.sort();
                let ids: Vec<Value> = ids.into_iter().map(Value::from).collect();
                let mut servers: Vec<Value> = found
                    .iter()
                    .map(|s| s.data.get("server").cloned().unwrap_or_default())
                    .collect();
                servers.sort_by_key(|v| v.as_str().map(str::to_owned));
                let with_url = found
                    .iter()
                    .filter(|s| {
                        s.handshake
                            .as_ref()
                            .and_then(|h| h.get("url"))
                            .and_then(Value::as_str)
                            .is_some_and(|u| u.starts_with("/socket.io/"))
                    })
                    .count();
                done(
                    ack,
                    vec![
                        Value::from(found.len() as u64),
                        Value::Array(ids),
                        Value::from(with_url as u64),
                        Value::Array(servers),
                    ],
                );
            });
        },
    );
    socket.on(
        "cluster-join",
        |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            s.namespace()
                .to(str_arg(&args, 0))
                .sockets_join([str_arg(&args, 1)]);
            done(ack, vec![]);
        },
    );
    socket.on(
        "cluster-leave",
        |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            s.namespace()
                .to(str_arg(&args, 0))
                .sockets_leave(&str_arg(&args, 1));
            done(ack, vec![]);
        },
    );
    socket.on(
        "cluster-kick",
        |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            let close = args.get(1).and_then(Value::as_bool).unwrap_or(false);
            s.namespace()
                .to(str_arg(&args, 0))
                .disconnect_sockets_with(close);
            done(ack, vec![]);
        },
    );
    socket.on(
        "ask-all",
        |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            let op = s.namespace().broadcast().timeout(Duration::from_secs(5));
            tokio::spawn(async move {
                let Ok(answers) = op.emit_with_ack_everywhere("question", args).await else {
                    return done(ack, vec![Value::from("emit failed")]);
                };
                let mut responses = answers.responses;
                responses.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                done(
                    ack,
                    vec![Value::Bool(answers.complete), Value::Array(responses)],
                );
            });
        },
    );
    socket.on(
        "peer-ask",
        |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            let ns = s.namespace().clone();
            tokio::spawn(async move {
                let answers = ns.server_side_emit_with_ack("peer-ask", args).await;
                let mut responses = answers.responses;
                responses.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                done(
                    ack,
                    vec![Value::Bool(answers.complete), Value::Array(responses)],
                );
            });
        },
    );
    socket.on(
        "peer-say",
        move |s: Socket, Args(args): Args, ack: Option<AckSender>| {
            let msg = args.first().cloned().unwrap_or_default();
            s.namespace()
                .server_side_emit("peer-said", vec![Value::from(name), msg]);
            done(ack, vec![]);
        },
    );
}

/// A socketeer server with `adapter` on a free port, with the handlers of
/// `cluster_server.mjs` (as server `name`).
pub async fn serve(adapter: AdapterFactory, name: &'static str) -> (SocketIo, u16) {
    let io = SocketIo::new(SocketIoConfig {
        adapter,
        ..Default::default()
    });
    let ns = io.of("/");
    ns.on_connection(move |socket: Socket| handlers(socket, name));
    let relay = ns.clone();
    ns.on_server_side_emit_with_ack(move |event, args, ack| match (event, ack) {
        ("peer-said", _) => {
            let mut out = vec![Value::from(name)];
            out.extend(args);
            let _ = relay.broadcast().local().emit("peer-said-at", out);
        }
        ("peer-ask", Some(ack)) => {
            let msg = args.first().and_then(Value::as_str).unwrap_or_default();
            ack.send(Value::from(format!("{name}:{msg}")));
        }
        _ => {}
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(io.clone().serve(listener));
    (io, port)
}

/// The clients' process: commands in, lines out.
pub struct Clients {
    /// Its standard input.
    pub stdin: ChildStdin,
    /// Its output.
    pub lines: Lines,
    /// The last command id.
    pub next_id: u64,
    /// The socket id of each client, by name.
    pub ids: Json,
}

impl Clients {
    /// Makes `client` emit `emit` (`[event, ...args]`) and returns its
    /// acknowledgement's arguments.
    pub async fn call(&mut self, client: &str, emit: Json) -> Json {
        let id = self.send(client, emit).await;
        self.ack(id).await
    }

    /// Makes `client` emit `emit` (`[event, ...args]`) without waiting;
    /// returns the command's id, for [`Clients::ack`].
    pub async fn send(&mut self, client: &str, emit: Json) -> u64 {
        self.command(json!({"client": client, "emit": emit})).await
    }

    /// The acknowledgement's arguments of command `id` (waits for it).
    pub async fn ack(&self, id: u64) -> Json {
        let what = format!("ack of command {id}");
        self.lines.wait_for(&what, |l| l["id"] == id).await["ack"].clone()
    }

    /// Connects `client` anew (closing its socket, if any) to `port` with
    /// `transport`, makes it join `rooms`, and records its new socket id.
    pub async fn connect(&mut self, client: &str, port: u16, transport: &str, rooms: &[&str]) {
        let id = self
            .command(json!({
                "client": client,
                "connect": {"port": port, "transport": transport, "rooms": rooms},
            }))
            .await;
        let ack = self.ack(id).await;
        assert!(ack[0].is_string(), "{client} connects to {port}: {ack}");
        self.ids[client] = ack[0].clone();
    }

    async fn command(&mut self, mut command: Json) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        command["id"] = json!(id);
        let line = command.to_string() + "\n";
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        id
    }

    /// The socket ids of `names`, sorted.
    /// The `socket.data.server` each of `names` has (its server's name,
    /// the client name's first letter in capitals), sorted.
    pub fn servers_of(names: &[&str]) -> Json {
        let mut servers: Vec<String> = names.iter().map(|n| n[..1].to_uppercase()).collect();
        servers.sort();
        json!(servers)
    }

    pub fn sorted_ids(&self, names: &[&str]) -> Json {
        let mut ids: Vec<String> = names
            .iter()
            .map(|n| self.ids[n].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        json!(ids)
    }

    /// Waits for `event` to reach each of `expected`, then waits again and
    /// checks that exactly they got it, once each, with `args`.
    pub async fn expect(&self, event: &str, expected: &[&str], args: &Json) {
        let each: Vec<(&str, Json)> = expected.iter().map(|c| (*c, args.clone())).collect();
        self.expect_each(event, |l| l["event"] == event, &each)
            .await;
    }

    /// Waits for a line matching `pred` at each client of `expected`, then
    /// waits again and checks that exactly they got one, once each, with
    /// the arguments given for each.
    pub async fn expect_each(
        &self,
        what: &str,
        pred: impl Fn(&Json) -> bool,
        expected: &[(&str, Json)],
    ) {
        for (c, _) in expected {
            self.lines
                .wait_for(&format!("{c} gets {what}"), |l| {
                    l["client"] == *c && pred(l)
                })
                .await;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let mut got: Vec<(String, Json)> = self
            .lines
            .matching(|l| l.get("event").is_some() && pred(l))
            .into_iter()
            .map(|l| (l["client"].as_str().unwrap().to_owned(), l["args"].clone()))
            .collect();
        got.sort_by(|x, y| x.0.cmp(&y.0));
        let mut want: Vec<(String, Json)> = expected
            .iter()
            .map(|(c, a)| ((*c).to_owned(), a.clone()))
            .collect();
        want.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            got, want,
            "{what}: who received it (exactly once each), with what"
        );
    }
}
