//! Engine.IO server integration tests: The official error responses (codes 0 to 5).
//! The fixture is in `support/mod.rs`.

mod support;

use bytes::Bytes;
use http::{Method, StatusCode};
use socketeer_engineio::server::EngineIoConfig;
use support::*;

// ---------------------------------------------------------------------------
// The official error responses

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_transport_is_code_0() {
    within(async {
        let server = TestServer::start(fast()).await;
        for path in [
            "/engine.io/?EIO=4&transport=carrier-pigeon",
            "/engine.io/?EIO=4",
            "/engine.io/?EIO=4&transport=webtransport",
        ] {
            get(server.addr, path).await.assert_error(
                StatusCode::BAD_REQUEST,
                0,
                "Transport unknown",
            );
        }
        // A transport turned off is unknown too.
        let server = TestServer::start(EngineIoConfig {
            allow_polling: false,
            ..fast()
        })
        .await;
        get(server.addr, "/engine.io/?EIO=4&transport=polling")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 0, "Transport unknown");
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_protocol_version_is_code_5() {
    within(async {
        let server = TestServer::start(fast()).await;
        for path in [
            "/engine.io/?EIO=3&transport=polling",
            "/engine.io/?transport=polling",
            "/engine.io/?EIO=5&transport=polling",
        ] {
            get(server.addr, path).await.assert_error(
                StatusCode::BAD_REQUEST,
                5,
                "Unsupported protocol version",
            );
        }
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_handshake_is_code_2() {
    within(async {
        let server = TestServer::start(fast()).await;
        post(server.addr, "/engine.io/?EIO=4&transport=polling", "4hi")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 2, "Bad handshake method");
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_sid_is_code_1() {
    within(async {
        let server = TestServer::start(fast()).await;
        let path = server.polling("AAAAAAAAAAAAAAAAAAAA");
        get(server.addr, &path).await.assert_error(
            StatusCode::BAD_REQUEST,
            1,
            "Session ID unknown",
        );
        post(server.addr, &path, "4hi").await.assert_error(
            StatusCode::BAD_REQUEST,
            1,
            "Session ID unknown",
        );
        // A WebSocket upgrade of an unknown session is refused before the
        // handshake.
        let url = format!(
            "ws://{}/engine.io/?EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAA",
            server.addr
        );
        assert!(socketeer_ws::connect(&url).await.is_err());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_bad_requests() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        // A WebSocket handshake that is plain HTTP.
        get(server.addr, "/engine.io/?EIO=4&transport=websocket")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        // Another method on a session.
        let (sid, _) = server.handshake().await;
        let _poller = server.poller(&sid);
        request(
            server.addr,
            Method::PUT,
            &server.polling(&sid),
            &[],
            Bytes::new(),
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        // Another path.
        let r = get(server.addr, "/other/?EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // The mount point without its trailing slash is the same server.
        let r = get(server.addr, "/engine.io?EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        server.assert_alive(&sid);
    })
    .await;
}
