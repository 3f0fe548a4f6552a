//! Every Notion response decoder, on any status and body: a typed value, a typed error, or an
//! undecodable-response error; never a panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use oauth_notion::decode::{
    decode_error, decode_introspect_response, decode_revoke_response, decode_token_response,
};

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
    if let Ok(tokens) = decode_token_response(&response) {
        let _ = oauth_notion::NotionClient::token_set(tokens, std::time::SystemTime::now());
    }
    if let Ok(info) = decode_introspect_response(&response) {
        let _ = oauth_notion::NotionClient::token_info(info);
    }
    let _ = decode_revoke_response(&response);
    let error = decode_error("oauth/token", &response);
    let _ = (
        error.to_string(),
        format!("{error:?}"),
        error.kind(),
        error.retry_after(),
    );
});
