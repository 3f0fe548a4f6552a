//! The signing secret never reaches a `Debug`, an answer, an error or a log line of the events
//! endpoint, whatever it is sent. Its own test binary: it installs the process-wide TRACE
//! subscriber that captures the logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use oauth_facade::slack::events::{EventsEndpoint, SlackVerifier};
use oauth_facade::slack::{SigningSecret, verify_signature};
use oauth_testkit::{LogCapture, assert_no_secret};
use support::{SECRET, app, callback, now_secs, signature};

#[tokio::test]
async fn the_signing_secret_never_reaches_debug_answers_errors_or_logs() {
    let logs = LogCapture::install();
    let app = app().await;
    app.install(None, "T1", "U1").await;
    const PREVIOUS: &str = "the-previous-signing-secret-0001";
    let secrets = vec![SECRET.to_owned(), PREVIOUS.to_owned()];
    let mut seen = String::new();

    let secret = SigningSecret::new(SECRET);
    let builder = EventsEndpoint::builder(secret.clone());
    seen.push_str(&format!("{secret:?} {builder:?}"));
    seen.push_str(&format!("{:?}", builder.build().unwrap()));
    seen.push_str(&format!("{:?}", SlackVerifier::new(secret.clone())));
    let rotating =
        EventsEndpoint::builder(secret.clone()).previous_secret(SigningSecret::new(PREVIOUS));
    seen.push_str(&format!("{rotating:?}"));
    seen.push_str(&format!("{:?}", rotating.build().unwrap()));
    seen.push_str(&format!(
        "{:?}",
        SlackVerifier::new(secret.clone()).also_accept(SigningSecret::new(PREVIOUS))
    ));

    let body = callback(
        "Ev1SECRET",
        "T1",
        None,
        false,
        r#"{"type":"tokens_revoked","tokens":{"oauth":["U1"]}}"#,
    );
    let fresh = now_secs().to_string();
    let stale = (now_secs() - 1000).to_string();
    let wrong = signature("not-the-secret", &fresh, body.as_bytes());
    let old = signature(SECRET, &stale, body.as_bytes());
    for headers in [
        vec![],
        vec![
            ("x-slack-request-timestamp", fresh.as_str()),
            ("x-slack-signature", wrong.as_str()),
        ],
        vec![
            ("x-slack-request-timestamp", stale.as_str()),
            ("x-slack-signature", old.as_str()),
        ],
        vec![
            ("x-slack-request-timestamp", "x"),
            ("x-slack-signature", "v0=zz"),
        ],
    ] {
        let response = app.post(&body, &headers).await;
        assert_eq!(response.status(), 401);
        seen.push_str(&response.text().await.unwrap());
    }
    for bad in ["not json", r#"{"type":"nope"}"#] {
        seen.push_str(&app.post_signed(bad).await.text().await.unwrap());
    }
    assert_eq!(app.post_signed(&body).await.status(), 200);
    for error in [
        verify_signature(
            &secret,
            &fresh,
            &wrong,
            body.as_bytes(),
            std::time::SystemTime::now(),
        ),
        verify_signature(
            &secret,
            &stale,
            &old,
            body.as_bytes(),
            std::time::SystemTime::now(),
        ),
    ] {
        let error = error.unwrap_err();
        seen.push_str(&format!("{error} {error:?}"));
    }
    let deliveries = app.deliveries(1).await;
    seen.push_str(&format!("{deliveries:?}"));

    let logged = logs.contents();
    assert!(
        logged.contains("was refused"),
        "the refusals are logged: {logged}"
    );
    assert!(logged.contains("token set removed"), "{logged}");
    assert_no_secret(&logged, &secrets);
    assert_no_secret(&seen, &secrets);
    assert!(
        !seen.contains("deprecated-verification-token")
            && !logged.contains("deprecated-verification-token")
    );
}
