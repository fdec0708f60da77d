//! What socket.io-client's `io(url)` reads in a URL: the server (scheme,
//! host, port: the key of the shared managers, with the Engine.IO path)
//! and the namespace (the URL's path; the Engine.IO path is an option).

/// A client URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientUrl {
    /// `scheme://host:port`, the port explicit (80 or 443 by default).
    pub(crate) origin: String,
    /// The URL's path, `/` when it has none.
    pub(crate) namespace: String,
}

impl ClientUrl {
    /// Takes `url` apart; `None` when it has no `scheme://`.
    pub(crate) fn parse(url: &str) -> Option<ClientUrl> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(end);
        // Credentials before '@' are not part of the origin.
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host_end = match authority.strip_prefix('[') {
            Some(v6) => v6.find(']').map(|i| i + 2)?,
            None => authority.find(':').unwrap_or(authority.len()),
        };
        let (host, port) = authority.split_at(host_end);
        let port = match port.strip_prefix(':') {
            Some(p) if !p.is_empty() => p.to_owned(),
            _ => match scheme.as_str() {
                "https" | "wss" => "443".into(),
                _ => "80".into(),
            },
        };
        let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
        let path = &rest[..path_end];
        let namespace = if path.is_empty() { "/" } else { path };
        Some(ClientUrl {
            origin: format!("{scheme}://{}:{port}", host.to_ascii_lowercase()),
            namespace: namespace.to_owned(),
        })
    }

    /// The key of the manager cache: the origin and the Engine.IO path.
    pub(crate) fn cache_key(&self, engine_path: &str) -> String {
        let slash = if engine_path.starts_with('/') {
            ""
        } else {
            "/"
        };
        format!("{}{slash}{engine_path}", self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> (String, String) {
        let u = ClientUrl::parse(url).expect(url);
        (u.origin, u.namespace)
    }

    #[test]
    fn namespace_is_the_path() {
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(parse("http://h:3000"), s("http://h:3000", "/"));
        assert_eq!(parse("http://h:3000/"), s("http://h:3000", "/"));
        assert_eq!(parse("http://h:3000/chat"), s("http://h:3000", "/chat"));
        assert_eq!(
            parse("http://h:3000/chat?token=1#x"),
            s("http://h:3000", "/chat")
        );
        assert_eq!(parse("http://h:3000?x=/y"), s("http://h:3000", "/"));
        assert_eq!(parse("HTTPS://Host/a/b"), s("https://host:443", "/a/b"));
        assert_eq!(parse("ws://h"), s("ws://h:80", "/"));
        assert_eq!(parse("wss://u:p@h:8443/n"), s("wss://h:8443", "/n"));
        assert_eq!(parse("http://[::1]:3000/n"), s("http://[::1]:3000", "/n"));
        assert_eq!(parse("http://[::1]/"), s("http://[::1]:80", "/"));
        assert_eq!(ClientUrl::parse("localhost:3000"), None);
    }

    #[test]
    fn cache_key_has_the_engine_path() {
        let u = ClientUrl::parse("http://h:1/chat").unwrap();
        assert_eq!(u.cache_key("/socket.io/"), "http://h:1/socket.io/");
        assert_eq!(u.cache_key("custom"), "http://h:1/custom");
    }
}
