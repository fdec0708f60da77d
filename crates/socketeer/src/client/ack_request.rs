//! [`AckRequest`]: an emitted event's acknowledgement, awaited as a future.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::core::{AckError, AckToken};
use super::shared::{AckResult, Shared};

// Named in doc links only.
#[cfg(doc)]
use super::shared::Socket;

/// An emitted event waiting for its acknowledgement; `.await` it (after
/// `.timeout(..)` if needed). Dropping it stops waiting (the event was
/// sent all the same).
#[must_use = "await the request for the acknowledgement"]
pub struct AckRequest {
    pub(super) shared: Arc<Shared>,
    pub(super) emitted: Instant,
    pub(super) state: Result<(AckToken, oneshot::Receiver<AckResult>), AckError>,
}

impl std::fmt::Debug for AckRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckRequest")
            .field("token", &self.state.as_ref().map(|s| s.0))
            .finish_non_exhaustive()
    }
}

impl AckRequest {
    /// Fails with [`AckError::Timeout`] when no acknowledgement came within
    /// `timeout` of the emit (the packet is dropped if it is still
    /// buffered). With retries, each try waits this long.
    pub fn timeout(self, timeout: Duration) -> Self {
        if let Ok((token, _)) = &self.state {
            self.shared
                .lock()
                .core
                .set_ack_timeout(*token, timeout, self.emitted);
            self.shared.wake.notify_one();
        }
        self
    }

    /// Waits for the acknowledgement and reads its arguments as `T`: one
    /// argument gives `T` from it, several from their array (a tuple).
    /// Fails with [`AckError::InvalidAnswer`] when they do not fit. See
    /// the [`Socket`] example.
    pub async fn typed<T: serde::de::DeserializeOwned>(self) -> Result<T, AckError> {
        let args = self.await?;
        crate::value::typed_args(args).map_err(|_| AckError::InvalidAnswer)
    }
}

impl IntoFuture for AckRequest {
    type Output = AckResult;
    type IntoFuture = Pin<Box<dyn Future<Output = AckResult> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let (_, rx) = self.state?;
            rx.await.unwrap_or(Err(AckError::Closed))
        })
    }
}
