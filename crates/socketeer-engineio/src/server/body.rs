//! [`RequestBody`], the body of a request as [`serve_http`](super::serve_http)'s
//! handler gets it.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
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

/// All of a body's data. A body that comes in one frame (a full body, a
/// request body read whole) is handed on as it is: no copy, and none of
/// the list `http_body_util`'s `collect` allocates. Trailers are dropped.
pub(crate) async fn whole<B>(body: B) -> Result<Bytes, B::Error>
where
    B: Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        match (&mut joined, first.take()) {
            (Some(joined), _) => joined.extend_from_slice(&data),
            (None, None) => first = Some(data),
            (None, Some(earlier)) => {
                let mut both = BytesMut::with_capacity(earlier.len() + data.len());
                both.extend_from_slice(&earlier);
                both.extend_from_slice(&data);
                joined = Some(both);
            }
        }
    }
    Ok(joined.map_or_else(|| first.unwrap_or_default(), BytesMut::freeze))
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

    /// A body of the frames given, one per poll.
    struct Frames(std::collections::VecDeque<Result<Frame<Bytes>, &'static str>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = &'static str;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            Poll::Ready(self.get_mut().0.pop_front())
        }
    }

    fn frames(list: Vec<Result<Frame<Bytes>, &'static str>>) -> Frames {
        Frames(list.into())
    }

    #[tokio::test]
    async fn a_body_in_one_frame_is_handed_on_without_a_copy() {
        let data = Bytes::from(b"4hello".to_vec());
        let at = data.as_ptr();
        let bytes = whole(RequestBody::read(data)).await.unwrap();
        assert_eq!(&bytes[..], b"4hello");
        assert_eq!(bytes.as_ptr(), at, "the same bytes, not a copy");
        assert!(whole(RequestBody::read(Bytes::new()))
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn frames_are_joined_in_order_and_trailers_dropped() {
        let body = frames(vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Ok(Frame::data(Bytes::new())),
            Ok(Frame::data(Bytes::from_static(b"cd"))),
            Ok(Frame::trailers(http::HeaderMap::new())),
            Ok(Frame::data(Bytes::from_static(b"e"))),
        ]);
        assert_eq!(&whole(body).await.unwrap()[..], b"abcde");
    }

    #[tokio::test]
    async fn an_error_in_the_body_is_returned() {
        let body = frames(vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Err("broken"),
        ]);
        assert_eq!(whole(body).await, Err("broken"));
    }
}
