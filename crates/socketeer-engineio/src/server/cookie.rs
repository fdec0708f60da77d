//! The session cookie of the official server's `cookie` option:
//! [`CookieOptions`], sent as `Set-Cookie: io=<sid>` on a session's
//! handshake so that a load balancer can keep the session on one server
//! (sticky sessions).

use std::time::Duration;

use http::header::HeaderValue;

/// The cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None` (browsers then also require [`CookieOptions::secure`]).
    None,
}

/// The session cookie. Defaults are Node's `cookie: true`: `io=<sid>;
/// Path=/; HttpOnly; SameSite=Lax`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    /// The cookie's name (default `io`).
    pub name: String,
    /// `Path` (default `/`; `None` leaves it out).
    pub path: Option<String>,
    /// `Domain` (default none).
    pub domain: Option<String>,
    /// `HttpOnly` (default true).
    pub http_only: bool,
    /// `Secure` (default false).
    pub secure: bool,
    /// `SameSite` (default [`SameSite::Lax`]; `None` leaves it out).
    pub same_site: Option<SameSite>,
    /// `Max-Age`, in whole seconds (default none: a session cookie).
    pub max_age: Option<Duration>,
}

impl Default for CookieOptions {
    fn default() -> Self {
        CookieOptions {
            name: "io".into(),
            path: Some("/".into()),
            domain: None,
            http_only: true,
            secure: false,
            same_site: Some(SameSite::Lax),
            max_age: None,
        }
    }
}

impl CookieOptions {
    /// The `Set-Cookie` value for session `sid`, attributes in the order
    /// of Node's `cookie.serialize`; `None` when the name, path or domain
    /// holds a character a cookie cannot (the server then sends none).
    pub fn set_cookie(&self, sid: &str) -> Option<HeaderValue> {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
        };
        let attribute =
            |s: &str| s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') && !s.contains(';');
        if !token(&self.name) || !token(sid) {
            return None;
        }
        let mut out = format!("{}={}", self.name, sid);
        if let Some(age) = self.max_age {
            out.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        if let Some(domain) = &self.domain {
            if !attribute(domain) {
                return None;
            }
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some(path) = &self.path {
            if !attribute(path) {
                return None;
            }
            out.push_str("; Path=");
            out.push_str(path);
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if let Some(same_site) = self.same_site {
            out.push_str(match same_site {
                SameSite::Strict => "; SameSite=Strict",
                SameSite::Lax => "; SameSite=Lax",
                SameSite::None => "; SameSite=None",
            });
        }
        HeaderValue::from_str(&out).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_nodes_cookie_true() {
        let v = CookieOptions::default()
            .set_cookie("abc-DEF_123")
            .expect("valid");
        assert_eq!(v, "io=abc-DEF_123; Path=/; HttpOnly; SameSite=Lax");
    }

    #[test]
    fn every_attribute() {
        let options = CookieOptions {
            name: "sticky".into(),
            path: Some("/socket.io".into()),
            domain: Some("example.com".into()),
            http_only: false,
            secure: true,
            same_site: Some(SameSite::None),
            max_age: Some(Duration::from_millis(86_400_900)),
        };
        assert_eq!(
            options.set_cookie("s1").expect("valid"),
            "sticky=s1; Max-Age=86400; Domain=example.com; Path=/socket.io; Secure; SameSite=None"
        );
        let bare = CookieOptions {
            path: None,
            same_site: None,
            http_only: false,
            ..Default::default()
        };
        assert_eq!(bare.set_cookie("s").expect("valid"), "io=s");
    }

    #[test]
    fn invalid_names_and_attributes_send_no_cookie() {
        for name in ["", "a b", "a;b", "a=b", "é"] {
            let options = CookieOptions {
                name: name.into(),
                ..Default::default()
            };
            assert_eq!(options.set_cookie("s"), None, "{name:?}");
        }
        let options = CookieOptions {
            path: Some("/; Secure".into()),
            ..Default::default()
        };
        assert_eq!(options.set_cookie("s"), None);
        let options = CookieOptions {
            domain: Some("a\r\nb".into()),
            ..Default::default()
        };
        assert_eq!(options.set_cookie("s"), None);
    }
}
