//! Extractors: what a handler takes as arguments, each read from the
//! [`EventParts`] of the call, in the style of axum.
//!
//! | extractor | gives |
//! |---|---|
//! | [`Socket`] | the socket |
//! | [`Data<T>`] | the arguments, deserialized (one argument: `T` from it; zero or several: from their array, so a tuple) |
//! | [`TryData<T>`] | the same, or the error, for handlers that answer bad input themselves |
//! | [`Args`] | the arguments as they came, untyped |
//! | [`Event`] | the event's name (for catch-all handlers) |
//! | [`AckSender`] | the acknowledgement; `Option<AckSender>` when the client may not ask for one |
//! | [`State<T>`] | application state given with [`SocketIoConfig::with_state`](super::SocketIoConfig::with_state) |
//! | [`SocketData<T>`] | the socket's data ([`Socket::set_data`]) |
//! | [`DisconnectReason`] | why the socket disconnects (disconnect handlers) |
//!
//! An extractor that fails (wrong shape, missing value) stops the call:
//! the handler does not run, the socket's error listeners are told, and a
//! client waiting for an acknowledgement gets `{"error": message}`.

use serde::de::DeserializeOwned;

use super::error::{ArgumentError, DisconnectReason};
use super::state::{AckSender, EventParts, Socket};
use crate::Value;

/// A value a handler can take as an argument.
pub trait FromEvent: Sized {
    /// Takes the value from the call.
    fn from_event(parts: &mut EventParts<'_>) -> Result<Self, ArgumentError>;
}

impl FromEvent for Socket {
    fn from_event(parts: &mut EventParts<'_>) -> Result<Self, ArgumentError> {
        Ok(parts.socket.clone())
    }
}

impl<T: FromEvent> FromEvent for Option<T> {
    fn from_event(parts: &mut EventParts<'_>) -> Result<Self, ArgumentError> {
        Ok(T::from_event(parts).ok())
    }
}

/// The arguments, deserialized: with one argument `T` is read from it,
/// with zero or several from the array of them (so `Data<(A, B)>` for
/// two). Binary arguments read into `bytes::Bytes` (or `Vec<u8>`).
///
/// ```
/// use serde::Deserialize;
/// use socketeer::server::{Data, Socket, TryData};
///
/// #[derive(Deserialize)]
/// struct Chat { room: String, text: String }
///
/// fn on_connection(socket: Socket) {
///     // `emit("chat", {room, text})`: one argument.
///     socket.on("chat", |socket: Socket, Data(chat): Data<Chat>| {
///         let _ = socket.to(chat.room).emit_serialized("chat", &(chat.text,));
///     });
///     // `emit("move", 3, 4)`: several, as a tuple.
///     socket.on("move", |Data((x, y)): Data<(i32, i32)>| println!("to {x},{y}"));
///     // A file: binary reads into `Bytes`.
///     socket.on("upload", |Data((name, bytes)): Data<(String, bytes::Bytes)>| {
///         println!("{name}: {} bytes", bytes.len());
///     });
///     // Bad input answered by the handler itself (`Data` would skip it).
///     socket.on("age", |socket: Socket, TryData(age): TryData<u8>| {
///         if let Err(e) = age {
///             let _ = socket.emit("error", vec![e.to_string().into()]);
///         }
///     });
/// }
/// # let io = socketeer::server::SocketIo::new(Default::default());
/// # io.on_connection(on_connection);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Data<T>(pub T);

/// Like [`Data`], but the handler runs either way and gets the error (see
/// the [`Data`] example).
#[derive(Debug, Clone, PartialEq)]
pub struct TryData<T>(pub Result<T, ArgumentError>);

/// The arguments as the client sent them.
///
/// ```
/// use socketeer::server::{Args, Event, Socket};
///
/// fn on_connection(socket: Socket) {
///     // A catch-all listener: every event's name and its arguments, untyped.
///     socket.on_any(|Event(name): Event, Args(args): Args| {
///         println!("{name}: {args:?}");
///     });
///     // Relay whatever comes, as it came.
///     socket.on("relay", |socket: Socket, Args(args): Args| {
///         let _ = socket.broadcast().emit("relay", args);
///     });
/// }
/// # let io = socketeer::server::SocketIo::new(Default::default());
/// # io.on_connection(on_connection);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Args(pub Vec<Value>);

/// The event's name, for catch-all listeners (see the [`Args`] example).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event(pub String);

/// Application state, shared by every handler: set with
/// [`SocketIoConfig::with_state`](super::SocketIoConfig::with_state).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use serde::{Deserialize, Serialize};
/// use socketeer::server::{Socket, SocketData, SocketIo, SocketIoConfig, State};
///
/// #[derive(Clone, Default)]
/// struct Stats { messages: Arc<AtomicU64> }
///
/// #[derive(Clone, Serialize, Deserialize)]
/// struct User { name: String }
///
/// let io = SocketIo::new(SocketIoConfig::default().with_state(Stats::default()));
/// io.main_namespace().use_middleware(|socket: &Socket| {
///     socket.set_data(User { name: "ann".into() }); // what `SocketData` reads
///     Ok(())
/// });
/// io.on_connection(|socket: Socket| {
///     socket.on("message", |State(stats): State<Stats>, SocketData(user): SocketData<User>| {
///         let n = stats.messages.fetch_add(1, Ordering::Relaxed) + 1;
///         println!("message {n}, from {}", user.name);
///     });
/// });
/// ```
#[derive(Debug, Clone)]
pub struct State<T>(pub T);

/// A clone of the socket's data, set with [`Socket::set_data`]; fails
/// when the socket has none of type `T` (take `Option<SocketData<T>>` to
/// accept both). See the [`State`] example.
#[derive(Debug, Clone)]
pub struct SocketData<T>(pub T);

fn take_args(parts: &mut EventParts<'_>) -> Vec<Value> {
    parts.args.take().unwrap_or_default()
}

/// Reads `T` from the arguments (see [`Data`]).
fn deserialize_args<T: DeserializeOwned>(
    event: &str,
    args: Vec<Value>,
) -> Result<T, ArgumentError> {
    crate::value::typed_args(args).map_err(|e| ArgumentError::Invalid {
        event: event.to_owned(),
        message: e.to_string(),
    })
}

impl<T: DeserializeOwned> FromEvent for Data<T> {
    fn from_event(parts: &mut EventParts<'_>) -> Result<Self, ArgumentError> {
        let args = take_args(parts);
        deserialize_args(parts.event, args).map(Data)
    }
}

impl<T: DeserializeOwned> FromEvent for TryData<T> {
    fn from_event(parts: &mut EventParts<'_>) -> Result<Self, ArgumentError> {
        let args = take_args(parts);
        Ok(TryData(deserialize_args(parts.event, args)))
    }
}

impl FromEvent for Args {
    fn from_event(parts: &mut EventParts<'_>) -> Result<Self, ArgumentError> {
        Ok(Args(take_args(parts)))
    }
}

impl FromEvent for Event {
    fn from_event(parts: &mut EventParts<'_>) -> Result<Self, ArgumentError> {
        Ok(Event(parts.event.to_owned()))
    }
}

impl FromEvent for AckSender {
    fn from_event(parts: &mut EventParts<'_>) -> Result<Self, ArgumentError> {
        parts
            .ack
            .take()
            .ok_or_else(|| ArgumentError::NoAck(parts.event.to_owned()))
    }
}

impl FromEvent for DisconnectReason {
    fn from_event(parts: &mut EventParts<'_>) -> Result<Self, ArgumentError> {
        parts
            .reason
            .ok_or(ArgumentError::Missing("DisconnectReason"))
    }
}

impl<T: Clone + Send + Sync + 'static> FromEvent for State<T> {
    fn from_event(parts: &mut EventParts<'_>) -> Result<Self, ArgumentError> {
        parts
            .socket
            .namespace()
            .inner
            .state
            .get::<T>()
            .cloned()
            .map(State)
            .ok_or(ArgumentError::Missing(std::any::type_name::<T>()))
    }
}

impl<T: Clone + Send + Sync + 'static> FromEvent for SocketData<T> {
    fn from_event(parts: &mut EventParts<'_>) -> Result<Self, ArgumentError> {
        parts
            .socket
            .data::<T>()
            .map(SocketData)
            .ok_or(ArgumentError::Missing(std::any::type_name::<T>()))
    }
}
