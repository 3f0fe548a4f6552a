//! Redirects never carry credentials away: a provider endpoint (server A) answers with a redirect
//! to another loopback server (B, another origin), for every redirect status, through
//! `ReqwestTransport::from_client` with an ordinary `reqwest::Client` (which follows redirects)
//! and through the default transport (which follows none).

use bytes::Bytes;
use oauth_core::http::{HttpRequest, HttpTransport, ReqwestTransport};
use oauth_core::{RequestSent, TransportErrorKind};

use oauth_testkit::{FakeServer, Recorded, Reply};

const SECRETS: [&str; 3] = ["shh-client-secret", "xoxe-1-refresh", "xoxe.xoxp-1-access"];

/// A refresh as a provider crate sends it: credentials in the body and in `Authorization`.
fn refresh(url: &str) -> HttpRequest {
    http::Request::post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", "Bearer xoxe.xoxp-1-access")
        .body(Bytes::from_static(
            b"client_id=1.2&client_secret=shh-client-secret&grant_type=refresh_token&refresh_token=xoxe-1-refresh",
        ))
        .unwrap()
}

fn redirect_to(status: u16, target: &FakeServer) -> Reply {
    Reply::json(status, "").with_header("location", &target.url("/elsewhere"))
}

/// Whether any secret appears anywhere in what a server received.
fn carries_a_secret(seen: &Recorded) -> bool {
    let mut text = String::from_utf8_lossy(&seen.body).into_owned();
    for (name, value) in &seen.headers {
        text.push_str(name);
        text.push_str(value);
    }
    text.push_str(&seen.path);
    SECRETS.iter().any(|secret| text.contains(secret))
}

#[tokio::test]
async fn an_ordinary_client_never_resends_credentials_to_a_redirect_target() {
    // (status, followed by reqwest as a bodiless GET?)
    let cases = [
        (307, false),
        (308, false),
        (301, true),
        (302, true),
        (303, true),
    ];
    for (status, followed) in cases {
        let target = FakeServer::start(Vec::new()).await;
        let endpoint = FakeServer::start(vec![redirect_to(status, &target)]).await;
        let transport = ReqwestTransport::from_client(reqwest::Client::new());

        let outcome = transport
            .send(refresh(&endpoint.url("/api/oauth.v2.access")))
            .await;

        let sent = endpoint.requests();
        assert_eq!(sent.len(), 1, "{status}");
        assert!(
            carries_a_secret(&sent[0]),
            "{status}: the endpoint got the call"
        );
        let seen = target.requests();
        if followed {
            // reqwest follows these as a GET without the body and, to another origin, without
            // `Authorization`; the transport refuses the answer that came from there.
            let error = outcome.unwrap_err();
            assert_eq!(error.kind(), TransportErrorKind::Redirected, "{status}");
            assert_eq!(error.request_sent(), RequestSent::Maybe, "{status}");
            assert!(
                error.to_string().contains("Policy::none()"),
                "{status}: {error}"
            );
            assert!(
                !error.to_string().contains("elsewhere"),
                "{status}: {error}"
            );
            assert_eq!(seen.len(), 1, "{status}");
            assert_eq!(seen[0].method, "GET", "{status}");
            assert!(seen[0].body.is_empty(), "{status}");
            assert!(!carries_a_secret(&seen[0]), "{status}: {:?}", seen[0]);
        } else {
            // The body cannot be replayed, so reqwest does not follow: the redirect is the answer.
            let response = outcome.unwrap();
            assert_eq!(response.status(), status);
            assert!(seen.is_empty(), "{status}: the target saw {seen:?}");
        }
    }
}

#[tokio::test]
async fn the_default_transport_follows_no_redirect() {
    for status in [301, 302, 303, 307, 308] {
        let target = FakeServer::start(Vec::new()).await;
        let endpoint = FakeServer::start(vec![redirect_to(status, &target)]).await;
        let transport = ReqwestTransport::new().unwrap();

        let response = transport
            .send(refresh(&endpoint.url("/api/oauth.v2.access")))
            .await
            .unwrap();

        assert_eq!(response.status(), status);
        assert_eq!(endpoint.requests().len(), 1, "{status}");
        assert!(
            target.requests().is_empty(),
            "{status}: the target was reached"
        );
    }
}

#[tokio::test]
async fn the_body_is_sent_with_its_length_as_before() {
    // The body goes to reqwest as a stream (so that it cannot be replayed): it must still be
    // sent whole, with a `content-length`, not chunked.
    let endpoint = FakeServer::start(Vec::new()).await;
    let transport = ReqwestTransport::new().unwrap();
    let response = transport
        .send(refresh(&endpoint.url("/api/oauth.v2.access")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = endpoint.requests();
    assert_eq!(seen.len(), 1);
    let expected = refresh("http://x/").into_body();
    assert_eq!(seen[0].body, expected.as_ref());
    assert_eq!(
        seen[0].header("content-length"),
        Some(expected.len().to_string().as_str())
    );
    assert_eq!(seen[0].header("transfer-encoding"), None);
}
