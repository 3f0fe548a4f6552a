//! What goes on the wire and comes back: form bodies, the Bearer header, the response envelope and
//! the rate-limit classifier.
//!
//! Every call is `POST <base>/<method>` with `Content-Type: application/x-www-form-urlencoded` and
//! `Accept: application/json`, as `@slack/web-api` sends it. Tokens go in
//! `Authorization: Bearer <token>`, never in the query string.

use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use oauth_core::http::{
    Call, HttpRequest, HttpResponse, Idempotency, ResponseClass, bearer_auth, classify_status,
    json_error_reason, retry_after, undecodable,
};
use oauth_core::redact::redact_snippet;
use oauth_core::{AccessToken, Error, Result};
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::PROVIDER;
use crate::client::SlackClient;
use crate::error::{SlackError, SlackErrorCode};

/// The `Content-Type` of every request body.
pub(crate) const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// A form body under construction (`application/x-www-form-urlencoded`); parameters keep their
/// insertion order.
#[derive(Default)]
pub(crate) struct Form(String);

impl Form {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, name: &'static str, value: impl AsRef<str>) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        encode_into(&mut self.0, name);
        self.0.push('=');
        encode_into(&mut self.0, value.as_ref());
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
        Bytes::from(self.0)
    }
}

/// Appends `text` form-urlencoded. Tokens, ids and grant names are made only of bytes that the
/// encoding leaves as they are, and are copied in one go (`form_urlencoded` looks at each byte in
/// turn: ~4k instructions per refresh).
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

/// Slack's response envelope, read by serde from the body's top level, leniently: every field is
/// optional (legacy `oauth.access` bodies have no `ok`, a failure may lack `error`), and a field of
/// an unexpected type reads as absent rather than failing the whole answer.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Envelope {
    ok: Lenient<bool>,
    error: Lenient<String>,
    warning: Lenient<String>,
    needed: Lenient<String>,
    provided: Lenient<String>,
    response_metadata: Lenient<Metadata>,
}

/// `response_metadata`: the strings of its `warnings` and `messages`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Metadata {
    warnings: Lenient<Vec<Lenient<String>>>,
    messages: Lenient<Vec<Lenient<String>>>,
}

/// A value read as `T`, or absent when it has another type.
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either<T> {
            Expected(T),
            Other(IgnoredAny),
        }
        Ok(match Either::deserialize(deserializer)? {
            Either::Expected(value) => Self(Some(value)),
            Either::Other(_) => Self(None),
        })
    }
}

impl Envelope {
    fn is_ratelimited(&self) -> bool {
        self.ok.0 == Some(false) && self.error.0.as_deref() == Some("ratelimited")
    }
}

impl Metadata {
    /// The strings of `warnings` and of `messages`.
    fn strings(self) -> (Vec<String>, Vec<String>) {
        let strings = |list: Lenient<Vec<Lenient<String>>>| -> Vec<String> {
            list.0
                .into_iter()
                .flatten()
                .filter_map(|item| item.0)
                .collect()
        };
        (strings(self.warnings), strings(self.messages))
    }
}

/// Classifies a response for the retry policy: an HTTP 200
/// `{"ok":false,"error":"ratelimited"}` is rate-limited (with `Retry-After`) as a 429 is; anything
/// else as [`classify_status`] says.
pub fn classify(response: &HttpResponse) -> ResponseClass {
    match classify_status(response) {
        // Only a body that mentions the code can be the HTTP 200 rate limit: look before
        // parsing, so that ordinary answers are not read twice.
        ResponseClass::Final
            if memchr::memmem::find(response.body(), b"ratelimited").is_some()
                && serde_json::from_slice::<Envelope>(response.body())
                    .is_ok_and(|envelope| envelope.is_ratelimited()) =>
        {
            ResponseClass::RateLimited {
                retry_after: retry_after(response.headers(), SystemTime::now()),
            }
        }
        class => class,
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
    /// The Web API method (`oauth.v2.access`, …): the operation, in errors and traces.
    const OPERATION: &'static str;

    /// Decodes `response`, received at `received_at` (the origin of token expiries). An
    /// `{"ok":false}` answer is an [`Error::Provider`] holding a [`SlackError`]; a body that is
    /// not Slack's JSON is [`Error::UndecodableResponse`].
    fn decode(response: &HttpResponse, received_at: SystemTime) -> Result<Self>;
}

impl SlackClient {
    /// Sends `form` to `T::OPERATION` and decodes the answer as `T`.
    pub(crate) async fn call<T: SlackResponse>(
        &self,
        idempotency: Idempotency,
        form: Form,
        credential: Credential<'_>,
    ) -> Result<T> {
        let request = self.request(T::OPERATION, form, credential)?;
        let call = Call::new(PROVIDER, T::OPERATION, idempotency);
        self.common()
            .send(&call, request, classify, T::decode)
            .await
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

/// Decodes a Slack answer: the envelope first (errors, warnings), then the method's fields; each
/// is read by serde from the body's bytes.
pub(crate) fn decode_response<T: DeserializeOwned>(
    method: &'static str,
    response: &HttpResponse,
) -> Result<T> {
    let body = response.body();
    let status = response.status();
    if body.is_empty() {
        return Err(undecodable(
            &PROVIDER,
            method,
            response,
            "the body is empty",
        ));
    }
    // (serde reads a struct from a JSON array too: only an object is Slack's answer.)
    let object = body.trim_ascii_start().starts_with(b"{");
    let envelope = match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) if object => envelope,
        // A rate limit without a JSON object is still a rate limit.
        _ if status == StatusCode::TOO_MANY_REQUESTS => return Err(rate_limited(method, response)),
        Ok(_) => {
            return Err(undecodable(
                &PROVIDER,
                method,
                response,
                "the JSON is not an object",
            ));
        }
        Err(e) => {
            return Err(undecodable(
                &PROVIDER,
                method,
                response,
                json_error_reason(&e),
            ));
        }
    };
    check_envelope(method, response, envelope)?;
    serde_json::from_slice(body)
        .map_err(|e| undecodable(&PROVIDER, method, response, json_error_reason(&e)))
}

/// Logs the envelope's warnings, and fails with the [`SlackError`] it holds, if any.
fn check_envelope(method: &'static str, response: &HttpResponse, envelope: Envelope) -> Result<()> {
    let status = response.status();
    let Envelope {
        ok,
        error,
        warning,
        needed,
        provided,
        response_metadata,
    } = envelope;
    let (ok, error) = (ok.0, error.0);
    let (metadata_warnings, metadata_messages) = response_metadata
        .0
        .map(Metadata::strings)
        .unwrap_or_default();
    let mut warnings: Vec<String> = warning
        .0
        .iter()
        .flat_map(|w| w.split(','))
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(masked)
        .collect();
    warnings.extend(metadata_warnings.iter().map(|w| masked(w)));
    let messages: Vec<String> = metadata_messages.iter().map(|m| masked(m)).collect();
    for warning in &warnings {
        tracing::warn!(method, warning = %warning, "slack warning");
    }
    for message in &messages {
        tracing::warn!(method, message = %message, "slack response message");
    }
    // `{"error":"invalid_auth"}` without `ok` is a failure too.
    let failed = ok == Some(false)
        || (ok.is_none() && error.is_some())
        || status == StatusCode::TOO_MANY_REQUESTS
        || (!status.is_success() && ok != Some(true));
    if failed {
        if !status.is_success()
            && status != StatusCode::TOO_MANY_REQUESTS
            && error.is_none()
            && ok.is_none()
        {
            return Err(undecodable(
                &PROVIDER,
                method,
                response,
                "an HTTP error status without Slack's `ok`/`error` envelope",
            ));
        }
        let code = match (&error, status) {
            (Some(code), _) => SlackErrorCode::parse(code),
            (None, StatusCode::TOO_MANY_REQUESTS) => SlackErrorCode::Ratelimited,
            (None, _) => SlackErrorCode::Other(String::new()),
        };
        let error = SlackError::new(method, code, status)
            .with_retry_after(retry_after(response.headers(), SystemTime::now()))
            .with_scopes(needed.0, provided.0)
            .with_metadata(warnings, messages);
        tracing::debug!(method, code = error.code().as_str(), "slack error answer");
        return Err(Error::provider(error));
    }
    Ok(())
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

    /// A 429 is a rate limit even with a plain `ok: true` body (found by the `slack_responses`
    /// fuzz target's differential check).
    #[test]
    fn a_429_with_a_plain_body_is_still_a_rate_limit() {
        for status in [200, 429, 500] {
            let response = http::Response::builder()
                .status(status)
                .body(Bytes::from_static(br#"{"ok":true,"revoked":true}"#))
                .expect("a response");
            let decoded = decode_response::<serde_json::Value>("auth.revoke", &response);
            if status == 429 {
                let error = decoded.expect_err("a rate limit");
                assert_eq!(error.kind(), oauth_core::ErrorKind::RateLimited);
            } else {
                assert!(decoded.is_ok(), "{status}");
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
