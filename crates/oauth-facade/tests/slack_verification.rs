//! Slack's request verification on the events endpoint and other routes, over loopback HTTP:
//! every bad signature, size and body answered as it should be and changing nothing, the
//! signatures computed here with `hmac`/`sha2`; `url_verification`; the builder's refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;

use oauth_facade::slack::SigningSecret;
use oauth_facade::slack::events::EventsEndpoint;
use support::{SECRET, app, callback, now_secs, signature};

#[tokio::test]
async fn url_verification_is_answered_with_its_challenge() {
    let app = app().await;
    let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let response = app.post_signed(body).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
}

#[tokio::test]
async fn requests_refused_for_their_signature_or_body_change_nothing() {
    let app = app().await;
    app.install(None, "T1", "U1").await;
    let before = app.stored().await;
    assert_eq!(before, ["slack/T1#bot", "slack/T1#user:U1"]);
    let body = callback(
        "Ev0REVOKE",
        "T1",
        None,
        false,
        r#"{"type":"tokens_revoked","tokens":{"oauth":["U1"],"bot":["U0001"]}}"#,
    );
    let now = now_secs();
    let fresh = now.to_string();
    let stale = (now - 301).to_string();
    let future = (now + 301).to_string();
    let good = signature(SECRET, &fresh, body.as_bytes());
    let by_another_app = signature("another-apps-signing-secret", &fresh, body.as_bytes());
    let for_stale = signature(SECRET, &stale, body.as_bytes());
    let for_future = signature(SECRET, &future, body.as_bytes());
    let for_other_body = signature(SECRET, &fresh, b"{}");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "no headers",
            vec![],
            "no `x-slack-request-timestamp` header",
        ),
        (
            "no signature",
            vec![("x-slack-request-timestamp", &fresh)],
            "no `x-slack-signature` header",
        ),
        (
            "no timestamp",
            vec![("x-slack-signature", &good)],
            "no `x-slack-request-timestamp` header",
        ),
        (
            "another app's secret",
            vec![
                ("x-slack-request-timestamp", &fresh),
                ("x-slack-signature", &by_another_app),
            ],
            "does not match",
        ),
        (
            "another body's signature",
            vec![
                ("x-slack-request-timestamp", &fresh),
                ("x-slack-signature", &for_other_body),
            ],
            "does not match",
        ),
        (
            "signed 301 s ago",
            vec![
                ("x-slack-request-timestamp", &stale),
                ("x-slack-signature", &for_stale),
            ],
            "301 s from now",
        ),
        (
            "signed 301 s ahead",
            vec![
                ("x-slack-request-timestamp", &future),
                ("x-slack-signature", &for_future),
            ],
            "301 s from now",
        ),
        (
            "a timestamp that is not Unix seconds",
            vec![
                ("x-slack-request-timestamp", "yesterday"),
                ("x-slack-signature", &good),
            ],
            "not Unix seconds",
        ),
        (
            "a signature of another scheme",
            vec![
                ("x-slack-request-timestamp", &fresh),
                ("x-slack-signature", "v1=abc"),
            ],
            "not of the `v0=` scheme",
        ),
        (
            "a truncated signature",
            vec![
                ("x-slack-request-timestamp", &fresh),
                ("x-slack-signature", &good[..20]),
            ],
            "not 64 hex digits",
        ),
    ];
    for (name, headers, says) in &cases {
        let response = app.post(&body, headers).await;
        assert_eq!(response.status(), 401, "{name}");
        let text = response.text().await.unwrap();
        assert!(text.contains(says), "{name}: {text}");
        assert!(!text.contains(SECRET), "{name}: {text}");
    }
    // A retry header does not make an unsigned request acceptable.
    let response = app
        .post(
            &body,
            &[
                ("x-slack-retry-num", "1"),
                ("x-slack-retry-reason", "http_timeout"),
            ],
        )
        .await;
    assert_eq!(response.status(), 401);

    // Signed, but over the size limit, or not an Events API body.
    let huge = format!(
        r#"{{"type":"event_callback","pad":"{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    let response = app.post_signed(&huge).await;
    assert_eq!(response.status(), 413);
    for (bad, says) in [
        ("not json", "not JSON"),
        (r#"{"type":"shortcut"}"#, "unknown type `shortcut`"),
        (
            r#"{"type":"event_callback","event":{"type":"app_uninstalled"}}"#,
            "no `event_id`",
        ),
        (r#"["event_callback"]"#, "not a JSON object"),
    ] {
        let response = app.post_signed(bad).await;
        assert_eq!(response.status(), 400, "{bad}");
        let text = response.text().await.unwrap();
        assert!(text.contains(says), "{bad}: {text}");
    }

    assert_eq!(app.stored().await, before, "nothing was removed");
    assert!(app.removed().is_empty());
    assert!(
        app.deliveries.lock().unwrap().is_empty(),
        "nothing was handed over"
    );
    // The same request, signed, is accepted: the cases above failed for their signature only.
    let response = app.post_signed(&body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.stored().await, ["slack/T1#bot"]);
}

#[tokio::test]
async fn the_builder_refuses_what_cannot_work() {
    let error = EventsEndpoint::builder(SigningSecret::new(""))
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("signing secret is empty"),
        "{error}"
    );
    let error = EventsEndpoint::builder(SigningSecret::new(SECRET))
        .previous_secret(SigningSecret::new(""))
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("previous_secret"), "{error}");
    let notion = oauth_facade::ProviderConfig::sandbox(
        oauth_facade::ProviderKind::Notion,
        "http://127.0.0.1:9",
    )
    .build()
    .unwrap();
    let manager = oauth_facade::TokenManager::builder(
        notion,
        Arc::new(oauth_facade::MemoryTokenStore::new()),
    )
    .build()
    .unwrap();
    let error = EventsEndpoint::builder(SigningSecret::new(SECRET))
        .token_manager(manager)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("not `slack`"), "{error}");
}

#[tokio::test]
async fn the_verifier_guards_other_slack_routes_as_extractor_and_middleware() {
    use axum::routing::post;
    use oauth_facade::slack::events::{SlackVerifier, VerifiedBody, verify_slack_request};

    let verifier = SlackVerifier::new(SigningSecret::new(SECRET)).body_limit(4096);
    let commands: axum::Router = axum::Router::new()
        .route(
            "/slack/commands",
            post(|VerifiedBody { body, .. }: VerifiedBody| async move {
                format!("command: {}", String::from_utf8_lossy(&body))
            }),
        )
        .with_state(verifier.clone());
    let interactions: axum::Router = axum::Router::new()
        .route(
            "/slack/interactions",
            post(|body: String| async move { format!("interaction: {body}") }),
        )
        .layer(axum::middleware::from_fn_with_state(
            verifier,
            verify_slack_request,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, commands.merge(interactions))
            .await
            .unwrap()
    });
    let http = reqwest::Client::new();
    let form = "command=%2Fweather&text=94070&team_id=T1&user_id=U1";
    for (path, answer) in [
        ("/slack/commands", format!("command: {form}")),
        ("/slack/interactions", format!("interaction: {form}")),
    ] {
        let timestamp = now_secs().to_string();
        let signed = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &timestamp)
            .header(
                "x-slack-signature",
                signature(SECRET, &timestamp, form.as_bytes()),
            )
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status(), 200, "{path}");
        assert_eq!(
            signed.text().await.unwrap(),
            answer,
            "the body passed on unchanged"
        );
        let forged = http
            .post(format!("{base}{path}"))
            .header("x-slack-request-timestamp", &timestamp)
            .header(
                "x-slack-signature",
                signature("guess", &timestamp, form.as_bytes()),
            )
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 401, "{path}");
        let large = "x".repeat(4097);
        let too_large = http
            .post(format!("{base}{path}"))
            .header("x-slack-request-timestamp", &timestamp)
            .header(
                "x-slack-signature",
                signature(SECRET, &timestamp, large.as_bytes()),
            )
            .body(large)
            .send()
            .await
            .unwrap();
        assert_eq!(too_large.status(), 413, "{path}");
    }
}
