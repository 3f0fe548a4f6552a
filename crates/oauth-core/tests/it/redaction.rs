//! No secret reaches `Debug`, `Display` or an error message.

use std::time::SystemTime;

use bytes::Bytes;
use oauth_core::http::{decode_json, json_error_reason, undecodable};
use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, CallbackParams, ClientSecret,
    CodeExchange, CsrfState, ExposeSecrets, PendingAuthorization, PkceVerifier, ProviderId,
    RefreshToken, TokenSet, TokenType, verify_callback,
};

const ACCESS: &str = "xoxe.xoxb-1-ACCESSSECRET";
const REFRESH: &str = "xoxe-1-REFRESHSECRET";
const CLIENT_SECRET: &str = "CLIENTSECRET0123";
const CODE: &str = "CODESECRET.0123";
const VERIFIER: &str = "VERIFIERSECRETVERIFIERSECRETVERIFIERSECRET0123";
const STATE: &str = "STATESECRET";
const ALL: [&str; 6] = [ACCESS, REFRESH, CLIENT_SECRET, CODE, VERIFIER, STATE];

fn assert_clean(what: &str, text: &str) {
    for secret in ALL {
        assert!(!text.contains(secret), "{what} shows {secret}: {text}");
    }
}

#[test]
fn secret_newtypes_are_redacted() {
    assert_eq!(
        format!("{:?}", AccessToken::new(ACCESS)),
        "AccessToken([redacted])"
    );
    assert_eq!(
        format!("{:?}", RefreshToken::new(REFRESH)),
        "RefreshToken([redacted])"
    );
    assert_eq!(
        format!("{:?}", ClientSecret::new(CLIENT_SECRET)),
        "ClientSecret([redacted])"
    );
    assert_eq!(
        format!("{:?}", AuthorizationCode::new(CODE)),
        "AuthorizationCode([redacted])"
    );
    assert_eq!(
        format!("{:?}", PkceVerifier::new(VERIFIER)),
        "PkceVerifier([redacted])"
    );
    assert_eq!(
        format!("{:?}", CsrfState::new(STATE)),
        "CsrfState([redacted])"
    );
    assert_eq!(
        format!("{:#?}", AccessToken::new(ACCESS)),
        "AccessToken([redacted])"
    );
    assert_eq!(
        format!("{:?}", ExposeSecrets(&AccessToken::new(ACCESS))),
        "ExposeSecrets([redacted])"
    );
    // Still readable on purpose, and comparable.
    assert_eq!(AccessToken::new(ACCESS).expose_secret(), ACCESS);
    assert_eq!(AccessToken::new(ACCESS), AccessToken::new(ACCESS));
    assert_ne!(AccessToken::new(ACCESS), AccessToken::new(REFRESH));
    let fingerprint = AccessToken::new(ACCESS).fingerprint();
    assert_eq!(fingerprint.len(), 8);
    assert_clean("fingerprint", &fingerprint);
}

#[test]
fn secret_newtypes_deserialize_but_do_not_serialize_implicitly() {
    let token: AccessToken = serde_json::from_str(&format!("\"{ACCESS}\"")).unwrap();
    assert_eq!(token.expose_secret(), ACCESS);
    // Serialization needs the named wrapper.
    assert_eq!(
        serde_json::to_string(&ExposeSecrets(&token)).unwrap(),
        format!("\"{ACCESS}\"")
    );
    assert_eq!(
        serde_json::to_string(&ExposeSecrets(&Some(RefreshToken::new(REFRESH)))).unwrap(),
        format!("\"{REFRESH}\"")
    );
    assert_eq!(
        serde_json::to_string(&ExposeSecrets(&None::<RefreshToken>)).unwrap(),
        "null"
    );
}

#[tokio::test]
async fn composite_types_are_redacted() {
    let mut tokens = TokenSet::builder(ProviderId::from_static("slack"), AccessToken::new(ACCESS))
        .token_type(TokenType::Bot)
        .issued_at(SystemTime::now())
        .build();
    tokens.refresh_token = Some(RefreshToken::new(REFRESH));
    tokens.set_expires_in(43_200);
    assert_clean("TokenSet", &format!("{tokens:?} {tokens:#?}"));

    let exchange = CodeExchange::new(AuthorizationCode::new(CODE))
        .redirect_uri("https://app.example/cb")
        .pkce_verifier(PkceVerifier::new(VERIFIER));
    assert_clean("CodeExchange", &format!("{exchange:?}"));

    let request = AuthorizationRequest::with_state(CsrfState::new(STATE))
        .pkce_verifier(PkceVerifier::new(VERIFIER));
    assert_clean("AuthorizationRequest", &format!("{request:?}"));
    let pending = PendingAuthorization::from_request(
        &request,
        ProviderId::from_static("slack"),
        SystemTime::now(),
    );
    assert_clean("PendingAuthorization", &format!("{pending:?}"));

    let params = CallbackParams::parse(&format!("code={CODE}&state={STATE}")).unwrap();
    // The state is not secret once it is in a URL, but the code is.
    assert!(!format!("{params:?}").contains(CODE));

    let store = oauth_core::MemoryStateStore::new();
    store_save(&store, pending).await;
    let verified = verify_callback(&format!("code={CODE}&state={STATE}"), &store)
        .await
        .unwrap();
    assert_clean("VerifiedCallback", &format!("{verified:?}"));
    assert_clean("MemoryStateStore", &format!("{store:?}"));
}

async fn store_save(store: &oauth_core::MemoryStateStore, pending: PendingAuthorization) {
    use oauth_core::StateStore as _;
    store.save(&CsrfState::new(STATE), pending).await.unwrap();
}

#[test]
fn undecodable_responses_mask_secrets_in_their_snippet() {
    let body = format!(
        r#"{{"ok":true,"access_token":"{ACCESS}","refresh_token":"{REFRESH}","expires_in":"soon"}}"#
    );
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Bytes::from(body))
        .unwrap();
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Shape {
        access_token: String,
        expires_in: u64,
    }
    let error = decode_json::<Shape>(
        &ProviderId::from_static("slack"),
        "oauth.v2.access",
        &response,
    )
    .unwrap_err();
    let shown = format!("{error} {error:?}");
    assert_clean("undecodable error", &shown);
    assert!(shown.contains("HTTP 200"), "{shown}");
    assert!(shown.contains("application/json"), "{shown}");

    let html = http::Response::builder()
        .status(502)
        .header("content-type", "text/html")
        .body(Bytes::from_static(
            b"<html><title>502 Bad Gateway</title></html>",
        ))
        .unwrap();
    let error = undecodable(
        &ProviderId::from_static("notion"),
        "token",
        &html,
        "not JSON",
    );
    assert!(error.is_retryable(), "an outage page is worth retrying");
    assert!(error.to_string().contains("502 Bad Gateway"), "{error}");
}

#[test]
fn json_error_reasons_never_quote_values() {
    let error = serde_json::from_str::<bool>(&format!("\"{ACCESS}\"")).unwrap_err();
    assert!(
        error.to_string().contains(ACCESS),
        "serde itself quotes the value"
    );
    assert_clean("json_error_reason", &json_error_reason(&error));
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    enum Kind {
        A,
    }
    let error = serde_json::from_str::<Kind>(&format!("\"{ACCESS}\"")).unwrap_err();
    assert_clean("json_error_reason", &json_error_reason(&error));
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Needs {
        access_token: String,
    }
    let error = serde_json::from_str::<Needs>("{}").unwrap_err();
    assert!(json_error_reason(&error).contains("missing field `access_token`"));
}

#[test]
fn authorization_headers_are_correct_and_sensitive() {
    use oauth_core::http::{basic_auth, bearer_auth};
    // RFC 7617 §2 example.
    let basic = basic_auth("Aladdin", &ClientSecret::new("open sesame")).unwrap();
    assert_eq!(
        basic.to_str().unwrap(),
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    assert!(basic.is_sensitive());
    assert_eq!(format!("{basic:?}"), "Sensitive");
    let bearer = bearer_auth(&AccessToken::new(ACCESS)).unwrap();
    assert_eq!(bearer.to_str().unwrap(), format!("Bearer {ACCESS}"));
    assert_eq!(format!("{bearer:?}"), "Sensitive");
    assert!(bearer_auth(&AccessToken::new("bad\ntoken")).is_err());
}
