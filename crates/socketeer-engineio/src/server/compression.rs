//! gzip and deflate of long-polling responses, as the official server's
//! `httpCompression`: [`HttpCompression`], the `Accept-Encoding`
//! negotiation and the compression of a response body.

use std::io::Write;

use bytes::Bytes;
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use http::header::{HeaderValue, CONTENT_ENCODING, VARY};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::response::{empty, Body};

/// Default for [`HttpCompression::threshold`], in bytes (Node's
/// `httpCompression.threshold`).
pub const DEFAULT_HTTP_COMPRESSION_THRESHOLD: usize = 1024;

/// Bodies larger than this are compressed on a blocking thread, off the
/// runtime's workers.
const INLINE_LIMIT: usize = 64 * 1024;

/// Compression of long-polling responses (the handshake and the answers to
/// polling GETs), negotiated from the request's `Accept-Encoding` as the
/// official server does: `gzip` or `deflate` (zlib format), whichever the
/// client prefers (by `q`, then by its order in the header); neither when
/// the header is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCompression {
    /// Bodies shorter than this many bytes are sent as they are (default
    /// [`DEFAULT_HTTP_COMPRESSION_THRESHOLD`], 1,024).
    pub threshold: usize,
    /// zlib compression level, `0..=9` (default 6, zlib's default, as
    /// Node's; values above 9 are treated as 9).
    pub level: u32,
}

impl Default for HttpCompression {
    fn default() -> Self {
        HttpCompression {
            threshold: DEFAULT_HTTP_COMPRESSION_THRESHOLD,
            level: 6,
        }
    }
}

/// A content coding the server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentCoding {
    Gzip,
    Deflate,
}

impl ContentCoding {
    /// In the order the server offers them, which breaks ties.
    const OFFERED: [ContentCoding; 2] = [ContentCoding::Gzip, ContentCoding::Deflate];

    fn name(self) -> &'static str {
        match self {
            ContentCoding::Gzip => "gzip",
            ContentCoding::Deflate => "deflate",
        }
    }
}

/// The coding to answer a request whose `Accept-Encoding` is `accept`
/// with, as the `negotiator` package (behind Node's `accepts`) picks it:
/// for each coding, the most specific entry naming it (its name, else
/// `*`) gives its `q`; codings with `q` 0 are out; the highest `q` wins,
/// then an exact name over `*`, then the one listed first in the header,
/// then gzip.
pub(crate) fn negotiate(accept: &str) -> Option<ContentCoding> {
    struct Entry<'a> {
        name: &'a str,
        q: f32,
    }
    let entries: Vec<Entry<'_>> = accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim();
            if name.is_empty() {
                return None;
            }
            let mut q = 1.0;
            for param in parts {
                if let Some((k, v)) = param.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = v.trim().parse().unwrap_or(0.0);
                    }
                }
            }
            Some(Entry { name, q })
        })
        .collect();
    // (q, specificity, position in the header, position in the offer)
    let mut best: Option<(f32, u8, usize, usize, ContentCoding)> = None;
    for (offered, coding) in ContentCoding::OFFERED.into_iter().enumerate() {
        let mut pick: Option<(f32, u8, usize)> = None;
        for (order, e) in entries.iter().enumerate() {
            let specificity = if e.name.eq_ignore_ascii_case(coding.name()) {
                1
            } else if e.name == "*" {
                0
            } else {
                continue;
            };
            let better = match pick {
                None => true,
                Some((q, s, _)) => specificity > s || (specificity == s && e.q > q),
            };
            if better {
                pick = Some((e.q, specificity, order));
            }
        }
        let Some((q, s, order)) = pick.filter(|p| p.0 > 0.0) else {
            continue;
        };
        let wins = match best {
            None => true,
            Some((bq, bs, border, _, _)) => {
                q > bq || (q == bq && (s > bs || (s == bs && order < border)))
            }
        };
        if wins {
            best = Some((q, s, order, offered, coding));
        }
    }
    best.map(|b| b.4)
}

/// `data` compressed with `coding` at `level`.
pub(crate) fn compress(coding: ContentCoding, level: u32, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let level = Compression::new(level.min(9));
    let out = Vec::with_capacity(data.len() / 2 + 64);
    match coding {
        ContentCoding::Gzip => {
            let mut e = GzEncoder::new(out, level);
            e.write_all(data)?;
            e.finish()
        }
        ContentCoding::Deflate => {
            let mut e = ZlibEncoder::new(out, level);
            e.write_all(data)?;
            e.finish()
        }
    }
}

/// The coding `resp` is to be compressed with: a `200` response of at
/// least the threshold, to a client whose `accept` names a coding the
/// server has. `None`: it goes as it is.
pub(crate) fn coding_for(
    resp: &Response<Body>,
    options: &HttpCompression,
    accept: Option<&HeaderValue>,
) -> Option<ContentCoding> {
    let len = http_body::Body::size_hint(resp.body()).exact().unwrap_or(0);
    coding_for_body(resp.status(), len, options, accept)
}

/// [`coding_for`] a response of `status` with a body of `len` bytes.
pub(crate) fn coding_for_body(
    status: StatusCode,
    len: u64,
    options: &HttpCompression,
    accept: Option<&HeaderValue>,
) -> Option<ContentCoding> {
    if status != StatusCode::OK {
        return None;
    }
    if len < options.threshold as u64 {
        return None;
    }
    accept.and_then(|a| a.to_str().ok()).and_then(negotiate)
}

/// `resp` with its body compressed in `coding` (see [`coding_for`]), with
/// `Content-Encoding` and `Vary: Accept-Encoding`.
pub(crate) async fn compress_response(
    resp: Response<Body>,
    options: &HttpCompression,
    coding: ContentCoding,
) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let data: Bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let level = options.level;
    let compressed = if data.len() > INLINE_LIMIT {
        tokio::task::spawn_blocking(move || compress(coding, level, &data))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    } else {
        compress(coding, level, &data)
    };
    match compressed {
        Ok(bytes) => {
            parts
                .headers
                .insert(CONTENT_ENCODING, HeaderValue::from_static(coding.name()));
            parts
                .headers
                .append(VARY, HeaderValue::from_static("Accept-Encoding"));
            Response::from_parts(parts, Full::new(Bytes::from(bytes)))
        }
        Err(e) => {
            // As the official server: a compression failure is a 500.
            tracing::warn!(error = %e, "compressing a polling response failed");
            empty(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    use ContentCoding::{Deflate, Gzip};

    #[test]
    fn negotiation_follows_q_then_header_order() {
        assert_eq!(negotiate("gzip, deflate, br"), Some(Gzip));
        assert_eq!(negotiate("deflate, gzip"), Some(Deflate));
        assert_eq!(negotiate("br, deflate"), Some(Deflate));
        assert_eq!(negotiate("gzip;q=0.5, deflate"), Some(Deflate));
        assert_eq!(negotiate("deflate;q=0.2, gzip;q=0.8"), Some(Gzip));
        assert_eq!(negotiate("GZIP"), Some(Gzip));
        assert_eq!(negotiate("gzip ; q=1.0"), Some(Gzip));
    }

    #[test]
    fn negotiation_of_wildcards_and_refusals() {
        assert_eq!(negotiate("*"), Some(Gzip));
        assert_eq!(negotiate("gzip;q=0, *"), Some(Deflate));
        assert_eq!(negotiate("*;q=0.5, deflate"), Some(Deflate));
        assert_eq!(negotiate("gzip;q=0, deflate;q=0"), None);
        assert_eq!(negotiate("*;q=0"), None);
        assert_eq!(negotiate("identity"), None);
        assert_eq!(negotiate("br, zstd"), None);
        assert_eq!(negotiate(""), None);
        assert_eq!(negotiate("gzip;q=oops"), None);
    }

    #[test]
    fn compressed_bodies_decompress_to_the_original() {
        let data = "4hello world\x1e".repeat(200);
        let gz = compress(Gzip, 6, data.as_bytes()).expect("gzip");
        assert_eq!(&gz[..2], [0x1f, 0x8b], "gzip magic");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut out)
            .expect("gunzip");
        assert_eq!(out, data);

        let z = compress(Deflate, 9, data.as_bytes()).expect("deflate");
        assert_eq!(z[0] & 0x0f, 8, "zlib header: deflate method");
        let mut out = String::new();
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_string(&mut out)
            .expect("inflate");
        assert_eq!(out, data);
        assert!(z.len() < data.len() / 10);
    }

    /// What the server sends: compressed when `coding_for` says so.
    async fn compressed(
        resp: Response<Body>,
        options: &HttpCompression,
        accept: Option<&HeaderValue>,
    ) -> Response<Body> {
        match coding_for(&resp, options, accept) {
            Some(coding) => compress_response(resp, options, coding).await,
            None => resp,
        }
    }

    fn ok(body: &str) -> Response<Body> {
        super::super::response::payload_response(Bytes::copy_from_slice(body.as_bytes()))
    }

    async fn body(resp: Response<Body>) -> Bytes {
        match resp.into_body().collect().await {
            Ok(c) => c.to_bytes(),
            Err(never) => match never {},
        }
    }

    #[tokio::test]
    async fn responses_compress_from_the_threshold_on() {
        let options = HttpCompression::default();
        let gzip = HeaderValue::from_static("gzip, deflate");
        let small = "x".repeat(DEFAULT_HTTP_COMPRESSION_THRESHOLD - 1);
        let r = compressed(ok(&small), &options, Some(&gzip)).await;
        assert_eq!(r.headers().get(CONTENT_ENCODING), None);
        assert_eq!(body(r).await, small.as_bytes());

        let large = "x".repeat(DEFAULT_HTTP_COMPRESSION_THRESHOLD);
        let r = compressed(ok(&large), &options, Some(&gzip)).await;
        assert_eq!(r.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[VARY], "Accept-Encoding");
        let gz = body(r).await;
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut out)
            .expect("gunzip");
        assert_eq!(out, large);
    }

    #[tokio::test]
    async fn responses_stay_plain_without_accept_encoding_or_on_errors() {
        let options = HttpCompression::default();
        let large = "x".repeat(100_000);
        let r = compressed(ok(&large), &options, None).await;
        assert_eq!(r.headers().get(CONTENT_ENCODING), None);
        assert_eq!(body(r).await.len(), large.len());

        let mut refused = ok(&large);
        *refused.status_mut() = StatusCode::BAD_REQUEST;
        let gzip = HeaderValue::from_static("gzip");
        let r = compressed(refused, &options, Some(&gzip)).await;
        assert_eq!(r.headers().get(CONTENT_ENCODING), None);

        // Over the inline limit: compressed on a blocking thread.
        let r = compressed(ok(&large), &options, Some(&gzip)).await;
        assert_eq!(r.headers()[CONTENT_ENCODING], "gzip");
        assert!(body(r).await.len() < 1000);
    }
}
