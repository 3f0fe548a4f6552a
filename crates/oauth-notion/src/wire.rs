//! What goes on the wire and comes back: JSON request bodies, the answer decoders (success bodies
//! and both of Notion's error shapes) and the retry classifier.
//!
//! Every call is `POST <base>/v1/oauth/<endpoint>` with the client's headers (`Authorization:
//! Basic`, `Content-Type: application/json`, `Notion-Version`), as `@notionhq/client` sends it.

use std::time::SystemTime;

use bytes::Bytes;
use oauth_core::http::{
    Call, HttpRequest, HttpResponse, Idempotency, ResponseClass, classify_status, decode_json,
    header_str, retry_after, undecodable,
};
use oauth_core::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::PROVIDER;
use crate::client::NotionClient;
use crate::error::{ErrorShape, NotionError, NotionErrorCode};

/// A typed answer of one Notion endpoint, decodable from a raw HTTP response.
///
/// The client decodes every answer through this trait; it is public so that the decoders can be
/// run on recorded responses (or behind a transport of your own). None of them panics, whatever
/// the bytes.
pub trait NotionResponse: Sized {
    /// The operation, in errors and traces: the endpoint's path under `/v1/` (`oauth/token`, …).
    const OPERATION: &'static str;

    /// Decodes `response`, received at `received_at`. A non-2xx answer is an
    /// [`Error::Provider`] holding a [`NotionError`] (either of Notion's error shapes); a body
    /// that is not Notion's JSON is [`Error::UndecodableResponse`].
    fn decode(response: &HttpResponse, received_at: SystemTime) -> Result<Self>;
}

/// Decodes a 2xx body as `T`, or the error body of any other status.
pub(crate) fn decode_response<T: DeserializeOwned>(
    operation: &'static str,
    response: &HttpResponse,
) -> Result<T> {
    if response.status().is_success() {
        decode_json(&PROVIDER, operation, response)
    } else {
        Err(decode_error(operation, response))
    }
}

/// A non-2xx body, in either shape.
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
fn decode_error(operation: &'static str, response: &HttpResponse) -> Error {
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

/// Classifies a response for the retry policy: 529 (`service_overload`) is rate-limited as a 429
/// is (Notion did not process the call); anything else as [`classify_status`] says.
pub fn classify(response: &HttpResponse) -> ResponseClass {
    match response.status().as_u16() {
        529 => ResponseClass::RateLimited {
            retry_after: retry_after(response.headers(), SystemTime::now()),
        },
        _ => classify_status(response),
    }
}

impl NotionClient {
    /// POSTs `body` as JSON to `T::OPERATION`'s endpoint and decodes the answer as `T`.
    pub(crate) async fn call<T: NotionResponse>(
        &self,
        idempotency: Idempotency,
        body: &(impl Serialize + Sync),
    ) -> Result<T> {
        let request = self.request(T::OPERATION, body)?;
        let call = Call::new(PROVIDER, T::OPERATION, idempotency);
        self.common()
            .send(&call, request, classify, T::decode)
            .await
    }

    /// The HTTP request of a call: `POST` of `body` as JSON to `v1/<operation>`, with the
    /// client's headers.
    fn request(&self, operation: &'static str, body: &impl Serialize) -> Result<HttpRequest> {
        let json = serde_json::to_vec(body)
            .map_err(|e| Error::Internal(format!("cannot encode the {operation} body: {e}")))?;
        let mut request = http::Request::new(Bytes::from(json));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.endpoint_uri(operation)?;
        *request.headers_mut() = self.headers().clone();
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_reads_the_status() {
        let response = |status: u16| {
            http::Response::builder()
                .status(status)
                .header("retry-after", "7")
                .body(Bytes::new())
                .unwrap_or_default()
        };
        let limited = ResponseClass::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(7)),
        };
        assert_eq!(classify(&response(429)), limited);
        assert_eq!(classify(&response(529)), limited);
        for status in [500, 502, 503, 504] {
            assert_eq!(classify(&response(status)), ResponseClass::Transient);
        }
        for status in [200, 400, 401, 501] {
            assert_eq!(classify(&response(status)), ResponseClass::Final);
        }
    }
}
