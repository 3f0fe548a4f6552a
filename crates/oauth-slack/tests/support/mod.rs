//! The Slack stand-in of the wire tests: the kit's scripted server (oauth-testkit) with Slack's
//! answers, the test app and the wire-form check.
#![allow(dead_code, unreachable_pub)]

use std::ops::Deref;

use oauth_slack::{SlackClient, SlackClientBuilder};
use oauth_testkit::{FakeServer, Recorded};

pub const CLIENT_ID: &str = "2141029472.691202649728";
pub const CLIENT_SECRET: &str = "s3cr3t-client-secret";
/// `base64("2141029472.691202649728:s3cr3t-client-secret")`.
pub const BASIC: &str = "Basic MjE0MTAyOTQ3Mi42OTEyMDI2NDk3Mjg6czNjcjN0LWNsaWVudC1zZWNyZXQ=";
pub const REDIRECT_URI: &str = "https://example.com/slack/oauth/callback";

/// Slack's answers, as the kit's replies.
pub struct Reply;

impl Reply {
    /// HTTP 200 with a JSON body.
    pub fn ok(body: &str) -> oauth_testkit::Reply {
        Self::status(200, body)
    }

    /// `status` with a JSON body, typed as Slack types it.
    pub fn status(status: u16, body: &str) -> oauth_testkit::Reply {
        oauth_testkit::Reply::new(status, "application/json; charset=utf-8", body)
    }

    /// HTTP 200 `{"ok":false,"error":code}`.
    pub fn error(code: &str) -> oauth_testkit::Reply {
        Self::ok(&format!(r#"{{"ok":false,"error":"{code}"}}"#))
    }
}

/// The scripted server, answering `500 script_exhausted` once its script is played.
pub struct FakeSlack(FakeServer);

impl Deref for FakeSlack {
    type Target = FakeServer;

    fn deref(&self) -> &FakeServer {
        &self.0
    }
}

impl FakeSlack {
    pub async fn start(script: Vec<oauth_testkit::Reply>) -> Self {
        let exhausted = Reply::status(500, r#"{"ok":false,"error":"script_exhausted"}"#);
        Self(FakeServer::start_then(script, exhausted).await)
    }

    pub fn base(&self) -> String {
        self.url("/")
    }

    /// A builder for the test app, pointed at this server, with fast retries.
    pub fn builder(&self) -> SlackClientBuilder {
        SlackClient::builder(CLIENT_ID)
            .base_url(format!("{}api/", self.base()))
            .authorize_base_url(self.base())
            .redirect_uri(REDIRECT_URI)
            .retry_policy(oauth_testkit::fast_retry_policy!())
    }

    /// A confidential client (secret in the form body).
    pub fn client(&self) -> SlackClient {
        self.builder().client_secret(CLIENT_SECRET).build().unwrap()
    }
}

/// Asserts the exact wire form of a Web API call: `POST /api/<method>` without a query string,
/// the form content type, the `Authorization` header (or none) and exactly these form parameters.
pub fn assert_wire(
    request: &Recorded,
    method: &str,
    authorization: Option<&str>,
    form: &[(&str, &str)],
) {
    assert_eq!(request.method, "POST", "{}", request.raw());
    assert_eq!(request.path, format!("/api/{method}"), "{}", request.raw());
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded"),
        "{}",
        request.raw()
    );
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(
        request.header("authorization"),
        authorization,
        "{}",
        request.raw()
    );
    let expected: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(request.form(), expected, "{}", request.raw());
}
