//! A Slack app's access-token lifetime (`App::with_access_token_ttl_secs`), over plain HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Ctx;
use oauth_sandbox::{DEFAULT_SLACK_CLIENT_ID, Sandbox};

#[tokio::test]
async fn a_short_token_lifetime_applies_to_installs_and_refreshes_and_expires() {
    let c = Ctx::new().await;
    let app = c.ctl().app(DEFAULT_SLACK_CLIENT_ID).unwrap();
    c.ctl().register_app(app.with_access_token_ttl_secs(60));
    let install = c.slack_install().await;
    assert_eq!(install.json["expires_in"], 60);
    assert_eq!(install.json["authed_user"]["expires_in"], 60);
    let refreshed = c.slack_refresh(install.s("refresh_token")).await;
    assert_eq!(refreshed.slack_code(), "ok", "{}", refreshed.text);
    assert_eq!(refreshed.json["expires_in"], 60);
    // After 60 s on the sandbox clock the token is expired.
    c.ctl().advance_clock(std::time::Duration::from_secs(61));
    let test = c
        .slack("auth.test", &[], Some(refreshed.s("access_token")))
        .await;
    assert_eq!(test.slack_code(), "token_expired", "{}", test.text);
}

#[tokio::test]
async fn apps_keep_slacks_twelve_hours_unless_told_otherwise() {
    let c = Ctx::with(Sandbox::builder()).await;
    assert_eq!(
        c.ctl()
            .app(DEFAULT_SLACK_CLIENT_ID)
            .unwrap()
            .access_token_ttl_secs,
        None
    );
    assert_eq!(c.slack_install().await.json["expires_in"], 43200);
}
