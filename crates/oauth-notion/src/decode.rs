//! Decoding Notion's answers, exposed for tests and fuzzing: each function takes a whole HTTP
//! response and returns the typed body, a typed [`NotionError`], or an undecodable-response error.
//! None of them panics, whatever the bytes.

use std::time::SystemTime;

use oauth_core::http::{HttpResponse, decode_json, header_str, retry_after, undecodable};
use oauth_core::{Error, TokenSet};
use serde::Deserialize;

use crate::PROVIDER;
use crate::client::{INTROSPECT, NotionClient, REVOKE, TOKEN};
use crate::error::{ErrorShape, NotionError, NotionErrorCode};
use crate::types::{IntrospectResponse, RevokeResponse, TokenResponse, TokenResponseForSet};

/// Decodes an answer of `POST /v1/oauth/token`.
pub fn decode_token_response(response: &HttpResponse) -> Result<TokenResponse, Error> {
    decode_success(TOKEN, response)
}

/// Decodes an answer of `POST /v1/oauth/token` that becomes a token set at once (the owner is
/// left as JSON).
pub(crate) fn decode_token_response_for_set(
    response: &HttpResponse,
) -> Result<TokenResponse, Error> {
    decode_success::<TokenResponseForSet>(TOKEN, response).map(|r| r.0)
}

/// Decodes an answer of `POST /v1/oauth/token` straight into the common [`TokenSet`], received
/// at `received_at`, as the token grants do: the owner is kept in the extras as received, neither
/// typed nor made a tree until read. The same token set as
/// `NotionClient::token_set(decode_token_response(response)?, received_at)`.
///
/// ```
/// use std::time::SystemTime;
/// use oauth_notion::decode::decode_token_set;
///
/// let body = r#"{"access_token":"secret_a","token_type":"bearer","bot_id":"b1",
///     "workspace_id":"w1","owner":{"type":"user","user":{"object":"user","id":"u1"}}}"#;
/// let response = http::Response::builder().status(200).body(bytes::Bytes::from(body))?;
/// let tokens = decode_token_set(&response, SystemTime::now())?;
/// assert_eq!(tokens.grantee.user_id.as_deref(), Some("u1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode_token_set(
    response: &HttpResponse,
    received_at: SystemTime,
) -> Result<TokenSet, Error> {
    decode_token_response_for_set(response).map(|r| NotionClient::token_set(r, received_at))
}

/// Decodes an answer of `POST /v1/oauth/introspect`.
pub fn decode_introspect_response(response: &HttpResponse) -> Result<IntrospectResponse, Error> {
    decode_success(INTROSPECT, response)
}

/// Decodes an answer of `POST /v1/oauth/revoke`.
pub fn decode_revoke_response(response: &HttpResponse) -> Result<RevokeResponse, Error> {
    decode_success(REVOKE, response)
}

/// Decodes a 2xx body as `T`, or the error body of any other status.
fn decode_success<T: serde::de::DeserializeOwned>(
    operation: &'static str,
    response: &HttpResponse,
) -> Result<T, Error> {
    if response.status().is_success() {
        decode_json(&PROVIDER, operation, response)
    } else {
        Err(decode_error(operation, response))
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    additional_data: Option<serde_json::Value>,
}

/// Decodes a non-2xx answer into a [`NotionError`] (either shape), or an undecodable-response
/// error when the body is not Notion's (an HTML page from a proxy, an empty body).
pub fn decode_error(operation: &'static str, response: &HttpResponse) -> Error {
    let body: ErrorBody = match serde_json::from_slice(response.body()) {
        Ok(body) => body,
        Err(e) => {
            let reason = if response.body().is_empty() {
                "the error body is empty".to_owned()
            } else {
                oauth_core::http::json_error_reason(&e)
            };
            return undecodable(&PROVIDER, operation, response, reason);
        }
    };
    let (code, message, shape) = match (body.code, body.error) {
        (Some(code), _) => (code, body.message, ErrorShape::Envelope),
        (None, Some(error)) => (
            error,
            body.error_description.or(body.message),
            ErrorShape::OAuth,
        ),
        (None, None) => {
            return undecodable(
                &PROVIDER,
                operation,
                response,
                "a JSON body without `code` or `error`",
            );
        }
    };
    let request_id = body
        .request_id
        .or_else(|| header_str(response, "x-notion-request-id").map(str::to_owned));
    Error::provider(NotionError {
        operation,
        code: NotionErrorCode::parse(&code),
        status: response.status(),
        message,
        request_id,
        retry_after: retry_after(response.headers(), SystemTime::now()),
        shape,
        additional_data: body.additional_data,
        www_authenticate: header_str(response, "www-authenticate").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use bytes::Bytes;

    use super::*;
    use crate::NotionClient;

    /// The token grants read the owner only as JSON; the token set they make is the one the typed
    /// response makes, for every success body of the shared corpus and odd owners.
    #[test]
    fn a_token_set_is_the_same_whether_the_owner_was_typed_or_not() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/decode-corpus/notion/oauth.token"
        );
        let mut bodies: Vec<String> = std::fs::read_dir(dir)
            .expect("the shared decode corpus")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| std::fs::read_to_string(p).expect("a corpus file"))
            .collect();
        assert!(bodies.len() >= 3, "corpus not found under {dir}");
        for owner in [
            r#"null"#,
            r#"{"type":"user","user":{"id":"u1","name":7}}"#,
            r#"{"type":"user","user":"u1"}"#,
            r#"{"type":"bot","bot":{}}"#,
            r#"{"type":"user","user":null}"#,
            r#"{"type":"user","user":{"id":null}}"#,
            r#"{"type":"user","user":{"id":"u1","id":"u2"}}"#,
            r#"{"type":"user","user":{"id":"u1"},"user":{"id":"u2"}}"#,
            r#"{"type":"user","\u0075ser":{"\u0069d":"u\u0031"}}"#,
            r#"{"type":"workspace","workspace":true}"#,
            r#"[]"#,
            r#""u1""#,
        ] {
            bodies.push(format!(
                r#"{{"access_token":"secret_a","bot_id":"b","workspace_id":"w","owner":{owner}}}"#
            ));
        }
        // An owner deeper than a JSON tree may be: the grant is kept, without an owner (but with
        // the owner's user id, when it can be read).
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for (owner, user_id) in [
            (deep.clone(), None),
            (
                format!(r#"{{"type":"user","user":{{"id":"u1","x":{deep}}}}}"#),
                Some("u1"),
            ),
        ] {
            let body =
                format!(r#"{{"access_token":"secret_a","refresh_token":"r","owner":{owner}}}"#);
            let response = http::Response::builder()
                .status(200)
                .body(Bytes::from(body.clone()))
                .expect("a response");
            let tokens = decode_token_set(&response, SystemTime::UNIX_EPOCH).expect("a token set");
            assert!(tokens.refresh_token.is_some());
            assert!(tokens.extras.get("owner").is_none() && tokens.extras.is_empty());
            assert_eq!(tokens.grantee.user_id.as_deref(), user_id);
            let typed = decode_token_response(&response).expect("a token response");
            assert!(typed.owner.is_none());
            bodies.push(body);
        }
        let at = SystemTime::UNIX_EPOCH;
        for body in bodies {
            let response = http::Response::builder()
                .status(200)
                .body(Bytes::from(body.clone()))
                .expect("a response");
            let typed = NotionClient::token_set(
                decode_token_response(&response).expect("a token response"),
                at,
            );
            let untyped = NotionClient::token_set(
                decode_token_response_for_set(&response).expect("a token response"),
                at,
            );
            assert_eq!(typed, untyped, "{body}");
        }
    }
}
