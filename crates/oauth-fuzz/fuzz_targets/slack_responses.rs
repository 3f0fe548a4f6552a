//! Every Slack response decoder, and the retry classifier, on any status and body; never a panic.
#![no_main]

use std::time::SystemTime;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use oauth_slack::{
    AppsAuthExternalDeleteResponse, AppsAuthExternalGetResponse, AuthRevokeResponse,
    AuthTeamsListResponse, AuthTestResponse, OauthAccessResponse, OauthV2AccessResponse,
    OauthV2ExchangeResponse, OauthV2RefreshResponse, OpenIdConnectTokenResponse,
    OpenIdConnectUserInfoResponse, SlackResponse,
};

const STATUSES: [u16; 6] = [200, 200, 429, 500, 502, 503];

/// What a decode came to: the value's `Debug` (secrets redacted, deterministic) or the error's kind.
fn outcome<T: std::fmt::Debug>(decoded: oauth_core::Result<T>) -> String {
    match decoded {
        Ok(value) => format!("ok {value:?}"),
        Err(error) => format!("error {:?}", error.kind()),
    }
}

/// Every decoder's outcome for `response`, decoded at a fixed instant.
fn all(response: &http::Response<Bytes>) -> Vec<String> {
    let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let _ = oauth_slack::classify(response);
    vec![
        outcome(OauthV2AccessResponse::decode(response, at)),
        outcome(OauthV2RefreshResponse::decode(response, at)),
        outcome(OauthV2ExchangeResponse::decode(response, at)),
        outcome(OauthAccessResponse::decode(response, at)),
        outcome(OpenIdConnectTokenResponse::decode(response, at)),
        outcome(OpenIdConnectUserInfoResponse::decode(response, at)),
        outcome(AuthTestResponse::decode(response, at)),
        outcome(AuthRevokeResponse::decode(response, at)),
        outcome(AuthTeamsListResponse::decode(response, at)),
        outcome(AppsAuthExternalGetResponse::decode(response, at)),
        outcome(AppsAuthExternalDeleteResponse::decode(response, at)),
    ]
}

fn response(status: u16, body: Vec<u8>) -> Option<http::Response<Bytes>> {
    http::Response::builder()
        .status(status)
        .header("x-oauth-scopes", "chat:write, commands")
        .header("retry-after", "3")
        .body(Bytes::from(body))
        .ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(selector) % STATUSES.len()];
    if let Some(response) = response(status, body.to_vec()) {
        let _ = all(&response);
    }
});
