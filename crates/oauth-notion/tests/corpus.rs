//! Every Notion body of the shared decode corpus, and our own fixtures for its gaps, through the
//! decoders: success bodies are accepted, error bodies classified with the expected code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use oauth_core::{Error, ErrorKind, TokenType};
use oauth_notion::{
    ErrorShape, IntrospectResponse, NotionClient, NotionError, NotionErrorCode, NotionExtras,
    NotionResponse, Owner, RevokeResponse, TokenResponse,
};
use oauth_testkit::corpus;

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> http::Response<Bytes> {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Bytes::from(body.to_owned())).unwrap()
}

fn decode_token_response(response: &http::Response<Bytes>) -> Result<TokenResponse, Error> {
    TokenResponse::decode(response, SystemTime::UNIX_EPOCH)
}

fn decode_introspect_response(
    response: &http::Response<Bytes>,
) -> Result<IntrospectResponse, Error> {
    IntrospectResponse::decode(response, SystemTime::UNIX_EPOCH)
}

fn decode_revoke_response(response: &http::Response<Bytes>) -> Result<RevokeResponse, Error> {
    RevokeResponse::decode(response, SystemTime::UNIX_EPOCH)
}

/// The error a token-endpoint answer of an error status decodes to.
fn decode_error(operation: &str, response: &http::Response<Bytes>) -> Error {
    assert_eq!(operation, TokenResponse::OPERATION);
    decode_token_response(response).expect_err("an error answer")
}

fn notion_error(error: &Error) -> &NotionError {
    error
        .provider_error()
        .and_then(|e| e.downcast_ref::<NotionError>())
        .unwrap_or_else(|| panic!("not a Notion error: {error:?}"))
}

/// The HTTP status each corpus error body was served with (from its provenance in MANIFEST.md).
fn status_of(file: &str) -> u16 {
    match file {
        f if f.contains("429") => 429,
        f if f.contains("401") => 401,
        f if f.contains("403") => 403,
        _ => 400,
    }
}

#[test]
fn shared_corpus() {
    let expect: serde_json::Value = serde_json::from_str(&corpus::read("expect.json")).unwrap();
    let mut checked = 0;
    for entry in expect.as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        if !file.starts_with("notion/") {
            continue;
        }
        let body = corpus::read(file);
        match entry["kind"].as_str().unwrap() {
            "success" => {
                assert!(file.starts_with("notion/oauth.token/"), "{file}");
                let decoded = decode_token_response(&response(200, &[], &body))
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
                let owner = decoded.owner.clone();
                let tokens = NotionClient::token_set(decoded, SystemTime::now());
                assert!(!tokens.access_token.expose_secret().is_empty(), "{file}");
                assert_eq!(
                    tokens.token_type,
                    TokenType::Bearer,
                    "{file}: placeholder or absent token_type reads as bearer"
                );
                assert!(tokens.grantee.workspace_id.is_some(), "{file}");
                assert!(tokens.grantee.bot_id.is_some(), "{file}");
                // The owner kept in the extras reads back as the decoded one.
                assert!(owner.is_some(), "{file}");
                assert_eq!(NotionExtras::from_token_set(&tokens).owner, owner, "{file}");
            }
            "error" => {
                let expected = entry["error_code"].as_str().unwrap();
                let error = decode_error("oauth/token", &response(status_of(file), &[], &body));
                assert_eq!(notion_error(&error).code().as_str(), expected, "{file}");
            }
            other => panic!("{file}: unknown kind {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 7, "every Notion file of expect.json was checked");
}

#[test]
fn legacy_workspace_owner_and_missing_fields() {
    let body = r#"{"access_token":"secret_abc","bot_id":"b1","duplicated_template_id":null,"owner":{"workspace":true},"workspace_icon":"🦀","workspace_id":"w1","workspace_name":"W"}"#;
    let decoded = decode_token_response(&response(200, &[], body)).unwrap();
    assert_eq!(decoded.owner, Some(Owner::Workspace));
    assert!(decoded.refresh_token.is_none());
    let tokens = NotionClient::token_set(decoded, SystemTime::now());
    assert_eq!(tokens.grantee.user_id, None);
    assert_eq!(
        NotionExtras::from_token_set(&tokens)
            .workspace_icon
            .as_deref(),
        Some("🦀")
    );
    assert!(tokens.expires_at.is_none(), "Notion sends no expires_in");
}

#[test]
fn user_owner_maps_into_the_grantee() {
    let body = r#"{"access_token":"ntn_1","token_type":"bearer","refresh_token":null,"bot_id":"b1","workspace_id":"w1","workspace_name":"Ada's","workspace_icon":null,
        "owner":{"type":"user","user":{"object":"user","id":"u1","type":"person","name":"Ada","avatar_url":null,"person":{"email":"ada@example.com"}}},
        "duplicated_template_id":"t1","request_id":"r1"}"#;
    let tokens = NotionClient::token_set(
        decode_token_response(&response(200, &[], body)).unwrap(),
        SystemTime::now(),
    );
    assert_eq!(tokens.grantee.user_id.as_deref(), Some("u1"));
    assert_eq!(tokens.grantee.workspace_name.as_deref(), Some("Ada's"));
    assert!(tokens.refresh_token.is_none(), "null refresh token");
    let extras = NotionExtras::from_token_set(&tokens);
    let user = extras.owner.as_ref().and_then(Owner::user).unwrap();
    assert_eq!(
        user.person.as_ref().and_then(|p| p.email.as_deref()),
        Some("ada@example.com")
    );
    assert_eq!(extras.duplicated_template_id.as_deref(), Some("t1"));
    assert_eq!(extras.request_id.as_deref(), Some("r1"));
    // A partial user.
    let body = r#"{"access_token":"ntn_1","bot_id":"b1","workspace_id":"w1","owner":{"type":"user","user":{"object":"user","id":"u2"}}}"#;
    let tokens = NotionClient::token_set(
        decode_token_response(&response(200, &[], body)).unwrap(),
        SystemTime::now(),
    );
    assert_eq!(tokens.grantee.user_id.as_deref(), Some("u2"));
}

/// (status, headers, body, code, kind, shape, request id)
#[test]
fn error_bodies() {
    type Case<'a> = (
        u16,
        &'a [(&'a str, &'a str)],
        &'a str,
        &'a str,
        ErrorKind,
        ErrorShape,
        Option<&'a str>,
    );
    let cases: &[Case<'_>] = &[
        (
            401,
            &[
                ("www-authenticate", "Basic realm=\"OAuth\""),
                ("x-notion-request-id", "r1"),
            ],
            r#"{"error":"invalid_client","request_id":"r1"}"#,
            "invalid_client",
            ErrorKind::Configuration,
            ErrorShape::OAuth,
            Some("r1"),
        ),
        (
            400,
            &[],
            r#"{"error":"invalid_grant","error_description":"Invalid code: this code has been revoked."}"#,
            "invalid_grant",
            ErrorKind::ReauthorizationRequired,
            ErrorShape::OAuth,
            None,
        ),
        (
            400,
            &[("x-notion-request-id", "hdr")],
            r#"{"object":"error","status":400,"code":"invalid_grant","message":"Invalid refresh token."}"#,
            "invalid_grant",
            ErrorKind::ReauthorizationRequired,
            ErrorShape::Envelope,
            Some("hdr"),
        ),
        (
            400,
            &[],
            r#"{"object":"error","status":400,"code":"missing_version","message":"Notion-Version header failed validation","request_id":"r2"}"#,
            "missing_version",
            ErrorKind::Configuration,
            ErrorShape::Envelope,
            Some("r2"),
        ),
        (
            400,
            &[],
            r#"{"object":"error","status":400,"code":"validation_error","message":"body failed validation: body.code should be defined"}"#,
            "validation_error",
            ErrorKind::InvalidRequest,
            ErrorShape::Envelope,
            None,
        ),
        (
            400,
            &[],
            r#"{"object":"error","status":400,"code":"invalid_json","message":"Error parsing JSON body."}"#,
            "invalid_json",
            ErrorKind::InvalidRequest,
            ErrorShape::Envelope,
            None,
        ),
        (
            400,
            &[],
            r#"{"object":"error","status":400,"code":"invalid_request_url","message":"Invalid request URL."}"#,
            "invalid_request_url",
            ErrorKind::InvalidRequest,
            ErrorShape::Envelope,
            None,
        ),
        (
            400,
            &[],
            r#"{"object":"error","status":400,"code":"unsupported_grant_type","message":"x"}"#,
            "unsupported_grant_type",
            ErrorKind::Configuration,
            ErrorShape::Envelope,
            None,
        ),
        (
            400,
            &[],
            r#"{"object":"error","status":400,"code":"unauthorized_client","message":"x"}"#,
            "unauthorized_client",
            ErrorKind::Configuration,
            ErrorShape::Envelope,
            None,
        ),
        (
            400,
            &[],
            r#"{"object":"error","status":400,"code":"invalid_request","message":"Unsupported request: x."}"#,
            "invalid_request",
            ErrorKind::InvalidRequest,
            ErrorShape::Envelope,
            None,
        ),
        (
            429,
            &[("retry-after", "3")],
            r#"{"object":"error","status":429,"code":"rate_limited","message":"slow down","additional_data":{"rate_limit_reason":"integration"}}"#,
            "rate_limited",
            ErrorKind::RateLimited,
            ErrorShape::Envelope,
            None,
        ),
        (
            529,
            &[("retry-after", "1")],
            r#"{"object":"error","status":529,"code":"service_overload","message":"x"}"#,
            "service_overload",
            ErrorKind::RateLimited,
            ErrorShape::Envelope,
            None,
        ),
        (
            500,
            &[],
            r#"{"object":"error","status":500,"code":"internal_server_error","message":"x"}"#,
            "internal_server_error",
            ErrorKind::Retryable,
            ErrorShape::Envelope,
            None,
        ),
        (
            503,
            &[],
            r#"{"object":"error","status":503,"code":"service_unavailable","message":"x"}"#,
            "service_unavailable",
            ErrorKind::Retryable,
            ErrorShape::Envelope,
            None,
        ),
        (
            503,
            &[],
            r#"{"object":"error","status":503,"code":"database_connection_unavailable","message":"x"}"#,
            "database_connection_unavailable",
            ErrorKind::Retryable,
            ErrorShape::Envelope,
            None,
        ),
        (
            504,
            &[],
            r#"{"object":"error","status":504,"code":"gateway_timeout","message":"x"}"#,
            "gateway_timeout",
            ErrorKind::Retryable,
            ErrorShape::Envelope,
            None,
        ),
        (
            409,
            &[],
            r#"{"object":"error","status":409,"code":"conflict_error","message":"x"}"#,
            "conflict_error",
            ErrorKind::Retryable,
            ErrorShape::Envelope,
            None,
        ),
        (
            403,
            &[],
            r#"{"object":"error","status":403,"code":"test_env_error","message":"x"}"#,
            "test_env_error",
            ErrorKind::InvalidRequest,
            ErrorShape::Envelope,
            None,
        ),
        (
            418,
            &[],
            r#"{"object":"error","status":418,"code":"teapot","message":"x"}"#,
            "teapot",
            ErrorKind::InvalidRequest,
            ErrorShape::Envelope,
            None,
        ),
        (
            503,
            &[],
            r#"{"error":"temporarily_unavailable"}"#,
            "temporarily_unavailable",
            ErrorKind::Retryable,
            ErrorShape::OAuth,
            None,
        ),
    ];
    for (status, headers, body, code, kind, shape, request_id) in cases {
        let error = decode_error("oauth/token", &response(*status, headers, body));
        let notion = notion_error(&error);
        assert_eq!(notion.code().as_str(), *code, "{body}");
        assert_eq!(error.kind(), *kind, "{body}");
        assert_eq!(notion.shape(), *shape, "{body}");
        assert_eq!(
            oauth_core::ProviderError::request_id(notion),
            *request_id,
            "{body}"
        );
        assert_eq!(error.http_status().map(|s| s.as_u16()), Some(*status));
        let message = error.to_string();
        assert!(
            message.contains(code) && message.contains(&status.to_string()),
            "{message}"
        );
    }
}

#[test]
fn error_details_are_kept() {
    let error = decode_error(
        "oauth/token",
        &response(
            429,
            &[("retry-after", "3")],
            r#"{"object":"error","status":429,"code":"rate_limited","message":"m","additional_data":{"rate_limit_reason":"workspace"}}"#,
        ),
    );
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    let notion = notion_error(&error);
    assert_eq!(
        notion.additional_data().unwrap()["rate_limit_reason"],
        "workspace"
    );
    assert_eq!(notion.message(), Some("m"));
    assert_eq!(notion.code(), &NotionErrorCode::RateLimited);
    let error = decode_error(
        "oauth/token",
        &response(
            401,
            &[("www-authenticate", "Basic realm=\"OAuth\"")],
            r#"{"error":"invalid_client"}"#,
        ),
    );
    assert_eq!(
        notion_error(&error).www_authenticate(),
        Some("Basic realm=\"OAuth\"")
    );
    assert!(
        error.to_string().contains("client id and client secret"),
        "{error}"
    );
}

#[test]
fn bodies_that_are_not_notions_are_undecodable_with_their_status() {
    for (status, content_type, body) in [
        (
            502,
            "text/html",
            "<html><body>502 Bad Gateway</body></html>",
        ),
        (500, "application/json", ""),
        (400, "application/json", r#"{"object":"error"}"#),
        (400, "application/json", r#"{"code":"#),
        (200, "application/json", r#"{"access_token": 5}"#),
        (200, "application/json", r#"{"access_token":"ntn_"#),
        (200, "text/html", "<html>"),
        (200, "application/json", ""),
    ] {
        let result =
            decode_token_response(&response(status, &[("content-type", content_type)], body));
        match result {
            Err(Error::UndecodableResponse(r)) => {
                assert_eq!(r.status.as_u16(), status, "{body}");
                assert_eq!(r.content_type.as_deref(), Some(content_type));
            }
            other => panic!("{status} {body:?}: {other:?}"),
        }
    }
}

#[test]
fn introspect_and_revoke_bodies() {
    let active = decode_introspect_response(&response(200, &[], r#"{"active":true,"scope":"read_content update_content","iat":1760000000,"request_id":"r"}"#)).unwrap();
    let info = NotionClient::token_info(active);
    assert!(info.active);
    assert_eq!(info.scopes.as_slice(), ["read_content", "update_content"]);
    assert_eq!(
        info.issued_at,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_760_000_000))
    );
    let inactive = NotionClient::token_info(
        decode_introspect_response(&response(200, &[], r#"{"active":false}"#)).unwrap(),
    );
    assert!(!inactive.active);
    assert!(inactive.scopes.is_empty());
    let odd = NotionClient::token_info(
        decode_introspect_response(&response(200, &[], r#"{"active":true,"iat":-5}"#)).unwrap(),
    );
    assert_eq!(odd.issued_at, None);
    assert!(
        decode_introspect_response(&response(200, &[], r#"{"scope":"x"}"#)).is_err(),
        "active is required"
    );

    assert_eq!(
        decode_revoke_response(&response(200, &[], "{}"))
            .unwrap()
            .request_id,
        None
    );
    assert_eq!(
        decode_revoke_response(&response(200, &[], r#"{"request_id":"r"}"#))
            .unwrap()
            .request_id
            .as_deref(),
        Some("r")
    );
}

/// Owners of odd shapes: the grant decodes, and the grantee's user is the string at `user.id`
/// (`None` when there is none).
#[test]
fn odd_owners_decode_and_name_their_user() {
    let check = |owner: &str, user_id: Option<&str>| {
        let body = format!(
            r#"{{"access_token":"secret_a","bot_id":"b","workspace_id":"w","owner":{owner}}}"#
        );
        let decoded = decode_token_response(&response(200, &[], &body)).expect(&body);
        let tokens = NotionClient::token_set(decoded, SystemTime::UNIX_EPOCH);
        assert_eq!(tokens.grantee.user_id.as_deref(), user_id, "{owner}");
    };
    check("null", None);
    check(r#"{"type":"user","user":{"id":"u1","name":7}}"#, Some("u1"));
    check(r#"{"type":"user","user":"u1"}"#, None);
    check(r#"{"type":"bot","bot":{}}"#, None);
    check(r#"{"type":"user","user":null}"#, None);
    check(r#"{"type":"user","user":{"id":null}}"#, None);
    check(
        r#"{"type":"user","user":{"id":"u1","id":"u2"}}"#,
        Some("u2"),
    );
    check(
        r#"{"type":"user","user":{"id":"u1"},"user":{"id":"u2"}}"#,
        Some("u2"),
    );
    check(
        r#"{"type":"user","\u0075ser":{"\u0069d":"u\u0031"}}"#,
        Some("u1"),
    );
    check(r#"{"type":"workspace","workspace":true}"#, None);
    check("[]", None);
    check(r#""u1""#, None);
}

/// An owner nested deeper than serde_json builds a tree: the grant is kept, with its tokens. An
/// owner that is too deep is absent; a user owner with a member too deep (which it ignores) is
/// still read.
#[test]
fn an_owner_too_deep_for_a_tree_does_not_lose_the_grant() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for (owner, user_id) in [
        (deep.clone(), None),
        (
            format!(r#"{{"type":"user","user":{{"id":"u1","x":{deep}}}}}"#),
            Some("u1"),
        ),
    ] {
        let body = format!(r#"{{"access_token":"secret_a","refresh_token":"r","owner":{owner}}}"#);
        let decoded = decode_token_response(&response(200, &[], &body)).expect("a token response");
        assert_eq!(decoded.owner.is_some(), user_id.is_some());
        let tokens = NotionClient::token_set(decoded, SystemTime::UNIX_EPOCH);
        assert!(tokens.refresh_token.is_some());
        assert_eq!(tokens.grantee.user_id.as_deref(), user_id);
        assert_eq!(tokens.extras.get("owner").is_some(), user_id.is_some());
        assert_eq!(tokens.extras.is_empty(), user_id.is_none());
    }
}

#[test]
fn an_empty_access_token_is_undecodable_and_expires_in_is_honoured_and_clamped() {
    let empty = decode_token_response(&response(200, &[], r#"{"access_token":"","bot_id":"b"}"#));
    assert!(
        matches!(empty, Err(Error::UndecodableResponse(_))),
        "{empty:?}"
    );
    let blank = decode_token_response(&response(200, &[], r#"{"access_token":"  ","bot_id":"b"}"#));
    assert!(
        matches!(blank, Err(Error::UndecodableResponse(_))),
        "{blank:?}"
    );
    let issued = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
    let expiry = |expires_in: &str| {
        let body = format!(r#"{{"access_token":"ntn_1","bot_id":"b","expires_in":{expires_in}}}"#);
        let decoded = decode_token_response(&response(200, &[], &body)).unwrap();
        oauth_notion::NotionClient::token_set(decoded, issued).expires_at
    };
    let after = |secs: u64| Some(issued + std::time::Duration::from_secs(secs));
    assert_eq!(expiry("3600"), after(3_600), "honoured");
    assert_eq!(
        expiry("0"),
        after(0),
        "no lifetime: already expired, the next use refreshes"
    );
    assert_eq!(expiry("-5"), after(0));
    assert_eq!(
        expiry("1000000000000"),
        Some(issued + oauth_core::MAX_EXPIRES_IN),
        "clamped to ten years"
    );
    let none = decode_token_response(&response(200, &[], r#"{"access_token":"ntn_1"}"#)).unwrap();
    assert_eq!(
        oauth_notion::NotionClient::token_set(none, issued).expires_at,
        None
    );
}
