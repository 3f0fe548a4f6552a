//! Request/response plumbing shared by the provider modules.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

/// A request as seen by a provider handler.
#[derive(Debug)]
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Req {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type of `Content-Type`, lower-cased, without parameters.
    pub(crate) fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `Authorization: Basic` credentials, if well-formed.
    pub(crate) fn basic_auth(&self) -> Option<(String, String)> {
        let v = self.header("authorization")?;
        let rest = v.strip_prefix("Basic ")?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (id, secret) = s.split_once(':')?;
        Some((id.to_owned(), secret.to_owned()))
    }

    /// `Authorization: Bearer <token>` (case-sensitive scheme), non-empty.
    pub(crate) fn bearer(&self) -> Option<&str> {
        let v = self.header("authorization")?;
        let t = v.strip_prefix("Bearer ")?.trim();
        (!t.is_empty()).then_some(t)
    }
}

/// A provider answer, plus how the request was classified.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) app: Option<String>,
    pub(crate) op: Option<String>,
    pub(crate) ok: bool,
}

pub(crate) const JSON_UTF8: &str = "application/json; charset=utf-8";

impl Reply {
    pub(crate) fn json(status: StatusCode, value: &Value) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        Self {
            status,
            content_type: JSON_UTF8,
            headers: Vec::new(),
            body,
            app: None,
            op: None,
            ok: status.is_success(),
        }
    }

    pub(crate) fn html(status: StatusCode, body: String) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: body.into_bytes(),
            app: None,
            op: None,
            ok: false,
        }
    }

    pub(crate) fn redirect(location: String) -> Self {
        Self {
            status: StatusCode::FOUND,
            content_type: "text/html; charset=utf-8",
            headers: vec![("location", location)],
            body: Vec::new(),
            app: None,
            op: None,
            ok: true,
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn classify(mut self, app: Option<&str>, op: &str) -> Self {
        if self.app.is_none() {
            self.app = app.map(str::to_owned);
        }
        if self.op.is_none() && !op.is_empty() {
            self.op = Some(op.to_owned());
        }
        self
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTML error page (what a browser sees for an unrecoverable authorize error).
pub(crate) fn error_page(code: &str) -> Reply {
    Reply::html(
        StatusCode::BAD_REQUEST,
        format!(
            "<!DOCTYPE html><html><head><title>Authorization error</title></head>\
             <body><h1>Something went wrong</h1><p id=\"error\">{code}</p></body></html>"
        ),
    )
    .with_header("x-sandbox-error", code.to_owned())
}

/// SHA-256 S256 PKCE transform.
pub(crate) fn s256(verifier: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// A PKCE `code_challenge` / `code_verifier` shape check (RFC 7636: 43–128 unreserved chars).
pub(crate) fn pkce_shape_ok(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1")
}

/// Whether `candidate` matches the registered redirect URI: exact match; a loopback host matches
/// any port (RFC 8252 §7.3); with `allow_subdir` (Slack) a subdirectory of the registered path.
pub(crate) fn redirect_matches(registered: &str, candidate: &str, allow_subdir: bool) -> bool {
    if registered == candidate {
        return true;
    }
    if candidate.contains('#') {
        return false;
    }
    let (Ok(r), Ok(c)) = (url::Url::parse(registered), url::Url::parse(candidate)) else {
        return false;
    };
    if r.scheme() != c.scheme() || r.host_str() != c.host_str() {
        return false;
    }
    let loopback = r.host_str().is_some_and(is_loopback);
    if !loopback && r.port_or_known_default() != c.port_or_known_default() {
        return false;
    }
    if r.query() != c.query() {
        return false;
    }
    let (rp, cp) = (r.path(), c.path());
    if rp == cp {
        return true;
    }
    allow_subdir && cp.starts_with(rp) && (rp.ends_with('/') || cp[rp.len()..].starts_with('/'))
}

/// Appends query parameters to a redirect URI.
pub(crate) fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let q = ser.finish();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{q}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_matching() {
        let cases = [
            ("https://a.example/cb", "https://a.example/cb", false, true),
            (
                "https://a.example/cb",
                "https://a.example:443/cb",
                false,
                true,
            ),
            (
                "https://a.example/cb",
                "https://a.example:8443/cb",
                false,
                false,
            ),
            ("https://a.example/cb", "http://a.example/cb", false, false),
            (
                "https://a.example/cb",
                "https://a.example/cb/sub",
                false,
                false,
            ),
            (
                "https://a.example/cb",
                "https://a.example/cb/sub",
                true,
                true,
            ),
            (
                "https://a.example/cb/",
                "https://a.example/cb/sub",
                true,
                true,
            ),
            ("https://a.example/cb", "https://a.example/cbx", true, false),
            (
                "https://a.example/cb",
                "https://a.example/cb#x",
                true,
                false,
            ),
            (
                "https://a.example/cb?x=1",
                "https://a.example/cb?x=2",
                false,
                false,
            ),
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1:9999/cb",
                false,
                true,
            ),
            (
                "http://localhost:3000/cb",
                "http://localhost:4000/cb",
                false,
                true,
            ),
            ("http://[::1]/cb", "http://[::1]:8080/cb", false, true),
            (
                "http://127.0.0.1/cb",
                "http://localhost:9999/cb",
                false,
                false,
            ),
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1:9999/other",
                true,
                false,
            ),
            ("myapp://oauth", "myapp://oauth", false, true),
            ("myapp://oauth", "otherapp://oauth", false, false),
            ("https://a.example/cb", "not a url", true, false),
        ];
        for (registered, candidate, subdir, want) in cases {
            assert_eq!(
                redirect_matches(registered, candidate, subdir),
                want,
                "{registered} vs {candidate} (subdir {subdir})"
            );
        }
    }

    #[test]
    fn pkce_transform_matches_rfc7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(pkce_shape_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_shape_ok("short"));
        assert!(!pkce_shape_ok(&"a+".repeat(30)));
    }

    #[test]
    fn redirect_params_are_encoded() {
        assert_eq!(
            with_params(
                "https://a.example/cb?x=1",
                &[("code", "a b"), ("state", "&")]
            ),
            "https://a.example/cb?x=1&code=a+b&state=%26"
        );
    }
}
