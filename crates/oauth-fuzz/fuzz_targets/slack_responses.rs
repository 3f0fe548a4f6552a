//! Every Slack response decoder, on any status and body; never a panic.
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

fn all(response: &http::Response<Bytes>) {
    let now = SystemTime::now();
    let _ = OauthV2AccessResponse::decode(response, now);
    let _ = OauthV2RefreshResponse::decode(response, now);
    let _ = OauthV2ExchangeResponse::decode(response, now);
    let _ = OauthAccessResponse::decode(response, now);
    let _ = OpenIdConnectTokenResponse::decode(response, now);
    let _ = OpenIdConnectUserInfoResponse::decode(response, now);
    let _ = AuthTestResponse::decode(response, now);
    let _ = AuthRevokeResponse::decode(response, now);
    let _ = AuthTeamsListResponse::decode(response, now);
    let _ = AppsAuthExternalGetResponse::decode(response, now);
    let _ = AppsAuthExternalDeleteResponse::decode(response, now);
    let _ = oauth_slack::classify(response);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(selector) % STATUSES.len()];
    let Ok(response) = http::Response::builder()
        .status(status)
        .header("x-oauth-scopes", "chat:write, commands")
        .header("retry-after", "3")
        .body(Bytes::copy_from_slice(body))
    else {
        return;
    };
    all(&response);
});
