//! The Socket.IO client against the official Node `socket.io` server
//! (`interop/peers/node-socketio-server/server.mjs`, started per test on a free port;
//! killed and restarted on the same port where a scenario needs it). The
//! scenarios are in `client_support`.

mod client_support;

use client_support::{Peer, Server};
use socketeer::client::Transports;

const NODE: Peer = Peer::Node { recovery: false };

/// One test per transport mode; `$arg` turns the started server into the
/// scenario's first argument.
macro_rules! per_transport {
    ($name:ident, $scenario:ident, $peer:expr, |$s:ident| $arg:expr) => {
        mod $name {
            use super::*;

            async fn run(transports: Transports) {
                #[allow(unused_mut)]
                let mut $s = Server::start($peer);
                client_support::$scenario($arg, transports).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn websocket() {
                run(Transports::WebSocket).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn polling() {
                run(Transports::Polling).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn upgrade() {
                run(Transports::Both).await;
            }
        }
    };
}

per_transport!(round_trips, round_trips, NODE, |s| s.url());
per_transport!(
    restart_delivers_buffered,
    restart_delivers_buffered,
    NODE,
    |s| &mut s
);
per_transport!(
    state_recovery,
    state_recovery,
    Peer::Node { recovery: true },
    |s| s.url()
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_deliver_everything_websocket() {
    let mut server = Server::start(NODE);
    client_support::retries_deliver_everything(&mut server, Transports::WebSocket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_deliver_everything_polling() {
    let mut server = Server::start(NODE);
    client_support::retries_deliver_everything(&mut server, Transports::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_disconnect_is_final() {
    let server = Server::start(NODE);
    client_support::server_disconnect_is_final(server.url(), Transports::Both).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_refusal() {
    let server = Server::start(NODE);
    client_support::middleware_refusal(server.url(), Transports::Both).await;
}

/// The sockets of two namespaces share one Engine.IO session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_share_one_engine_session() {
    let server = Server::start(NODE);
    client_support::round_trips(server.url(), Transports::WebSocket).await;
    let sessions: Vec<_> = server
        .node_events()
        .into_iter()
        .filter(|e| e["ev"] == "connection")
        .map(|e| (e["nsp"].clone(), e["engine"].clone()))
        .collect();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[0].1, sessions[1].1, "{sessions:?}");
    assert!(sessions[0].1.is_string());
}
