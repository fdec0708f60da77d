//! [`Handler`]: what `on`, `on_any`, `on_connection` and the disconnect
//! listeners accept. Any function or closure, sync or async, whose
//! arguments are all [extractors](super::extract) (up to eight):
//!
//! ```
//! use serde::Deserialize;
//! use socketeer::server::{AckSender, Data, Socket};
//!
//! #[derive(Deserialize)]
//! struct Chat {
//!     room: String,
//!     text: String,
//! }
//!
//! fn setup(socket: Socket) {
//!     // Sync: runs on the connection's task, costs no more than a call.
//!     socket.on("join", |socket: Socket, Data(room): Data<String>| {
//!         socket.join([room]);
//!     });
//!     // Async: may await; this socket's later events wait for it, other
//!     // sockets' do not.
//!     socket.on("chat", |socket: Socket, Data(msg): Data<Chat>, ack: AckSender| async move {
//!         tokio::time::sleep(std::time::Duration::from_millis(1)).await;
//!         let _ = socket.to(msg.room).emit("chat", vec![msg.text.into()]);
//!         let _ = ack.send(vec!["stored".into()]);
//!     });
//! }
//! ```

use std::future::Future;
use std::marker::PhantomData;

use super::error::ArgumentError;
use super::extract::FromEvent;
use super::state::{BoxFuture, ErasedHandler, EventParts};

/// Markers that tell sync handlers from async ones (the `M` of
/// [`Handler<M>`]); never named by users.
pub mod marker {
    /// A handler that returns `()`.
    #[derive(Debug)]
    pub struct Sync;
    /// A handler that returns a future.
    #[derive(Debug)]
    pub struct Async;
}

/// A function usable as a handler: its arguments are extractors, and it
/// returns `()` or a future of `()`. `M` only tells the implementations
/// apart and is inferred.
pub trait Handler<M>: Send + Sync + Sized + 'static {
    /// Extracts the arguments and runs; returns the rest of the work when
    /// the handler is async.
    #[doc(hidden)]
    fn call(&self, parts: EventParts<'_>) -> Result<Option<BoxFuture>, ArgumentError>;
}

macro_rules! impl_handler {
    ($($arg:ident),*) => {
        #[allow(non_snake_case, unused_mut, unused_variables)]
        impl<F, $($arg,)*> Handler<(marker::Sync, $($arg,)*)> for F
        where
            F: Fn($($arg),*) + Send + Sync + 'static,
            $($arg: FromEvent,)*
        {
            fn call(&self, mut parts: EventParts<'_>) -> Result<Option<BoxFuture>, ArgumentError> {
                $(let $arg = $arg::from_event(&mut parts)?;)*
                (self)($($arg),*);
                Ok(None)
            }
        }

        #[allow(non_snake_case, unused_mut, unused_variables)]
        impl<F, Fut, $($arg,)*> Handler<(marker::Async, $($arg,)*)> for F
        where
            F: Fn($($arg),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($arg: FromEvent,)*
        {
            fn call(&self, mut parts: EventParts<'_>) -> Result<Option<BoxFuture>, ArgumentError> {
                $(let $arg = $arg::from_event(&mut parts)?;)*
                Ok(Some(Box::pin((self)($($arg),*))))
            }
        }
    };
}

impl_handler!();
impl_handler!(A1);
impl_handler!(A1, A2);
impl_handler!(A1, A2, A3);
impl_handler!(A1, A2, A3, A4);
impl_handler!(A1, A2, A3, A4, A5);
impl_handler!(A1, A2, A3, A4, A5, A6);
impl_handler!(A1, A2, A3, A4, A5, A6, A7);
impl_handler!(A1, A2, A3, A4, A5, A6, A7, A8);

/// A [`Handler`] with its marker erased, as the server stores it.
pub(crate) struct Erased<H, M> {
    handler: H,
    _marker: PhantomData<fn() -> M>,
}

impl<H, M> Erased<H, M> {
    pub(crate) fn new(handler: H) -> Self {
        Erased {
            handler,
            _marker: PhantomData,
        }
    }
}

impl<H: Handler<M>, M: 'static> ErasedHandler for Erased<H, M> {
    fn call(&self, parts: EventParts<'_>) -> Result<Option<BoxFuture>, ArgumentError> {
        self.handler.call(parts)
    }
}
