//! The Socket.IO client against the official Node `socket.io` server
//! (`tests/interop/sioserver/server.mjs`, started per test on a free port;
//! killed and restarted on the same port where a scenario needs it). The
//! scenarios are in `client_support`.

mod client_support;

use client_support::{Peer, Server};
use socketeer::client::Transports;

const NODE: Peer = Peer::Node { recovery: false };

macro_rules! per_transport {
    ($name:ident, $scenario:ident, $peer:expr, $($mut:ident)?) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn websocket() {
                let $($mut)? server = Server::start($peer);
                client_support::$scenario(&$($mut)? server, Transports::WebSocket).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn polling() {
                let $($mut)? server = Server::start($peer);
                client_support::$scenario(&$($mut)? server, Transports::Polling).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn upgrade() {
                let $($mut)? server = Server::start($peer);
                client_support::$scenario(&$($mut)? server, Transports::Both).await;
            }
        }
    };
}

per_transport!(round_trips, round_trips, NODE,);
per_transport!(
    restart_delivers_buffered,
    restart_delivers_buffered,
    NODE,
    mut
);
per_transport!(
    state_recovery,
    state_recovery,
    Peer::Node { recovery: true },
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_deliver_everything() {
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
    client_support::server_disconnect_is_final(&server, Transports::Both).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_refusal() {
    let server = Server::start(NODE);
    client_support::middleware_refusal(&server, Transports::Both).await;
}
