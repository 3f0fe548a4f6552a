//! Every Notion response decoder, and the retry classifier, on any status and body: a typed value,
//! a typed error, or an undecodable-response error; never a panic.
#![no_main]

use std::time::SystemTime;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use oauth_notion::{IntrospectResponse, NotionClient, NotionResponse, RevokeResponse, TokenResponse};

const STATUSES: [u16; 10] = [200, 201, 400, 401, 403, 429, 500, 502, 503, 529];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(selector) % STATUSES.len()];
    let Ok(response) = http::Response::builder()
        .status(status)
        .header(
            "retry-after",
            if selector & 0x80 != 0 {
                "7"
            } else {
                "Wed, 21 Oct 2015 07:28:00 GMT"
            },
        )
        .body(Bytes::copy_from_slice(body))
    else {
        return;
    };
    let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let _ = oauth_notion::classify(&response);
    match TokenResponse::decode(&response, at) {
        Ok(tokens) => {
            let _ = NotionClient::token_set(tokens, at);
        }
        Err(error) => {
            let _ = (
                error.to_string(),
                format!("{error:?}"),
                error.kind(),
                error.retry_after(),
            );
        }
    }
    if let Ok(info) = IntrospectResponse::decode(&response, at) {
        let _ = NotionClient::token_info(info);
    }
    let _ = RevokeResponse::decode(&response, at);
});
