//! Engine.IO server integration tests: CORS headers and preflight requests.
//! The fixture is in `support/mod.rs`.

mod support;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::Value;
use socketeer_engineio::server::{AllowOrigin, Cors, EngineIoConfig};
use support::*;

// ---------------------------------------------------------------------------
// CORS

const PREFLIGHT: [(&str, &str); 2] = [
    ("access-control-request-method", "POST"),
    ("access-control-request-headers", "content-type, x-custom"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_any_origin() {
    within(async {
        let server = TestServer::start(EngineIoConfig {
            cors: Some(Cors {
                origin: AllowOrigin::Any,
                credentials: false,
                ..Default::default()
            }),
            ..fast()
        })
        .await;
        let handshake = "/engine.io/?EIO=4&transport=polling";
        let origin = [("origin", "https://anywhere.example")];
        let r = request(server.addr, Method::GET, handshake, &origin, Bytes::new()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(r.header("access-control-allow-credentials"), None);

        let headers = [origin[0], PREFLIGHT[0], PREFLIGHT[1]];
        let r = request(
            server.addr,
            Method::OPTIONS,
            handshake,
            &headers,
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let methods = r.header("access-control-allow-methods").expect("methods");
        assert!(
            methods.contains("GET") && methods.contains("POST"),
            "{methods}"
        );
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("content-type, x-custom")
        );
        assert!(r.body.is_empty());

        // Error responses carry the headers too, so browsers can read them.
        let r = request(
            server.addr,
            Method::GET,
            "/engine.io/?EIO=4&transport=nope",
            &origin,
            Bytes::new(),
        )
        .await;
        r.assert_error(StatusCode::BAD_REQUEST, 0, "Transport unknown");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(server.engine.session_count(), 1);

        // With credentials, the request's origin is reflected.
        let server = TestServer::start(EngineIoConfig {
            cors: Some(Cors {
                origin: AllowOrigin::Any,
                credentials: true,
                ..Default::default()
            }),
            ..fast()
        })
        .await;
        let r = request(server.addr, Method::GET, handshake, &origin, Bytes::new()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://anywhere.example")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_origin_list() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            cors: Some(Cors {
                origin: AllowOrigin::List(vec![
                    "https://good.example".into(),
                    "http://localhost:8080".into(),
                ]),
                credentials: true,
                ..Default::default()
            }),
            ..fast()
        })
        .await;
        let handshake = "/engine.io/?EIO=4&transport=polling";
        let good = [("origin", "https://good.example")];
        let r = request(server.addr, Method::GET, handshake, &good, Bytes::new()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://good.example")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("vary"), Some("Origin"));

        // A session's later requests too.
        let sid = serde_json::from_str::<Value>(&r.text()[1..]).expect("JSON")["sid"]
            .as_str()
            .expect("sid")
            .to_owned();
        let r = request(
            server.addr,
            Method::POST,
            &server.polling(&sid),
            &good,
            Bytes::from_static(b"4x"),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://good.example")
        );
        assert_eq!(server.received(&sid).await, text("x"));
        // And its long-polls: the session's answer gets them on its way out.
        let r = request(
            server.addr,
            Method::GET,
            &server.polling(&sid),
            &good,
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://good.example")
        );
        assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));

        let evil = [("origin", "https://evil.example")];
        let r = request(server.addr, Method::GET, handshake, &evil, Bytes::new()).await;
        assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
        assert_eq!(r.header("access-control-allow-credentials"), None);

        // A prefix or suffix of an allowed origin is another origin.
        let near = [("origin", "https://good.example.evil.example")];
        let r = request(server.addr, Method::GET, handshake, &near, Bytes::new()).await;
        assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");

        let r = request(
            server.addr,
            Method::OPTIONS,
            handshake,
            &[good[0], PREFLIGHT[0], PREFLIGHT[1]],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://good.example")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));

        let r = request(
            server.addr,
            Method::OPTIONS,
            handshake,
            &[evil[0], PREFLIGHT[0], PREFLIGHT[1]],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");

        // No Origin: no CORS headers.
        let r = get(server.addr, handshake).await;
        assert_eq!(r.header("access-control-allow-origin"), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cors_headers_without_cors() {
    within(async {
        let server = TestServer::start(fast()).await;
        let r = request(
            server.addr,
            Method::GET,
            "/engine.io/?EIO=4&transport=polling",
            &[("origin", "https://anywhere.example")],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("access-control-allow-origin"), None);
    })
    .await;
}
