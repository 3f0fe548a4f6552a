//! The cookie that binds an install's `state` to the browser that started it (RFC 6749 §10.12,
//! `@slack/oauth`'s `stateVerification`).
//!
//! The install route makes a random secret (256 bits), sends it to the browser in this cookie and
//! keeps only its SHA-256 with the state; the callback hashes the cookie it receives and compares
//! in constant time. A callback link carried to another browser arrives without the cookie (or
//! with that browser's own), and is refused before the code goes anywhere.
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Lax` (sent on the provider's top-level
//! redirect back, not on cross-site subrequests), `Path` the callback's path (sent nowhere else),
//! `Max-Age` the state's time to live, and `Secure` unless the callback is plain `http` (which the
//! flow only accepts on loopback, or where the provider client allows insecure http): with
//! `Secure`, the name takes the `__Secure-` prefix, which browsers refuse from insecure origins.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth_core::{Error, Result};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The cookie's name on plain-http (loopback) callbacks.
pub const COOKIE_NAME: &str = "oauth_install";

/// The cookie's name on `https` callbacks: the `__Secure-` prefix makes browsers refuse it unless
/// it is set `Secure` from a secure origin.
pub const SECURE_COOKIE_NAME: &str = "__Secure-oauth_install";

/// How the binding cookie of one callback URL is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CookieSpec {
    name: &'static str,
    path: String,
    secure: bool,
    max_age: Duration,
}

/// Whether a callback request carried the cookie that matches its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binding {
    /// No cookie of ours came with the request.
    Missing,
    /// Cookies of ours came, none matching.
    Mismatch,
    /// One matches.
    Matches,
}

impl CookieSpec {
    /// The cookie for callbacks to `redirect_uri` (an absolute `http` or `https` URL) that lives
    /// `max_age`.
    ///
    /// Fails with [`Error::Configuration`] for another scheme (a custom-scheme redirect goes to an
    /// app, not to a browser that holds cookies) or a path a cookie cannot carry.
    pub(crate) fn for_redirect_uri(redirect_uri: &str, max_age: Duration) -> Result<Self> {
        let url = url::Url::parse(redirect_uri).map_err(|e| {
            Error::configuration(format!(
                "the redirect URI is not a URL ({e}): a browser-bound install needs the http(s) URL of the callback route"
            ))
        })?;
        let secure = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(Error::configuration(format!(
                    "the redirect URI's scheme is `{other}`: an install bound to a browser cookie needs an http(s) callback; for an app's custom scheme use InstallFlow::start and InstallFlow::finish"
                )));
            }
        };
        let path = url.path();
        if path.is_empty() || path.contains(';') || path.chars().any(|c| c.is_control()) {
            return Err(Error::configuration(
                "the redirect URI's path cannot be a cookie's Path (it is empty or holds `;`): use a plain path for the callback route",
            ));
        }
        Ok(Self {
            name: if secure {
                SECURE_COOKIE_NAME
            } else {
                COOKIE_NAME
            },
            path: path.to_owned(),
            secure,
            max_age,
        })
    }

    /// The `Set-Cookie` value that gives the browser `secret`.
    pub(crate) fn set(&self, secret: &str) -> Result<HeaderValue> {
        self.header(secret, self.max_age.as_secs())
    }

    /// The `Set-Cookie` value that makes the browser forget the cookie.
    pub(crate) fn clear(&self) -> Result<HeaderValue> {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age: u64) -> Result<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!(
            "{}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            self.name, self.path
        );
        HeaderValue::try_from(text).map_err(|_| {
            Error::Internal("the install cookie is not a valid header value".to_owned())
        })
    }

    /// Whether `headers` carry a cookie of ours whose hash is `expected` (compared in constant
    /// time, whatever the number of cookies).
    pub(crate) fn check(&self, headers: &HeaderMap, expected: &str) -> Binding {
        let mut seen = false;
        let mut matched = false;
        for value in cookie_values(headers, self.name) {
            seen = true;
            matched |= bool::from(binding_of(value).as_bytes().ct_eq(expected.as_bytes()));
        }
        match (seen, matched) {
            (_, true) => Binding::Matches,
            (true, false) => Binding::Mismatch,
            (false, false) => Binding::Missing,
        }
    }

    /// The cookie's name.
    #[cfg(test)]
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }
}

/// What the state keeps of a browser's secret: its SHA-256, base64url.
pub(crate) fn binding_of(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// The values of every cookie named `name` in the request's `Cookie` headers (HTTP/2 may split
/// them over several).
pub(crate) fn cookie_values<'a, 'n>(
    headers: &'a HeaderMap,
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(move |pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key.trim() == name).then(|| value.trim().trim_matches('"'))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(600);

    fn attributes(value: &HeaderValue) -> Vec<String> {
        value
            .to_str()
            .unwrap()
            .split("; ")
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn on_https_the_cookie_is_secure_httponly_lax_and_scoped_to_the_callback() {
        let spec =
            CookieSpec::for_redirect_uri("https://app.example.com/slack/oauth_redirect", TTL)
                .unwrap();
        let set = spec.set("s3cr3t").unwrap();
        assert_eq!(
            attributes(&set),
            [
                "__Secure-oauth_install=s3cr3t",
                "Path=/slack/oauth_redirect",
                "Max-Age=600",
                "HttpOnly",
                "SameSite=Lax",
                "Secure",
            ]
        );
        assert_eq!(
            attributes(&spec.clear().unwrap()),
            [
                "__Secure-oauth_install=",
                "Path=/slack/oauth_redirect",
                "Max-Age=0",
                "HttpOnly",
                "SameSite=Lax",
                "Secure",
            ]
        );
    }

    #[test]
    fn on_loopback_http_the_cookie_is_not_secure_and_has_no_secure_prefix() {
        for uri in [
            "http://127.0.0.1:8080/callback/slack",
            "http://localhost:3000/callback/slack",
            "http://[::1]:3000/callback/slack",
        ] {
            let spec = CookieSpec::for_redirect_uri(uri, Duration::from_secs(120)).unwrap();
            assert_eq!(spec.name(), COOKIE_NAME, "{uri}");
            assert_eq!(
                attributes(&spec.set("v").unwrap()),
                [
                    "oauth_install=v",
                    "Path=/callback/slack",
                    "Max-Age=120",
                    "HttpOnly",
                    "SameSite=Lax",
                ],
                "{uri}"
            );
        }
    }

    #[test]
    fn a_callback_a_cookie_cannot_serve_is_a_configuration_error() {
        for uri in [
            "myapp://oauth/callback",
            "https://example.com/a;b",
            "nonsense",
        ] {
            let error = CookieSpec::for_redirect_uri(uri, TTL).unwrap_err();
            assert_eq!(error.kind(), oauth_core::ErrorKind::Configuration, "{uri}");
        }
    }

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for cookie in cookies {
            map.append(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        }
        map
    }

    #[test]
    fn the_check_finds_the_matching_cookie_among_others() {
        let spec = CookieSpec::for_redirect_uri("https://example.com/cb", TTL).unwrap();
        let expected = binding_of("mine");
        let cases: [(&[&str], Binding); 7] = [
            (&[], Binding::Missing),
            (&["session=abc; other=1"], Binding::Missing),
            (&["__Secure-oauth_install=theirs"], Binding::Mismatch),
            (&["oauth_install=mine"], Binding::Missing),
            (
                &["session=abc; __Secure-oauth_install=mine"],
                Binding::Matches,
            ),
            (
                &["__Secure-oauth_install=theirs; __Secure-oauth_install=mine"],
                Binding::Matches,
            ),
            (
                &["a=1", "__Secure-oauth_install=\"mine\""],
                Binding::Matches,
            ),
        ];
        for (cookies, want) in cases {
            assert_eq!(
                spec.check(&headers(cookies), &expected),
                want,
                "{cookies:?}"
            );
        }
    }
}
