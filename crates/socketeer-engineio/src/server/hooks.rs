//! The application's hooks into the HTTP side, after the official
//! server's `allowRequest` option and its `initial_headers`, `headers` and
//! `connection_error` events: [`AllowRequest`], [`AllowRequestAsync`],
//! [`HeadersHook`] and [`ConnectionErrorHook`] with [`ConnectionError`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::HeaderMap;

use super::response::EngineError;
use super::socket::RequestInfo;

/// A hook that accepts or refuses a new session (e.g. by its headers): an
/// `Err` refuses it with 403 and the message.
pub type AllowRequest = Arc<dyn Fn(&RequestInfo) -> Result<(), String> + Send + Sync>;

/// The future an [`AllowRequestAsync`] returns.
pub type AllowFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// An asynchronous [`AllowRequest`], for a decision that waits on
/// something (a database, another service); Node's `allowRequest` with
/// its callback.
///
/// ```
/// use socketeer_engineio::server::{AllowRequestAsync, EngineIoConfig};
///
/// let config = EngineIoConfig {
///     allow_request_async: Some(AllowRequestAsync::new(|req| async move {
///         let token = req.query().get("token").map(str::to_owned);
///         match token.as_deref() {
///             Some("secret") => Ok(()),
///             _ => Err("bad token".to_owned()),
///         }
///     })),
///     ..Default::default()
/// };
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct AllowRequestAsync(Arc<dyn Fn(RequestInfo) -> AllowFuture + Send + Sync>);

impl AllowRequestAsync {
    /// From an async function or a closure returning a future.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(RequestInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        AllowRequestAsync(Arc::new(move |req| Box::pin(f(req))))
    }

    /// From a function that already returns a boxed future.
    pub fn boxed(f: impl Fn(RequestInfo) -> AllowFuture + Send + Sync + 'static) -> Self {
        AllowRequestAsync(Arc::new(f))
    }

    /// Runs the hook for `req`.
    pub fn check(&self, req: RequestInfo) -> AllowFuture {
        (self.0)(req)
    }
}

impl std::fmt::Debug for AllowRequestAsync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AllowRequestAsync(..)")
    }
}

/// A hook that adds headers to a response (Node's `initial_headers` and
/// `headers` events); it gets the request and the response's headers.
pub type HeadersHook = Arc<dyn Fn(&RequestInfo, &mut HeaderMap) + Send + Sync>;

/// A request the server refused (Node's `connection_error` event).
#[derive(Debug, Clone)]
pub struct ConnectionError {
    /// The refused request.
    pub req: RequestInfo,
    /// Why: [`EngineError::code`] is the number Node gives (0 unknown
    /// transport, 1 unknown sid, 2 bad handshake method, 3 bad request,
    /// 4 forbidden, 5 unsupported protocol version).
    pub code: EngineError,
    /// The official message of `code` (`"Forbidden"`, …).
    pub message: &'static str,
    /// More about it, when there is more: the message an
    /// [`AllowRequest`] refused with, or what was wrong with the request.
    pub context: Option<String>,
}

/// A hook called for each request refused with an official error
/// ([`ConnectionError`]).
pub type ConnectionErrorHook = Arc<dyn Fn(&ConnectionError) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    fn info(uri: &'static str) -> RequestInfo {
        RequestInfo {
            uri: http::Uri::from_static(uri),
            headers: Arc::new(HeaderMap::new()),
            remote_addr: None,
        }
    }

    #[tokio::test]
    async fn async_hooks_from_closures_and_boxed_futures() {
        let allow = AllowRequestAsync::new(|req: RequestInfo| async move {
            tokio::task::yield_now().await;
            match req.query().get("token") {
                Some("ok") => Ok(()),
                _ => Err("no".to_owned()),
            }
        });
        assert_eq!(allow.check(info("/e/?token=ok")).await, Ok(()));
        assert_eq!(allow.check(info("/e/?token=ko")).await, Err("no".into()));

        let boxed = AllowRequestAsync::boxed(|_| Box::pin(async { Err("never".to_owned()) }));
        assert_eq!(boxed.clone().check(info("/")).await, Err("never".into()));
        assert_eq!(format!("{boxed:?}"), "AllowRequestAsync(..)");
    }
}
