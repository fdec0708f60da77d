//! The cookie jar of a client session ([`CookieJar`]).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The cookie jar of a client session, as engine.io-client's in Node
/// (`withCredentials`): the cookies a server sets (`Set-Cookie`) are sent
/// back (`Cookie`) on the later requests of the session, so that a
/// load balancer with sticky sessions by cookie sends them to the same
/// server. Sans-I/O: the time is passed in.
///
/// Like engine.io-client's jar it keeps one cookie per name for the one
/// origin the client talks to: `Domain`, `Path`, `Secure` and the other
/// attributes are ignored except `Expires` and `Max-Age`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use socketeer_engineio::client::CookieJar;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let mut jar = CookieJar::default();
/// jar.store("AWSALB=abc; Path=/; Max-Age=60", now);
/// jar.store("io=xyz; Path=/; HttpOnly", now);
/// assert_eq!(jar.header(now).as_deref(), Some("AWSALB=abc; io=xyz"));
/// assert_eq!(jar.header(now + Duration::from_secs(61)).as_deref(), Some("io=xyz"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    cookies: BTreeMap<String, Cookie>,
}

#[derive(Debug, Clone)]
struct Cookie {
    value: String,
    expires: Option<SystemTime>,
}

impl CookieJar {
    /// Takes in one `Set-Cookie` header value received at `now`. A cookie
    /// already expired (`Max-Age=0`, a past `Expires`) removes the stored
    /// one of that name; a malformed header is ignored.
    pub fn store(&mut self, set_cookie: &str, now: SystemTime) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let mut expires = None;
        let mut max_age = None;
        for attr in parts {
            let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
            let key = key.trim();
            if key.eq_ignore_ascii_case("max-age") {
                max_age = val.trim().parse::<i64>().ok();
            } else if key.eq_ignore_ascii_case("expires") {
                expires = parse_http_date(val.trim());
            }
        }
        // Max-Age wins over Expires (RFC 6265 §5.3).
        let expires = match max_age {
            Some(secs) if secs <= 0 => Some(SystemTime::UNIX_EPOCH),
            Some(secs) => Some(now + Duration::from_secs(secs.unsigned_abs())),
            None => expires,
        };
        if expires.is_some_and(|e| e <= now) {
            self.cookies.remove(name);
            return;
        }
        let value = value.trim().to_owned();
        self.cookies
            .insert(name.to_owned(), Cookie { value, expires });
    }

    /// The `Cookie` header value to send at `now` (`None` when the jar
    /// holds nothing valid).
    pub fn header(&self, now: SystemTime) -> Option<String> {
        let mut out = String::new();
        for (name, c) in &self.cookies {
            if c.expires.is_some_and(|e| e <= now) {
                continue;
            }
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(name);
            out.push('=');
            out.push_str(&c.value);
        }
        (!out.is_empty()).then_some(out)
    }

    /// Whether the jar holds no cookie.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form servers
/// send in `Expires`; the obsolete forms also accepted by some browsers
/// are not (such a cookie is kept for the session).
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let s = s.split_once(", ").map_or(s, |(_, rest)| rest);
    let mut it = s.split([' ', ':']);
    let day: u64 = it.next()?.parse().ok()?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let hour: u64 = it.next()?.parse().ok()?;
    let min: u64 = it.next()?.parse().ok()?;
    let sec: u64 = it.next()?.parse().ok()?;
    if it.next()? != "GMT" || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day as i64);
    let secs = days * 86_400 + (hour * 3600 + min * 60 + sec) as i64;
    Some(if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(at(784_111_777))
        );
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(at(0))
        );
        assert_eq!(
            parse_http_date("Wed, 29 Feb 2024 12:00:00 GMT"),
            Some(at(1_709_208_000))
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("06 Nov 1994 08:49:37 UTC"), None);
    }

    #[test]
    fn stores_and_replaces_by_name() {
        let now = at(1_000);
        let mut jar = CookieJar::default();
        assert!(jar.is_empty());
        assert_eq!(jar.header(now), None);
        jar.store("a=1", now);
        jar.store(" b = 2 ; Path=/; Secure; HttpOnly; SameSite=Lax", now);
        jar.store("a=3; Domain=example.com", now);
        assert_eq!(jar.header(now).as_deref(), Some("a=3; b=2"));
    }

    #[test]
    fn expiry() {
        let now = at(784_111_000);
        let mut jar = CookieJar::default();
        jar.store("gone=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT", now);
        jar.store("short=1; Max-Age=10", now);
        assert_eq!(jar.header(now).as_deref(), Some("gone=1; short=1"));
        // Expires passed, Max-Age not yet.
        assert_eq!(
            jar.header(at(784_111_005)).as_deref(),
            Some("gone=1; short=1")
        );
        assert_eq!(jar.header(at(784_111_010)).as_deref(), Some("gone=1"));
        assert_eq!(jar.header(at(784_111_777)), None);
        // Max-Age wins over Expires; Max-Age=0 deletes.
        jar.store(
            "gone=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=100",
            now,
        );
        assert_eq!(jar.header(now).as_deref(), Some("gone=2; short=1"));
        jar.store("short=; Max-Age=0", now);
        jar.store("gone=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT", now);
        assert!(jar.is_empty());
    }

    #[test]
    fn malformed_is_ignored() {
        let now = at(0);
        let mut jar = CookieJar::default();
        jar.store("novalue", now);
        jar.store("=x", now);
        jar.store("", now);
        assert!(jar.is_empty());
        jar.store("k=v; Max-Age=abc", now);
        assert_eq!(jar.header(now).as_deref(), Some("k=v"));
    }
}
