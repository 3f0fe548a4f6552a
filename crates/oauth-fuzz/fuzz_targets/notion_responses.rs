//! Every Notion response decoder, on any status and body: a typed value, a typed error, or an
//! undecodable-response error; never a panic. And a differential check of the token grants'
//! decoder (the owner kept as text): the same token set, or the same kind of error, as the typed
//! response made into a token set.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use oauth_notion::decode::{
    decode_error, decode_introspect_response, decode_revoke_response, decode_token_response,
    decode_token_set,
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
    let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let typed = decode_token_response(&response)
        .map(|tokens| oauth_notion::NotionClient::token_set(tokens, at));
    match (typed, decode_token_set(&response, at)) {
        (Ok(typed), Ok(direct)) => assert!(typed == direct, "token sets differ"),
        (Err(typed), Err(direct)) => assert_eq!(typed.kind(), direct.kind()),
        (typed, direct) => panic!(
            "one decoder failed: typed {:?}, direct {:?}",
            typed.map(|_| ()).map_err(|e| e.kind()),
            direct.map(|_| ()).map_err(|e| e.kind())
        ),
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
