//! Cross-origin resource sharing, as the `cors` package the official
//! server uses: [`Cors`], [`AllowOrigin`], and the headers they put on
//! preflight (`OPTIONS`) and other responses.

use std::sync::Arc;
use std::time::Duration;

// The header names as constants: a name given as a string is parsed on
// every insert (each polling response goes through here).
use http::header::{
    HeaderMap, HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE, VARY,
};

/// Which origins may make cross-origin requests.
#[derive(Clone)]
pub enum AllowOrigin {
    /// Any origin (`Access-Control-Allow-Origin: *`, or the request's
    /// origin when credentials are allowed).
    Any,
    /// These origins only.
    List(Vec<String>),
    /// The origins this function accepts (it gets the request's `Origin`).
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl AllowOrigin {
    /// The origins `f` accepts.
    pub fn predicate(f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        AllowOrigin::Predicate(Arc::new(f))
    }
}

impl std::fmt::Debug for AllowOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllowOrigin::Any => f.write_str("Any"),
            AllowOrigin::List(list) => f.debug_tuple("List").field(list).finish(),
            AllowOrigin::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

/// The methods the `cors` package allows by default.
const DEFAULT_METHODS: [&str; 6] = ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"];

/// Cross-origin resource sharing settings. Defaults are the `cors`
/// package's (behind Node's `cors` option): any origin, no credentials,
/// methods `GET,HEAD,PUT,PATCH,POST,DELETE`, the request's headers
/// allowed, none exposed, no `Access-Control-Max-Age`.
#[derive(Debug, Clone)]
pub struct Cors {
    /// Allowed origins (default [`AllowOrigin::Any`]).
    pub origin: AllowOrigin,
    /// Send `Access-Control-Allow-Credentials: true` (default false).
    pub credentials: bool,
    /// `Access-Control-Allow-Methods` of a preflight response.
    pub methods: Vec<String>,
    /// `Access-Control-Allow-Headers` of a preflight response; `None`
    /// (default) allows what the request's `Access-Control-Request-Headers`
    /// asks for.
    pub allowed_headers: Option<Vec<String>>,
    /// `Access-Control-Expose-Headers`: response headers a page's script
    /// may read (default none).
    pub exposed_headers: Vec<String>,
    /// `Access-Control-Max-Age` of a preflight response, in whole seconds:
    /// how long a browser may cache it (default none).
    pub max_age: Option<Duration>,
}

impl Default for Cors {
    fn default() -> Self {
        Cors {
            origin: AllowOrigin::Any,
            credentials: false,
            methods: DEFAULT_METHODS.iter().map(|m| (*m).to_owned()).collect(),
            allowed_headers: None,
            exposed_headers: Vec::new(),
            max_age: None,
        }
    }
}

fn joined(items: &[String]) -> Option<HeaderValue> {
    HeaderValue::from_str(&items.join(",")).ok()
}

impl Cors {
    /// The `Access-Control-Allow-Origin` for a request from `origin`, and
    /// whether the answer depends on the request's origin (`Vary: Origin`).
    fn allowed_origin(&self, origin: Option<&HeaderValue>) -> (Option<HeaderValue>, bool) {
        match (&self.origin, origin) {
            (AllowOrigin::Any, Some(o)) if self.credentials => (Some(o.clone()), true),
            (AllowOrigin::Any, _) => (Some(HeaderValue::from_static("*")), false),
            (AllowOrigin::List(list), Some(o)) => {
                let ok = o.to_str().is_ok_and(|o| list.iter().any(|l| l == o));
                (ok.then(|| o.clone()), true)
            }
            (AllowOrigin::Predicate(allow), Some(o)) => {
                let ok = o.to_str().is_ok_and(|o| allow(o));
                (ok.then(|| o.clone()), true)
            }
            (_, None) => (None, true),
        }
    }

    /// Adds the headers of an actual (not preflight) request's response.
    pub(crate) fn apply(&self, origin: Option<&HeaderValue>, h: &mut HeaderMap) {
        self.origin_headers(origin, h);
        if !self.exposed_headers.is_empty() {
            if let Some(v) = joined(&self.exposed_headers) {
                h.insert(ACCESS_CONTROL_EXPOSE_HEADERS, v);
            }
        }
    }

    /// Adds the headers of a preflight response; `requested` is the
    /// request's `Access-Control-Request-Headers`.
    pub(crate) fn apply_preflight(
        &self,
        origin: Option<&HeaderValue>,
        requested: Option<&HeaderValue>,
        h: &mut HeaderMap,
    ) {
        self.apply(origin, h);
        if let Some(v) = joined(&self.methods) {
            h.insert(ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        match &self.allowed_headers {
            Some(list) => {
                if let Some(v) = joined(list) {
                    h.insert(ACCESS_CONTROL_ALLOW_HEADERS, v);
                }
            }
            None => {
                if let Some(v) = requested {
                    h.insert(ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
                }
                h.append(
                    VARY,
                    HeaderValue::from_static("Access-Control-Request-Headers"),
                );
            }
        }
        if let Some(age) = self.max_age {
            h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age.as_secs()));
        }
    }

    fn origin_headers(&self, origin: Option<&HeaderValue>, h: &mut HeaderMap) {
        let (allowed, varies) = self.allowed_origin(origin);
        if varies {
            h.append(VARY, HeaderValue::from_static("Origin"));
        }
        if let Some(origin) = allowed {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            if self.credentials {
                h.insert(
                    ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
        h.get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn predicate_origins() {
        let cors = Cors {
            origin: AllowOrigin::predicate(|o| o.ends_with(".example.com")),
            ..Default::default()
        };
        let mut h = HeaderMap::new();
        cors.apply(
            Some(&HeaderValue::from_static("https://a.example.com")),
            &mut h,
        );
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("https://a.example.com")
        );
        assert_eq!(get(&h, "vary"), Some("Origin"));

        let mut h = HeaderMap::new();
        cors.apply(Some(&HeaderValue::from_static("https://evil.test")), &mut h);
        assert_eq!(get(&h, "access-control-allow-origin"), None);
        assert_eq!(get(&h, "vary"), Some("Origin"));
        assert_eq!(format!("{:?}", cors.origin), "Predicate(..)");
    }

    #[test]
    fn preflight_defaults_are_the_cors_packages() {
        let cors = Cors::default();
        let mut h = HeaderMap::new();
        let requested = HeaderValue::from_static("content-type");
        cors.apply_preflight(None, Some(&requested), &mut h);
        assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
        assert_eq!(
            get(&h, "access-control-allow-methods"),
            Some("GET,HEAD,PUT,PATCH,POST,DELETE")
        );
        assert_eq!(
            get(&h, "access-control-allow-headers"),
            Some("content-type")
        );
        assert_eq!(get(&h, "vary"), Some("Access-Control-Request-Headers"));
        assert_eq!(get(&h, "access-control-max-age"), None);
        assert_eq!(get(&h, "access-control-expose-headers"), None);
    }

    #[test]
    fn preflight_with_every_setting() {
        let cors = Cors {
            origin: AllowOrigin::List(vec!["https://app.example".into()]),
            credentials: true,
            methods: vec!["GET".into(), "POST".into()],
            allowed_headers: Some(vec!["x-token".into(), "content-type".into()]),
            exposed_headers: vec!["x-server".into(), "x-region".into()],
            max_age: Some(Duration::from_secs(600)),
        };
        let mut h = HeaderMap::new();
        let origin = HeaderValue::from_static("https://app.example");
        cors.apply_preflight(
            Some(&origin),
            Some(&HeaderValue::from_static("x-other")),
            &mut h,
        );
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(get(&h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(get(&h, "access-control-allow-methods"), Some("GET,POST"));
        assert_eq!(
            get(&h, "access-control-allow-headers"),
            Some("x-token,content-type")
        );
        assert_eq!(
            get(&h, "access-control-expose-headers"),
            Some("x-server,x-region")
        );
        assert_eq!(get(&h, "access-control-max-age"), Some("600"));
        assert_eq!(h.get_all("vary").iter().count(), 1);
    }
}
