//! Negotiation of permessage-deflate (RFC 7692 §5, §7.1): parsing
//! `Sec-WebSocket-Extensions`, the client's offer, the server's choice and
//! response, and the client's check of that response.

use std::borrow::Cow;

use super::{
    DeflateConfig, DeflateError, DeflateParams, CLIENT_MAX_WINDOW_BITS, CLIENT_NO_CONTEXT_TAKEOVER,
    EXTENSION_NAME, MAX_WINDOW_BITS, MIN_RFC_WINDOW_BITS, MIN_ZLIB_WINDOW_BITS,
    SERVER_MAX_WINDOW_BITS, SERVER_NO_CONTEXT_TAKEOVER,
};

// ---------------------------------------------------------------------------
// Header parsing (RFC 6455 §9.1, with RFC 7230 OWS and empty list elements).
// ---------------------------------------------------------------------------

/// One extension parameter: a name and an optional (unquoted) value.
#[derive(Debug)]
struct Param<'a> {
    name: &'a str,
    value: Option<Cow<'a, str>>,
}

/// One element of an extension list: a name and its parameters.
#[derive(Debug)]
struct Extension<'a> {
    name: &'a str,
    params: Vec<Param<'a>>,
}

/// `tchar` of RFC 7230 §3.2.6: the characters a token is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// A cursor over a header value, for a recursive-descent parse.
struct HeaderParser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> HeaderParser<'a> {
    /// The byte at the cursor, if any.
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// A parse error at the cursor.
    fn error(&self) -> DeflateError {
        DeflateError::MalformedHeader(self.pos)
    }

    /// Skips optional whitespace (SP / HTAB).
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// A non-empty token.
    fn token(&mut self) -> Result<&'a str, DeflateError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error());
        }
        // Token characters are ASCII, so both ends are char boundaries.
        self.text.get(start..self.pos).ok_or_else(|| self.error())
    }

    /// A quoted-string, positioned on its opening quote; returns the
    /// unescaped content.
    fn quoted(&mut self) -> Result<Cow<'a, str>, DeflateError> {
        self.pos += 1; // opening quote
        let start = self.pos;
        let mut unescaped: Option<String> = None;
        loop {
            let b = self.peek().ok_or_else(|| self.error())?;
            match b {
                b'"' => {
                    let raw = self.text.get(start..self.pos).ok_or_else(|| self.error())?;
                    self.pos += 1;
                    return Ok(match unescaped {
                        Some(s) => Cow::Owned(s),
                        None => Cow::Borrowed(raw),
                    });
                }
                b'\\' => {
                    let done = self.text.get(start..self.pos).ok_or_else(|| self.error())?;
                    let s = unescaped.get_or_insert_with(|| done.to_owned());
                    self.pos += 1;
                    let escaped = self.next_char().ok_or_else(|| self.error())?;
                    if escaped.is_control() && escaped != '\t' {
                        return Err(self.error());
                    }
                    s.push(escaped);
                }
                _ => {
                    let c = self.next_char().ok_or_else(|| self.error())?;
                    if c.is_control() && c != '\t' {
                        return Err(DeflateError::MalformedHeader(self.pos - c.len_utf8()));
                    }
                    if let Some(s) = unescaped.as_mut() {
                        s.push(c);
                    }
                }
            }
        }
    }

    /// Consumes and returns the character at the current position.
    fn next_char(&mut self) -> Option<char> {
        let c = self.text.get(self.pos..)?.chars().next()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// `extension = token *( OWS ";" OWS token [ OWS "=" OWS ( token / quoted-string ) ] )`
    fn extension(&mut self) -> Result<Extension<'a>, DeflateError> {
        let name = self.token()?;
        let mut params = Vec::new();
        loop {
            self.skip_ows();
            if self.peek() != Some(b';') {
                return Ok(Extension { name, params });
            }
            self.pos += 1;
            self.skip_ows();
            let pname = self.token()?;
            self.skip_ows();
            let value = if self.peek() == Some(b'=') {
                self.pos += 1;
                self.skip_ows();
                if self.peek() == Some(b'"') {
                    Some(self.quoted()?)
                } else {
                    Some(Cow::Borrowed(self.token()?))
                }
            } else {
                None
            };
            params.push(Param { name: pname, value });
        }
    }

    /// A comma-separated list of extensions; empty elements are skipped.
    fn list(mut self) -> Result<Vec<Extension<'a>>, DeflateError> {
        let mut out = Vec::new();
        loop {
            self.skip_ows();
            match self.peek() {
                None => return Ok(out),
                Some(b',') => {
                    // Empty list element (RFC 7230 §7): tolerated.
                    self.pos += 1;
                    continue;
                }
                Some(_) => {}
            }
            out.push(self.extension()?);
            self.skip_ows();
            match self.peek() {
                None => return Ok(out),
                Some(b',') => self.pos += 1,
                Some(_) => return Err(self.error()),
            }
        }
    }
}

/// Parses a `Sec-WebSocket-Extensions` value (possibly several header lines
/// joined with ", ") into its extensions.
fn parse_extensions(text: &str) -> Result<Vec<Extension<'_>>, DeflateError> {
    HeaderParser { text, pos: 0 }.list()
}

/// Parses a window-bits value exactly as RFC 7692 §7.1.2.1 spells it:
/// `8` to `15`, decimal, no leading zeros, no sign.
fn parse_window_bits(value: &str) -> Option<u8> {
    match value {
        "8" => Some(8),
        "9" => Some(9),
        "10" => Some(10),
        "11" => Some(11),
        "12" => Some(12),
        "13" => Some(13),
        "14" => Some(14),
        "15" => Some(15),
        _ => None,
    }
}

/// The permessage-deflate parameters of one offer or response.
#[derive(Debug, Default)]
struct RawParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (only valid in an offer).
    #[allow(clippy::option_option)]
    client_max_window_bits: Option<Option<u8>>,
}

/// Validates the parameters of one permessage-deflate element. In an offer
/// `client_max_window_bits` may have no value; in a response every window
/// parameter needs one. Unknown and duplicate parameters are errors.
fn parse_params(params: &[Param<'_>], is_offer: bool) -> Result<RawParams, DeflateError> {
    let mut raw = RawParams::default();
    let mut seen = [false; 4];
    for p in params {
        let name = p.name.to_ascii_lowercase();
        let index = match name.as_str() {
            SERVER_NO_CONTEXT_TAKEOVER => 0,
            CLIENT_NO_CONTEXT_TAKEOVER => 1,
            SERVER_MAX_WINDOW_BITS => 2,
            CLIENT_MAX_WINDOW_BITS => 3,
            _ => return Err(DeflateError::UnknownParam(p.name.to_owned())),
        };
        if let Some(slot) = seen.get_mut(index) {
            if *slot {
                return Err(DeflateError::DuplicateParam(name));
            }
            *slot = true;
        }
        let bits = || {
            p.value
                .as_deref()
                .and_then(parse_window_bits)
                .ok_or_else(|| DeflateError::InvalidValue(name.clone()))
        };
        match index {
            0 | 1 => {
                if p.value.is_some() {
                    return Err(DeflateError::InvalidValue(name));
                }
                if index == 0 {
                    raw.server_no_context_takeover = true;
                } else {
                    raw.client_no_context_takeover = true;
                }
            }
            2 => raw.server_max_window_bits = Some(bits()?),
            _ => {
                raw.client_max_window_bits = if p.value.is_none() && is_offer {
                    Some(None)
                } else {
                    Some(Some(bits()?))
                };
            }
        }
    }
    Ok(raw)
}

/// Clamps a configured window that bounds our own compressor.
pub(super) fn own_window(bits: u8) -> u8 {
    bits.clamp(MIN_ZLIB_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// Clamps a configured window that bounds the peer's compressor.
pub(super) fn peer_window(bits: u8) -> u8 {
    bits.clamp(MIN_RFC_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// Appends `; name` or `; name=value` to an extension header value.
fn push_param(out: &mut String, name: &str, value: Option<u8>) {
    out.push_str("; ");
    out.push_str(name);
    if let Some(value) = value {
        out.push('=');
        out.push_str(&value.to_string());
    }
}

/// Whether an extension list element is permessage-deflate.
fn is_deflate(ext: &Extension<'_>) -> bool {
    ext.name.eq_ignore_ascii_case(EXTENSION_NAME)
}

// ---------------------------------------------------------------------------
// Server side.
// ---------------------------------------------------------------------------

/// A server's answer to one acceptable offer.
struct Acceptance {
    params: DeflateParams,
    response: String,
    /// Whether we may compress outgoing messages (false when the client
    /// demanded a server window of 8).
    can_compress: bool,
}

fn accept_offer(offer: &RawParams, config: &DeflateConfig) -> Option<Acceptance> {
    let own_max = own_window(config.server_max_window_bits);
    let peer_max = peer_window(config.client_max_window_bits);

    let server_no_context_takeover =
        offer.server_no_context_takeover || config.server_no_context_takeover;
    // If the client announces that it will not use context takeover, echo it:
    // that makes it binding, and lets us free the inflater between messages.
    let client_no_context_takeover =
        offer.client_no_context_takeover || config.client_no_context_takeover;

    // §7.1.2.1: accepting an offer with server_max_window_bits means answering
    // with the same or a smaller value; without it we may still announce ours.
    let (server_bits, send_server_bits) = match offer.server_max_window_bits {
        Some(requested) => (requested.min(own_max), true),
        None => (own_max, own_max < MAX_WINDOW_BITS),
    };
    // §7.1.2.2: we may only send client_max_window_bits if the client offered it.
    let client_bits = match offer.client_max_window_bits {
        None if peer_max < MAX_WINDOW_BITS => return None, // cannot bound the client
        None => MAX_WINDOW_BITS,
        Some(None) => peer_max,
        Some(Some(hint)) => hint.min(peer_max),
    };
    let send_client_bits = client_bits < MAX_WINDOW_BITS;

    let mut response = String::from(EXTENSION_NAME);
    if server_no_context_takeover {
        push_param(&mut response, SERVER_NO_CONTEXT_TAKEOVER, None);
    }
    if client_no_context_takeover {
        push_param(&mut response, CLIENT_NO_CONTEXT_TAKEOVER, None);
    }
    if send_server_bits {
        push_param(&mut response, SERVER_MAX_WINDOW_BITS, Some(server_bits));
    }
    if send_client_bits {
        push_param(&mut response, CLIENT_MAX_WINDOW_BITS, Some(client_bits));
    }

    Some(Acceptance {
        params: DeflateParams {
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        },
        response,
        can_compress: server_bits >= MIN_ZLIB_WINDOW_BITS,
    })
}

/// Server side, reporting a malformed header as an error.
///
/// Like [`server_negotiate`], but a header that does not parse yields
/// `Err(DeflateError::MalformedHeader(_))` instead of `None`, for servers that
/// prefer to reject such a handshake (e.g. with 400) rather than ignore it.
///
/// # Errors
///
/// [`DeflateError::MalformedHeader`] if `offers` does not follow the
/// RFC 6455 §9.1 grammar.
pub fn try_server_negotiate(
    offers: &str,
    config: &DeflateConfig,
) -> Result<Option<(DeflateParams, String)>, DeflateError> {
    let extensions = parse_extensions(offers)?;
    let mut fallback: Option<Acceptance> = None;
    for ext in extensions.iter().filter(|e| is_deflate(e)) {
        // §7.1: an offer with unknown, duplicate or invalid parameters is
        // declined — we simply move on to the next one.
        let Ok(raw) = parse_params(&ext.params, true) else {
            continue;
        };
        let Some(acceptance) = accept_offer(&raw, config) else {
            continue;
        };
        if acceptance.can_compress {
            return Ok(Some((acceptance.params, acceptance.response)));
        }
        if fallback.is_none() {
            fallback = Some(acceptance);
        }
    }
    Ok(fallback.map(|a| (a.params, a.response)))
}

/// Server side: `offers` is the value of every Sec-WebSocket-Extensions
/// request header, joined with ", ".
///
/// Picks the first acceptable permessage-deflate offer (RFC 7692 §5, §7.1):
/// offers of other extensions are ignored, and permessage-deflate offers with
/// unknown, duplicate or invalid parameters are declined (skipped), not
/// errors. An offer that would force us to compress with a window of 8 bits
/// is only chosen if no other acceptable offer exists; we then never compress
/// (see the module documentation). A header that does not parse at all is
/// declined as a whole; use [`try_server_negotiate`] to tell that case apart.
///
/// Returns the agreed parameters and the value for the response's
/// `Sec-WebSocket-Extensions` header, or `None` to decline (send no
/// permessage-deflate in the response).
#[must_use]
pub fn server_negotiate(offers: &str, config: &DeflateConfig) -> Option<(DeflateParams, String)> {
    try_server_negotiate(offers, config).ok().flatten()
}

// ---------------------------------------------------------------------------
// Client side.
// ---------------------------------------------------------------------------

/// Client side: the Sec-WebSocket-Extensions value to send.
///
/// Always includes `client_max_window_bits` (without a value when our window
/// is 15, to say we support the parameter; with our window as a hint
/// otherwise), so that any server can accept the offer.
#[must_use]
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = String::from(EXTENSION_NAME);
    if config.server_no_context_takeover {
        push_param(&mut offer, SERVER_NO_CONTEXT_TAKEOVER, None);
    }
    if config.client_no_context_takeover {
        push_param(&mut offer, CLIENT_NO_CONTEXT_TAKEOVER, None);
    }
    let server_bits = peer_window(config.server_max_window_bits);
    if server_bits < MAX_WINDOW_BITS {
        push_param(&mut offer, SERVER_MAX_WINDOW_BITS, Some(server_bits));
    }
    let client_bits = own_window(config.client_max_window_bits);
    push_param(
        &mut offer,
        CLIENT_MAX_WINDOW_BITS,
        Some(client_bits).filter(|&b| b < MAX_WINDOW_BITS),
    );
    offer
}

/// Client side: validate the server's response header value against what
/// [`client_offer`] offered with the same `config` (RFC 7692 §7.1).
///
/// The connection must be failed on any error: an extension we did not offer,
/// permessage-deflate twice, unknown or duplicate parameters, a missing or
/// invalid value, a window larger than we allowed, a window parameter we did
/// not offer, or a parameter we requested that the server did not confirm.
/// `server_no_context_takeover`, `client_no_context_takeover` and
/// `server_max_window_bits` are accepted even if not requested (§7.1.1.1,
/// §7.1.1.2, §7.1.2.1). A `client_max_window_bits=8` answer is accepted with
/// outgoing compression disabled (see the module documentation).
///
/// Call this only when the response has a Sec-WebSocket-Extensions header; an
/// empty list yields [`DeflateError::NotAccepted`]. See
/// [`client_negotiate_optional`] for a variant that maps "no extension" to
/// `Ok(None)`.
///
/// # Errors
///
/// Any [`DeflateError`] negotiation variant, as listed above; the client must
/// then fail the WebSocket connection.
pub fn client_negotiate(
    response: &str,
    config: &DeflateConfig,
) -> Result<DeflateParams, DeflateError> {
    client_negotiate_optional(Some(response), config)?.ok_or(DeflateError::NotAccepted)
}

/// Client side: like [`client_negotiate`], but the server declining is not an
/// error. `response` is the joined Sec-WebSocket-Extensions value, or `None`
/// if the response had no such header; `Ok(None)` means the connection goes
/// on without compression.
///
/// # Errors
///
/// As [`client_negotiate`], except that an absent or empty response is
/// `Ok(None)` rather than [`DeflateError::NotAccepted`].
pub fn client_negotiate_optional(
    response: Option<&str>,
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, DeflateError> {
    let Some(response) = response else {
        return Ok(None);
    };
    let extensions = parse_extensions(response)?;
    let mut found: Option<&Extension<'_>> = None;
    for ext in &extensions {
        if !is_deflate(ext) {
            return Err(DeflateError::UnexpectedExtension(ext.name.to_owned()));
        }
        if found.is_some() {
            return Err(DeflateError::DuplicateExtension);
        }
        found = Some(ext);
    }
    let Some(ext) = found else {
        return Ok(None);
    };
    let raw = parse_params(&ext.params, false)?;

    // What we offered (see client_offer).
    let requested_server_bits =
        Some(peer_window(config.server_max_window_bits)).filter(|&b| b < MAX_WINDOW_BITS);
    let own_max = own_window(config.client_max_window_bits);

    if config.server_no_context_takeover && !raw.server_no_context_takeover {
        return Err(DeflateError::ResponseMismatch(
            "server_no_context_takeover was requested but not confirmed",
        ));
    }

    let server_bits = match (requested_server_bits, raw.server_max_window_bits) {
        (Some(_), None) => {
            return Err(DeflateError::ResponseMismatch(
                "server_max_window_bits was requested but not confirmed",
            ))
        }
        (Some(requested), Some(got)) if got > requested => {
            return Err(DeflateError::ResponseMismatch(
                "server_max_window_bits is larger than requested",
            ))
        }
        (_, Some(got)) => got,
        (None, None) => MAX_WINDOW_BITS,
    };

    // We always offer client_max_window_bits, so the server may answer with it.
    let client_bits = match raw.client_max_window_bits {
        None => own_max,
        Some(Some(got)) if got > own_max => {
            return Err(DeflateError::ResponseMismatch(
                "client_max_window_bits is larger than offered",
            ))
        }
        Some(Some(got)) => got,
        // parse_params rejects a valueless window parameter in a response.
        Some(None) => {
            return Err(DeflateError::InvalidValue(
                CLIENT_MAX_WINDOW_BITS.to_owned(),
            ))
        }
    };

    Ok(Some(DeflateParams {
        server_no_context_takeover: raw.server_no_context_takeover,
        // We announced it, so we keep to it even if the server did not echo it.
        client_no_context_takeover: raw.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    }))
}
