//! Cookies, by hand: three of them, all `HttpOnly; SameSite=Strict; Path=/`, and over TLS
//! `Secure` with the `__Host-` prefix (which forbids a `Domain` and so cannot be planted by a
//! sibling host).

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cookie {
    /// The signed-in session's token.
    Session,
    /// A random value for visitors without a session; anchors their CSRF token.
    PreSession,
    /// The chosen language.
    Lang,
}

impl Cookie {
    pub fn name(self, https: bool) -> &'static str {
        match (self, https) {
            (Cookie::Session, true) => "__Host-talaka_session",
            (Cookie::Session, false) => "talaka_session",
            (Cookie::PreSession, true) => "__Host-talaka_pre",
            (Cookie::PreSession, false) => "talaka_pre",
            (Cookie::Lang, true) => "__Host-talaka_lang",
            (Cookie::Lang, false) => "talaka_lang",
        }
    }
}

/// The value of a cookie in the request, if present and non-empty.
pub fn read(headers: &HeaderMap, cookie: Cookie, https: bool) -> Option<String> {
    let name = cookie.name(https);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A `Set-Cookie` value. `None` deletes the cookie.
pub fn set(cookie: Cookie, value: Option<&str>, https: bool) -> String {
    let name = cookie.name(https);
    let secure = if https { "; Secure" } else { "" };
    match value {
        Some(v) => format!("{name}={v}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_the_right_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; talaka_session=abc; talaka_pre=def"),
        );
        assert_eq!(read(&h, Cookie::Session, false).as_deref(), Some("abc"));
        assert_eq!(read(&h, Cookie::Session, true), None);
        assert_eq!(read(&h, Cookie::Lang, false), None);
    }

    #[test]
    fn secure_cookies_use_the_host_prefix() {
        let c = set(Cookie::Session, Some("tok"), true);
        assert_eq!(
            c,
            "__Host-talaka_session=tok; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(set(Cookie::Session, None, false).contains("Max-Age=0"));
    }
}
