//! What goes on the wire and comes back: form bodies, the Bearer header, the response envelope and
//! the rate-limit classifier.
//!
//! Every call is `POST <base>/<method>` with `Content-Type: application/x-www-form-urlencoded` and
//! `Accept: application/json`, as `@slack/web-api` sends it. Tokens go in
//! `Authorization: Bearer <token>`, never in the query string.

use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use oauth_core::http::{
    Call, HttpRequest, HttpResponse, Idempotency, ResponseClass, bearer_auth, json_error_reason,
    retry_after, undecodable,
};
use oauth_core::redact::redact_snippet;
use oauth_core::{AccessToken, Error, Result};
use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, IntoDeserializer, MapAccess, Visitor,
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::PROVIDER;
use crate::client::SlackClient;
use crate::error::{SlackError, SlackErrorCode};

/// The `Content-Type` of every request body.
pub(crate) const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// A form body under construction, percent-encoded as parameters are pushed; parameters keep
/// their insertion order.
pub(crate) struct Form {
    body: String,
}

impl Default for Form {
    fn default() -> Self {
        Self {
            body: String::with_capacity(256),
        }
    }
}

impl Form {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, name: &'static str, value: impl AsRef<str>) {
        if !self.body.is_empty() {
            self.body.push('&');
        }
        encode_into(&mut self.body, name);
        self.body.push('=');
        encode_into(&mut self.body, value.as_ref());
    }

    pub(crate) fn push_opt(&mut self, name: &'static str, value: Option<&str>) {
        if let Some(value) = value {
            self.push(name, value);
        }
    }

    /// A boolean flag, sent as `true` (the `@slack/web-api` spelling) only when set: `false` is
    /// Slack's default for every flag of these methods.
    pub(crate) fn flag(&mut self, name: &'static str, value: bool) {
        if value {
            self.push(name, "true");
        }
    }

    fn encode(self) -> Bytes {
        Bytes::from(self.body)
    }
}

/// Appends `text` form-urlencoded. Tokens, ids and grant names are usually made only of
/// characters that stay as they are, and are copied in one go.
fn encode_into(body: &mut String, text: &str) {
    if text.bytes().all(|b| UNCHANGED[usize::from(b)]) {
        body.push_str(text);
    } else {
        body.extend(url::form_urlencoded::byte_serialize(text.as_bytes()));
    }
}

/// The bytes `application/x-www-form-urlencoded` leaves as they are: ASCII letters and digits,
/// `*`, `-`, `.` and `_`.
static UNCHANGED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'*' | b'-' | b'.' | b'_');
        b += 1;
    }
    table
};

/// How a call authenticates, besides what is in the form.
pub(crate) enum Credential<'a> {
    /// Nothing in a header (client credentials, if any, are in the form).
    None,
    /// `Authorization: Basic base64(client_id:client_secret)`.
    Basic(HeaderValue),
    /// `Authorization: Bearer <token>`.
    Bearer(&'a AccessToken),
}

/// Slack's response envelope, read leniently from any JSON object: every field is optional
/// (legacy `oauth.access` bodies have no `ok`, a failure may lack `error`), and a field of an
/// unexpected type is ignored rather than failing the whole answer.
#[derive(Default)]
struct Envelope {
    ok: Option<bool>,
    error: Option<String>,
    warning: Option<String>,
    needed: Option<String>,
    provided: Option<String>,
    warnings: Vec<String>,
    messages: Vec<String>,
}

impl Envelope {
    fn read(value: &Value) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let list = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let metadata = value.get("response_metadata");
        Envelope {
            ok: value.get("ok").and_then(Value::as_bool),
            error: text(value.get("error")),
            warning: text(value.get("warning")),
            needed: text(value.get("needed")),
            provided: text(value.get("provided")),
            warnings: list(metadata.and_then(|m| m.get("warnings"))),
            messages: list(metadata.and_then(|m| m.get("messages"))),
        }
    }

    fn is_ratelimited(&self) -> bool {
        self.ok == Some(false) && self.error.as_deref() == Some("ratelimited")
    }
}

/// Classifies a response for the retry policy: 429 is rate-limited (with `Retry-After`), so is an
/// HTTP 200 `{"ok":false,"error":"ratelimited"}`; 500/502/503/504 are transient; anything else
/// is final.
pub fn classify(response: &HttpResponse) -> ResponseClass {
    let after = || retry_after(response.headers(), SystemTime::now());
    match response.status().as_u16() {
        429 => ResponseClass::RateLimited {
            retry_after: after(),
        },
        500 | 502 | 503 | 504 => ResponseClass::Transient,
        _ => {
            // Only a body that mentions the code can be the HTTP 200 rate limit: look before
            // parsing, so that ordinary answers are not parsed twice.
            static RATELIMITED: LazyLock<memchr::memmem::Finder<'static>> =
                LazyLock::new(|| memchr::memmem::Finder::new(b"ratelimited"));
            let limited = RATELIMITED.find(response.body()).is_some()
                && serde_json::from_slice::<Value>(response.body())
                    .is_ok_and(|v| Envelope::read(&v).is_ratelimited());
            if limited {
                ResponseClass::RateLimited {
                    retry_after: after(),
                }
            } else {
                ResponseClass::Final
            }
        }
    }
}

/// Decodes a plain success in one pass: `T` when `body` opens with `{"ok":true` (Slack writes
/// `ok` first; whitespace allowed) and its top level has no other envelope field (`error`,
/// `warning`, `needed`, `provided`, `response_metadata`, a second `ok`), read as keys, so escapes
/// are undone first. `None` for any other body, or one `T` cannot read: it then has its envelope
/// read in full. This spares the usual answer a second pass over its bytes.
fn plain_success<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    fn skip_ws(bytes: &[u8]) -> &[u8] {
        let start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(bytes.len());
        &bytes[start..]
    }
    let opens_with_ok_true = skip_ws(body)
        .strip_prefix(b"{")
        .map(skip_ws)
        .and_then(|rest| rest.strip_prefix(br#""ok""#))
        .map(skip_ws)
        .and_then(|rest| rest.strip_prefix(b":"))
        .map(skip_ws)
        .and_then(|rest| rest.strip_prefix(b"true"))
        .is_some_and(|rest| matches!(skip_ws(rest).first(), Some(b',' | b'}')));
    if !opens_with_ok_true {
        return None;
    }
    let read: OnePass<T> = serde_json::from_slice(body).ok()?;
    read.plain.then_some(read.data)
}

/// A Slack answer read in one pass: the method's fields, and whether the envelope at the top
/// level is `ok: true` alone. The envelope keys are taken out of the object before `T` sees it.
struct OnePass<T> {
    data: T,
    plain: bool,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OnePass<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Object<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
            type Value = OnePass<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Slack answer (a JSON object)")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut seen = EnvelopeSeen::default();
                let mut rest = WithoutEnvelope {
                    map: &mut map,
                    seen: &mut seen,
                };
                let data = T::deserialize(MapAccessDeserializer::new(&mut rest))?;
                // Whatever `T` left unread still has to be looked at for envelope keys.
                while rest.next_key::<IgnoredAny>()?.is_some() {
                    rest.next_value::<IgnoredAny>()?;
                }
                Ok(OnePass {
                    data,
                    plain: seen.oks == 1 && seen.ok_true && !seen.other,
                })
            }
        }

        deserializer.deserialize_map(Object(PhantomData))
    }
}

/// The envelope keys met at the top level of an answer.
#[derive(Default)]
struct EnvelopeSeen {
    oks: u32,
    ok_true: bool,
    other: bool,
}

/// An answer's map, minus its envelope keys (noted in `seen`).
struct WithoutEnvelope<'a, A> {
    map: &'a mut A,
    seen: &'a mut EnvelopeSeen,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WithoutEnvelope<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.map.next_key::<Key<'de>>()? else {
                return Ok(None);
            };
            match key.as_str() {
                "ok" => {
                    self.seen.oks += 1;
                    // Anything but a boolean fails the pass: the full read then judges it.
                    self.seen.ok_true = self.map.next_value::<bool>()?;
                }
                "error" | "warning" | "needed" | "provided" | "response_metadata" => {
                    self.seen.other = true;
                    self.map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    return match key {
                        Key::Borrowed(key) => seed.deserialize(BorrowedStrDeserializer::new(key)),
                        Key::Owned(key) => seed.deserialize(key.into_deserializer()),
                    }
                    .map(Some);
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> std::result::Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// An object key, borrowed from the body when it has no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(key) => key,
            Key::Owned(key) => key,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E: de::Error>(
                self,
                key: &'de str,
            ) -> std::result::Result<Key<'de>, E> {
                Ok(Key::Borrowed(key))
            }

            fn visit_str<E: de::Error>(self, key: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key::Owned(key.to_owned()))
            }

            fn visit_string<E: de::Error>(self, key: String) -> std::result::Result<Key<'de>, E> {
                Ok(Key::Owned(key))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The envelope fields, read straight from the bytes (no JSON tree): the fast path for every
/// well-formed answer. Anything it cannot read goes through [`Envelope::read`] on a tree.
#[derive(serde::Deserialize)]
struct WireEnvelope {
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warning: Option<String>,
    #[serde(default)]
    needed: Option<String>,
    #[serde(default)]
    provided: Option<String>,
    #[serde(default)]
    response_metadata: Option<WireMetadata>,
}

#[derive(serde::Deserialize)]
struct WireMetadata {
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    messages: Vec<String>,
}

impl From<WireEnvelope> for Envelope {
    fn from(wire: WireEnvelope) -> Self {
        let (warnings, messages) = wire
            .response_metadata
            .map(|m| (m.warnings, m.messages))
            .unwrap_or_default();
        Envelope {
            ok: wire.ok,
            error: wire.error,
            warning: wire.warning,
            needed: wire.needed,
            provided: wire.provided,
            warnings,
            messages,
        }
    }
}

/// Masks anything secret-looking in a message Slack sent back, before it reaches logs or errors.
fn masked(text: &str) -> String {
    redact_snippet(text.as_bytes(), 300)
}

/// A typed answer of one Web API method, decodable from a raw HTTP response.
///
/// The client decodes every answer through this trait; it is public so that the decoders can be
/// run on recorded responses (or behind a transport of your own).
pub trait SlackResponse: Sized {
    /// The Web API method (`oauth.v2.access`, …).
    const METHOD: &'static str;

    /// Decodes `response`, received at `received_at` (the origin of token expiries). An
    /// `{"ok":false}` answer is an [`Error::Provider`] holding a [`SlackError`]; a body that is
    /// not Slack's JSON is [`Error::UndecodableResponse`].
    fn decode(response: &HttpResponse, received_at: SystemTime) -> Result<Self>;
}

impl SlackClient {
    /// Sends `form` to `T::METHOD` and decodes the answer as `T`.
    pub(crate) async fn call<T: SlackResponse>(
        &self,
        idempotency: Idempotency,
        form: Form,
        credential: Credential<'_>,
    ) -> Result<T> {
        let request = self.request(T::METHOD, form, credential)?;
        let call = Call::new(PROVIDER, T::METHOD, idempotency);
        let response = self.http().execute(&call, request, classify).await?;
        T::decode(&response, self.now())
    }

    /// The HTTP request of a call: `POST` of `form` to `method`, with `credential`. (Made before
    /// the call's future starts waiting, so that the future does not hold the form too.)
    fn request(
        &self,
        method: &'static str,
        form: Form,
        credential: Credential<'_>,
    ) -> Result<HttpRequest> {
        let mut request = http::Request::new(form.encode());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.method_uri(method)?;
        let headers = request.headers_mut();
        headers.reserve(3);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(FORM_CONTENT_TYPE),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        match credential {
            Credential::None => {}
            Credential::Basic(value) => {
                headers.insert(header::AUTHORIZATION, value);
            }
            Credential::Bearer(token) => {
                headers.insert(header::AUTHORIZATION, bearer_auth(token)?);
            }
        }
        Ok(request)
    }
}

/// Decodes a Slack answer: the envelope first (errors, warnings), then the method's fields.
pub(crate) fn decode_response<T: DeserializeOwned>(
    method: &'static str,
    response: &HttpResponse,
) -> Result<T> {
    let status = response.status();
    if response.body().is_empty() {
        return Err(undecodable(
            &PROVIDER,
            method,
            response,
            "the body is empty",
        ));
    }
    // Fast path: the envelope read from the bytes, the method's fields decoded from the bytes.
    // Slow path (odd shapes: `ok` as a string, a non-object, a 429 without JSON): a JSON tree.
    // (serde reads a struct from a JSON array too: only an object may take the fast path.)
    let object = response
        .body()
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    // (A 429 is a rate limit whatever its body says: it never takes the shortcut.)
    if object
        && status != StatusCode::TOO_MANY_REQUESTS
        && let Some(data) = plain_success(response.body())
    {
        return Ok(data);
    }
    let fast = object
        .then(|| serde_json::from_slice::<WireEnvelope>(response.body()).ok())
        .flatten();
    let (envelope, tree) = match fast {
        Some(wire) => (Envelope::from(wire), None),
        None => {
            let value = slow_tree(method, response, status)?;
            (Envelope::read(&value), Some(value))
        }
    };
    finish(method, response, status, envelope, tree)
}

/// Parses a body the fast path could not read into a tree, or fails as Slack's answer would.
fn slow_tree(method: &'static str, response: &HttpResponse, status: StatusCode) -> Result<Value> {
    match serde_json::from_slice(response.body()) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) if status == StatusCode::TOO_MANY_REQUESTS => Err(rate_limited(method, response)),
        Ok(_) => Err(undecodable(
            &PROVIDER,
            method,
            response,
            "the JSON is not an object",
        )),
        // A rate limit without a JSON body is still a rate limit.
        Err(_) if status == StatusCode::TOO_MANY_REQUESTS => Err(rate_limited(method, response)),
        Err(e) => Err(undecodable(
            &PROVIDER,
            method,
            response,
            json_error_reason(&e),
        )),
    }
}

/// Checks the envelope (errors, warnings) and decodes the method's fields.
fn finish<T: DeserializeOwned>(
    method: &'static str,
    response: &HttpResponse,
    status: StatusCode,
    envelope: Envelope,
    tree: Option<Value>,
) -> Result<T> {
    let mut warnings: Vec<String> = envelope
        .warning
        .iter()
        .flat_map(|w| w.split(','))
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(masked)
        .collect();
    warnings.extend(envelope.warnings.iter().map(|w| masked(w)));
    let messages: Vec<String> = envelope.messages.iter().map(|m| masked(m)).collect();
    for warning in &warnings {
        tracing::warn!(method, warning = %warning, "slack warning");
    }
    for message in &messages {
        tracing::warn!(method, message = %message, "slack response message");
    }
    // `{"error":"invalid_auth"}` without `ok` is a failure too.
    let failed = envelope.ok == Some(false)
        || (envelope.ok.is_none() && envelope.error.is_some())
        || status == StatusCode::TOO_MANY_REQUESTS
        || (!status.is_success() && envelope.ok != Some(true));
    if failed {
        if !status.is_success()
            && status != StatusCode::TOO_MANY_REQUESTS
            && envelope.error.is_none()
            && envelope.ok.is_none()
        {
            return Err(undecodable(
                &PROVIDER,
                method,
                response,
                "an HTTP error status without Slack's `ok`/`error` envelope",
            ));
        }
        let code = match (&envelope.error, status) {
            (Some(code), _) => SlackErrorCode::parse(code),
            (None, StatusCode::TOO_MANY_REQUESTS) => SlackErrorCode::Ratelimited,
            (None, _) => SlackErrorCode::Other(String::new()),
        };
        let error = SlackError::new(method, code, status)
            .with_retry_after(retry_after(response.headers(), SystemTime::now()))
            .with_scopes(envelope.needed, envelope.provided)
            .with_metadata(warnings, messages);
        tracing::debug!(method, code = error.code().as_str(), "slack error answer");
        return Err(Error::provider(error));
    }
    let decoded = match tree {
        Some(value) => T::deserialize(value),
        None => serde_json::from_slice(response.body()),
    };
    decoded.map_err(|e| undecodable(&PROVIDER, method, response, json_error_reason(&e)))
}

fn rate_limited(method: &'static str, response: &HttpResponse) -> Error {
    Error::provider(
        SlackError::new(method, SlackErrorCode::Ratelimited, response.status())
            .with_retry_after(retry_after(response.headers(), SystemTime::now())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn takes(body: &[u8]) -> bool {
        plain_success::<IgnoredAny>(body).is_some()
    }

    /// Whether the full envelope read (a JSON tree) finds `ok: true` and nothing else.
    fn full_read_is_plain(body: &[u8]) -> bool {
        serde_json::from_slice::<Value>(body).is_ok_and(|value| {
            let envelope = Envelope::read(&value);
            value.is_object()
                && envelope.ok == Some(true)
                && envelope.error.is_none()
                && envelope.warning.is_none()
                && envelope.needed.is_none()
                && envelope.provided.is_none()
                && envelope.warnings.is_empty()
                && envelope.messages.is_empty()
        })
    }

    #[test]
    fn plain_success_is_recognised_only_when_certain() {
        for body in [
            r#"{"ok":true}"#,
            r#"  {"ok":true,"access_token":"xoxb-1","team":{"id":"T1","name":"Acme"}}"#,
            "{\"ok\":true\n,\"url\":\"https:\\/\\/acme.slack.com\\/\"}",
            "{\n  \"ok\" : true ,\n  \"app_id\": \"A1\"\n}",
            r#"{"ok":true,"team":{"name":"\"ok\""}}"#,
            r#"{"ok":true,"team":{"name":"ok"}}"#,
            // Only the top level is the envelope (as the full read has it).
            r#"{"ok":true,"team":{"error":"x","ok":false}}"#,
            r#"{"ok":true,"e\u0072ror_count":1}"#,
        ] {
            assert!(takes(body.as_bytes()), "{body}");
            assert!(full_read_is_plain(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"ok":false,"error":"invalid_auth"}"#,
            r#"{"ok":truest}"#,
            r#"{"ok":"true"}"#,
            r#"{"ok":true,"warning":"superfluous_charset"}"#,
            r#"{"ok":true,"warning":""}"#,
            r#"{"ok":true,"response_metadata":{"warnings":["x"]}}"#,
            r#"{"ok":true,"response_metadata":{"next_cursor":""}}"#,
            r#"{"ok":true,"needed":"a","provided":"b"}"#,
            r#"{"ok":true,"error":"odd"}"#,
            r#"{"ok":true,"ok":false}"#,
            r#"{"ok":true,"ok":true}"#,
            r#"{"ok":true,"\u0065rror":"x"}"#,
            r#"{"ok":true,"warn\u0069ng":"x"}"#,
            r#"{"access_token":"xoxb-1","ok":true}"#,
            r#"[{"ok":true}]"#,
            r#"{"ok":true,"x":1"#,
            r#"{"ok":true} trailing"#,
            "",
        ] {
            assert!(!takes(body.as_bytes()), "{body}");
        }
    }

    /// A 429 is a rate limit even with a plain `ok: true` body (found by the `slack_responses`
    /// fuzz target's differential check).
    #[test]
    fn a_429_with_a_plain_body_is_still_a_rate_limit() {
        for status in [200, 429, 500] {
            let response = http::Response::builder()
                .status(status)
                .body(Bytes::from_static(br#"{"ok":true,"revoked":true}"#))
                .expect("a response");
            let decoded = decode_response::<Value>("auth.revoke", &response);
            if status == 429 {
                let error = decoded.expect_err("a rate limit");
                assert_eq!(error.kind(), oauth_core::ErrorKind::RateLimited);
            } else {
                assert!(decoded.is_ok(), "{status}");
            }
        }
    }

    /// The shortcut decodes what the full path decodes, or stands aside.
    #[test]
    fn plain_success_decodes_as_the_full_path_does() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Fields {
            access_token: String,
            #[serde(default)]
            team: Option<Value>,
        }
        let body =
            br#"{"ok":true,"access_token":"xoxb-1","team":{"id":"T1"},"extra":[1,{"a":null}]}"#;
        let fast: Fields = plain_success(body).expect("a plain success");
        let full: Fields = serde_json::from_slice(body).expect("the full read");
        assert_eq!(fast, full);
        // A body the fields cannot read is left to the full path (which reports it).
        assert!(plain_success::<Fields>(br#"{"ok":true,"team":{}}"#).is_none());
    }

    /// Every body of the shared corpus that the shortcut takes has exactly the envelope it
    /// assumes when read in full.
    #[test]
    fn plain_success_agrees_with_the_full_envelope_on_the_corpus() {
        let files = crate::test_corpus::json_files(&[""]);
        assert!(
            files.len() > 20,
            "corpus not found under {}",
            crate::test_corpus::ROOT
        );
        let mut taken = 0;
        for path in &files {
            let body = std::fs::read(path).expect("a corpus file");
            if !takes(&body) {
                continue;
            }
            taken += 1;
            assert!(full_read_is_plain(&body), "{}", path.display());
        }
        assert!(taken > 5, "the shortcut took only {taken} corpus bodies");
    }

    proptest::proptest! {
        /// Random objects made of envelope keys (some escaped), values and nesting after a plain
        /// opening: the shortcut takes none that the full read does not find plain.
        #[test]
        fn plain_success_never_takes_what_the_full_read_refuses(
            members in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "ok", "error", "warning", "needed", "provided", "response_metadata",
                        "\\u006fk", "\\u0065rror", "x", "team", "okay", "",
                    ]),
                    proptest::sample::select(vec![
                        "true", "false", "null", "\"\"", "\"ok\"", "1", "[]",
                        "{\"ok\":false}", "{\"error\":\"x\"}", "{\"warnings\":[\"w\"]}",
                        "{\"messages\":[]}", "\"\\u0065rror\"",
                    ]),
                ),
                0..6,
            )
        ) {
            let rest: String = members
                .iter()
                .map(|(key, value)| format!(",\"{key}\":{value}"))
                .collect();
            let body = format!(r#"{{"ok":true{rest}}}"#);
            if takes(body.as_bytes()) {
                proptest::prop_assert!(full_read_is_plain(body.as_bytes()), "{}", body);
            }
        }
    }

    #[test]
    fn the_copy_shortcut_encodes_as_form_urlencoded_does() {
        let mut texts: Vec<String> = (0u8..=127).map(|b| char::from(b).to_string()).collect();
        texts.extend(
            [
                "xoxe-1-abcDEF123",
                "2141029472.691202649728",
                "refresh_token",
                "a b+c",
                "é€",
                "",
            ]
            .map(str::to_owned),
        );
        for text in texts {
            let mut ours = String::new();
            encode_into(&mut ours, &text);
            let reference: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
            assert_eq!(ours, reference, "{text:?}");
        }
    }

    #[test]
    fn forms_are_percent_encoded_in_order() {
        let mut form = Form::new();
        form.push("redirect_uri", "https://e.com/cb?a=1&b=2");
        form.push("code", "1.2.a+b c");
        form.push_opt("absent", None);
        form.flag("test", false);
        form.flag("include_icon", true);
        assert_eq!(
            form.encode(),
            "redirect_uri=https%3A%2F%2Fe.com%2Fcb%3Fa%3D1%26b%3D2&code=1.2.a%2Bb+c&include_icon=true"
        );
    }

    #[test]
    fn classify_reads_status_and_body() {
        let response = |status: u16, body: &'static str| {
            http::Response::builder()
                .status(status)
                .header("retry-after", "7")
                .body(Bytes::from_static(body.as_bytes()))
                .unwrap_or_default()
        };
        let limited = ResponseClass::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(7)),
        };
        assert_eq!(classify(&response(429, "")), limited);
        assert_eq!(
            classify(&response(200, r#"{"ok":false,"error":"ratelimited"}"#)),
            limited
        );
        assert_eq!(
            classify(&response(200, r#"{"ok":false,"error":"invalid_auth"}"#)),
            ResponseClass::Final
        );
        assert_eq!(classify(&response(200, "<html>")), ResponseClass::Final);
        for status in [500, 502, 503, 504] {
            assert_eq!(classify(&response(status, "")), ResponseClass::Transient);
        }
        assert_eq!(classify(&response(501, "")), ResponseClass::Final);
    }
}
