//! [`RequestBody`], the body of a request as [`serve_http`](super::serve_http)'s
//! handler gets it.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// The body of a request served by [`serve_http`](super::serve_http): read
/// whole by socketeer's own HTTP/1.1 path (small bodies with a
/// `Content-Length`), or streamed by hyper (everything else). Read it as
/// any [`http_body::Body`]; [`EngineIo::handle`](super::EngineIo::handle)
/// takes it as it is.
#[derive(Debug)]
pub struct RequestBody(Kind);

#[derive(Debug)]
enum Kind {
    Read(Option<Bytes>),
    Hyper(hyper::body::Incoming),
}

impl RequestBody {
    /// A body read whole.
    pub(crate) fn read(bytes: Bytes) -> Self {
        RequestBody(Kind::Read(Some(bytes).filter(|b| !b.is_empty())))
    }

    /// hyper's body.
    pub(crate) fn hyper(body: hyper::body::Incoming) -> Self {
        RequestBody(Kind::Hyper(body))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.get_mut().0 {
            Kind::Read(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Hyper(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Read(bytes) => bytes.is_none(),
            Kind::Hyper(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Read(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Hyper(body) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_body_read_whole_gives_its_bytes_once() {
        let body = RequestBody::read(Bytes::from_static(b"4hello"));
        assert_eq!(body.size_hint().exact(), Some(6));
        assert!(!body.is_end_stream());
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"4hello");
        let empty = RequestBody::read(Bytes::new());
        assert!(empty.is_end_stream());
        assert!(empty.collect().await.unwrap().to_bytes().is_empty());
    }
}
