//! Authorization requests, PKCE, state stores and callbacks.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth_core::{
    AuthorizationRequest, CallbackError, CallbackParams, CallbackResponse, CsrfState, Error,
    ManualClock, MemoryStateStore, PendingAuthorization, PkceChallenge, PkceVerifier, ProviderId,
    ScopeSeparator, Scopes, StateStore, check_redirect_uri, verify_callback,
};
use url::Url;

#[test]
fn pkce_matches_rfc7636_appendix_b() {
    let verifier = PkceVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
    let challenge = verifier.challenge();
    assert_eq!(
        challenge.as_str(),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert_eq!(challenge.method(), "S256");
    assert!(challenge.verify(&verifier));
    assert!(!challenge.verify(&PkceVerifier::parse("x".repeat(43)).unwrap()));
}

#[test]
fn pkce_matches_slack_docs_example() {
    // docs.slack.dev "Using PKCE": verifier `secretpassword` (too short for RFC 7636, so built
    // without validation) gives this challenge.
    let challenge = PkceChallenge::s256(&PkceVerifier::new("secretpassword"));
    assert_eq!(
        challenge.as_str(),
        "ldMBaaWcQYtSATMV_IG8mf3wp7A6EW80arYoSW80ntU"
    );
}

#[test]
fn generated_verifiers_are_valid_and_distinct() {
    let a = PkceVerifier::generate().unwrap();
    let b = PkceVerifier::generate().unwrap();
    assert_ne!(a, b);
    for v in [&a, &b] {
        assert_eq!(v.expose_secret().len(), 43);
        PkceVerifier::parse(v.expose_secret()).unwrap();
    }
}

#[test]
fn verifier_validation() {
    for (input, ok) in [
        ("a".repeat(42), false),
        ("a".repeat(43), true),
        ("a".repeat(128), true),
        ("a".repeat(129), false),
        (format!("{}~._-", "A9".repeat(20)), true),
        (format!("{}+", "a".repeat(43)), false),
        (format!("{}é", "a".repeat(43)), false),
    ] {
        assert_eq!(PkceVerifier::parse(input.clone()).is_ok(), ok, "{input:?}");
    }
}

#[test]
fn csrf_states_carry_256_bits() {
    let states: Vec<_> = (0..100).map(|_| CsrfState::generate().unwrap()).collect();
    for s in &states {
        assert_eq!(s.as_str().len(), 43);
        assert!(
            s.as_str()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
    let distinct: std::collections::HashSet<_> =
        states.iter().map(|s| s.as_str().to_owned()).collect();
    assert_eq!(distinct.len(), states.len());
    assert!(states[0].matches(states[0].as_str()));
    assert!(!states[0].matches(states[1].as_str()));
}

fn endpoint() -> Url {
    Url::parse("https://provider.example/oauth/authorize").unwrap()
}

#[test]
fn authorization_url_carries_every_parameter_in_order() {
    let verifier = PkceVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
    let request = AuthorizationRequest::with_state(CsrfState::new("st"))
        .scopes(Scopes::parse("a b"))
        .redirect_uri("https://app.example/cb?x=1")
        .pkce_verifier(verifier)
        .param("team", "T1");
    let url = request
        .to_url(
            &endpoint(),
            &[("client_id", "c1"), ("response_type", "code")],
            "scope",
            ScopeSeparator::Comma,
            false,
        )
        .unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let expected = [
        ("client_id", "c1"),
        ("response_type", "code"),
        ("scope", "a,b"),
        ("redirect_uri", "https://app.example/cb?x=1"),
        ("state", "st"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
        ("team", "T1"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(pairs, expected);
    assert_eq!(url.path(), "/oauth/authorize");
}

#[test]
fn authorization_url_space_separator_and_no_empty_scope() {
    let request = AuthorizationRequest::with_state(CsrfState::new("st"))
        .scopes(Scopes::parse("openid,email"));
    let url = request
        .to_url(&endpoint(), &[], "scope", ScopeSeparator::Space, false)
        .unwrap();
    assert!(url.as_str().contains("scope=openid+email"), "{url}");
    let bare = AuthorizationRequest::with_state(CsrfState::new("st"));
    let url = bare
        .to_url(&endpoint(), &[], "scope", ScopeSeparator::Space, false)
        .unwrap();
    assert_eq!(url.query(), Some("state=st"));
}

#[test]
fn extra_params_cannot_shadow_provider_params() {
    for name in [
        "client_id",
        "state",
        "scope",
        "redirect_uri",
        "code_challenge",
        "owner",
    ] {
        let request = AuthorizationRequest::with_state(CsrfState::new("st")).param(name, "evil");
        let result = request.to_url(
            &endpoint(),
            &[("owner", "user")],
            "scope",
            ScopeSeparator::Space,
            false,
        );
        assert!(matches!(result, Err(Error::InvalidRequest(_))), "{name}");
    }
    // A later value replaces an earlier one.
    let request = AuthorizationRequest::with_state(CsrfState::new("st"))
        .param("team", "T1")
        .param("team", "T2");
    assert_eq!(request.extra_param("team"), Some("T2"));
}

/// Every redirect-URI rule of `to_url`: `None` builds, `Some(words)` is a configuration error
/// whose message holds `words`.
#[test]
fn authorization_url_checks_the_redirect_uri() {
    let cases: &[(&str, bool, Option<&str>)] = &[
        ("https://app.example/cb", false, None),
        ("https://app.example/cb?x=1", false, None),
        ("http://127.0.0.1:8765/cb", false, None),
        ("http://127.5.6.7/cb", false, None),
        ("http://[::1]:8765/cb", false, None),
        ("http://localhost:3000/cb", false, None),
        ("myapp://callback", false, None),
        ("com.example.app:/oauth2redirect", false, None),
        ("http://app.example/cb", true, None),
        ("http://app.example/cb", false, Some("plain http")),
        ("http://10.0.0.8/cb", false, Some("not a loopback host")),
        ("/oauth/callback", false, Some("not an absolute URL")),
        ("callback", true, Some("not an absolute URL")),
        ("", false, Some("is empty")),
        ("https://app.example/cb#done", false, Some("fragment")),
        ("https://app.example/cb#", true, Some("RFC 6749")),
        ("myapp://callback#x", false, Some("fragment")),
        ("localhost:3000/cb", false, Some("not a hierarchical URL")),
        ("https://app.example/cb\n", false, Some("whitespace")),
        (" https://app.example/cb", false, Some("whitespace")),
        ("https://app.example/c b", false, Some("whitespace")),
        ("https://[::1/cb", false, Some("not a valid URL")),
    ];
    for (redirect_uri, insecure, refused) in cases {
        let redirect_uri = redirect_uri.to_string();
        let request =
            AuthorizationRequest::with_state(CsrfState::new("st")).redirect_uri(&redirect_uri);
        let result = request.to_url(&endpoint(), &[], "scope", ScopeSeparator::Space, *insecure);
        match (refused, result) {
            (None, Ok(url)) => {
                let sent = url.query_pairs().find(|(k, _)| k == "redirect_uri");
                assert_eq!(
                    sent.map(|(_, v)| v.into_owned()),
                    Some(redirect_uri.clone())
                );
            }
            (Some(words), Err(Error::Configuration(message))) => {
                assert!(message.contains(words), "{redirect_uri:?}: {message}");
                assert!(message.contains("redirect URI"), "{message}");
            }
            (expected, got) => panic!(
                "{redirect_uri:?} (insecure {insecure}): expected refusal {expected:?}, got {got:?}"
            ),
        }
    }
    // A long one is quoted only in part.
    let long = format!("/{}", "a".repeat(5000));
    let message = check_redirect_uri(&long, false).unwrap_err().to_string();
    assert!(
        message.len() < 1000 && message.contains("more characters"),
        "{message}"
    );
}

fn callback_error(query: &str) -> CallbackError {
    match CallbackParams::parse(query) {
        Err(Error::InvalidCallback(e)) => e,
        other => panic!("{query:?}: expected a callback error, got {other:?}"),
    }
}

#[test]
fn callback_parsing_accepts_good_queries() {
    for (query, code, state) in [
        ("code=abc&state=xyz", "abc", Some("xyz")),
        ("?code=abc&state=xyz", "abc", Some("xyz")),
        ("state=xyz&code=a%2Fb+c", "a/b c", Some("xyz")),
        ("code=abc", "abc", None),
        ("code=abc&state=", "abc", None),
        ("code=abc&state=xyz&extra=1&&", "abc", Some("xyz")),
    ] {
        let params = CallbackParams::parse(query).unwrap();
        assert_eq!(params.state.as_deref(), state, "{query}");
        match params.response {
            CallbackResponse::Code(c) => assert_eq!(c.expose_secret(), code, "{query}"),
            other => panic!("{query}: {other:?}"),
        }
    }
}

#[test]
fn callback_parsing_reports_provider_errors() {
    let params =
        CallbackParams::parse("error=access_denied&error_description=The+user+said+no&state=xyz")
            .unwrap();
    match params.response {
        CallbackResponse::Error { error, description } => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("The user said no"));
        }
        other => panic!("{other:?}"),
    }
    // The error wins over a code.
    let params = CallbackParams::parse("error=invalid_scope&code=abc&state=xyz").unwrap();
    assert!(matches!(params.response, CallbackResponse::Error { .. }));
}

#[test]
fn callback_parsing_rejects_bad_queries() {
    assert_eq!(callback_error(""), CallbackError::MissingCode);
    assert_eq!(callback_error("state=xyz"), CallbackError::MissingCode);
    assert_eq!(
        callback_error("code=&state=xyz"),
        CallbackError::MissingCode
    );
    assert_eq!(
        callback_error("code=a&code=b&state=x"),
        CallbackError::DuplicateParameter("code".into())
    );
    assert_eq!(
        callback_error("code=a&state=x&state=y"),
        CallbackError::DuplicateParameter("state".into())
    );
    assert_eq!(
        callback_error("code=%ff%fe&state=x"),
        CallbackError::NotUtf8("code".into())
    );
    assert!(matches!(
        callback_error(&format!("code={}", "a".repeat(9000))),
        CallbackError::TooLong { .. }
    ));
}

fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn store_with_clock() -> (MemoryStateStore, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start()));
    (MemoryStateStore::new().with_clock(clock.clone()), clock)
}

async fn take_err(store: &MemoryStateStore, state: &str) -> CallbackError {
    match store.take(state).await {
        Err(Error::InvalidCallback(e)) => e,
        other => panic!("expected a state error, got {other:?}"),
    }
}

#[tokio::test]
async fn state_store_is_single_use() {
    let (store, _clock) = store_with_clock();
    let state = CsrfState::generate().unwrap();
    let mut pending = PendingAuthorization::new(start());
    pending.redirect_uri = Some("https://app.example/cb".into());
    store.save(&state, pending).await.unwrap();
    let taken = store.take(state.as_str()).await.unwrap();
    assert_eq!(
        taken.redirect_uri.as_deref(),
        Some("https://app.example/cb")
    );
    assert_eq!(
        take_err(&store, state.as_str()).await,
        CallbackError::ReplayedState
    );
}

#[tokio::test]
async fn state_store_rejects_unknown_and_missing() {
    let (store, _clock) = store_with_clock();
    let state = CsrfState::generate().unwrap();
    store
        .save(&state, PendingAuthorization::new(start()))
        .await
        .unwrap();
    assert_eq!(
        take_err(&store, "not-the-state").await,
        CallbackError::UnknownState
    );
    let mut almost = state.as_str().to_owned();
    almost.pop();
    assert_eq!(take_err(&store, &almost).await, CallbackError::UnknownState);
    assert_eq!(take_err(&store, "").await, CallbackError::MissingState);
    // The right one still works after wrong attempts.
    store.take(state.as_str()).await.unwrap();
}

#[tokio::test]
async fn state_store_expires_states() {
    let (store, clock) = store_with_clock();
    let early = CsrfState::generate().unwrap();
    let late = CsrfState::generate().unwrap();
    store
        .save(&early, PendingAuthorization::new(start()))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(599));
    store
        .save(&late, PendingAuthorization::new(clock_now(&clock)))
        .await
        .unwrap();
    store
        .take(early.as_str())
        .await
        .map(|_| ())
        .unwrap_or_else(|e| panic!("valid at 599s: {e}"));
    let other = CsrfState::generate().unwrap();
    store
        .save(&other, PendingAuthorization::new(clock_now(&clock)))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(600));
    assert_eq!(
        take_err(&store, late.as_str()).await,
        CallbackError::ExpiredState { ttl_secs: 600 }
    );
}

fn clock_now(clock: &ManualClock) -> SystemTime {
    use oauth_core::Clock as _;
    clock.now()
}

#[tokio::test]
async fn state_store_bounds_memory() {
    let store = MemoryStateStore::new().with_max_pending(3);
    let states: Vec<_> = (0..4).map(|_| CsrfState::generate().unwrap()).collect();
    for s in &states {
        store
            .save(s, PendingAuthorization::new(start()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(
        take_err(&store, states[0].as_str()).await,
        CallbackError::UnknownState,
        "oldest evicted"
    );
    for s in &states[1..] {
        store.take(s.as_str()).await.unwrap();
    }
}

#[tokio::test]
async fn verify_callback_end_to_end() {
    let store = MemoryStateStore::new();
    let request = AuthorizationRequest::new()
        .unwrap()
        .redirect_uri("https://app.example/cb")
        .with_pkce()
        .unwrap();
    let pending = PendingAuthorization::from_request(
        &request,
        ProviderId::from_static("slack"),
        SystemTime::now(),
    );
    store.save(request.state(), pending).await.unwrap();

    let query = format!("code=the-code&state={}", request.state().as_str());
    let verified = verify_callback(&query, &store).await.unwrap();
    assert_eq!(verified.code.expose_secret(), "the-code");
    assert_eq!(
        verified.pending.redirect_uri.as_deref(),
        Some("https://app.example/cb")
    );
    assert_eq!(verified.pending.pkce_verifier.as_ref(), request.verifier());
    let exchange = oauth_core::CodeExchange::from_callback(verified);
    assert_eq!(
        exchange.redirect_uri.as_deref(),
        Some("https://app.example/cb")
    );

    // Replayed.
    assert!(matches!(
        verify_callback(&query, &store).await,
        Err(Error::InvalidCallback(CallbackError::ReplayedState))
    ));
    // Missing state.
    assert!(matches!(
        verify_callback("code=x", &store).await,
        Err(Error::InvalidCallback(CallbackError::MissingState))
    ));
    // Wrong state.
    assert!(matches!(
        verify_callback("code=x&state=forged", &store).await,
        Err(Error::InvalidCallback(CallbackError::UnknownState))
    ));
}

#[tokio::test]
async fn denied_consent_is_a_typed_error_after_the_state_check() {
    let store = MemoryStateStore::new();
    let state = CsrfState::generate().unwrap();
    store
        .save(&state, PendingAuthorization::new(SystemTime::now()))
        .await
        .unwrap();
    let query = format!("error=access_denied&state={}", state.as_str());
    let error = verify_callback(&query, &store).await.unwrap_err();
    assert!(matches!(&error, Error::AuthorizationDenied { error, .. } if error == "access_denied"));
    assert_eq!(error.kind(), oauth_core::ErrorKind::AuthorizationDenied);
    // A forged denial with an unknown state is reported as a state problem.
    let error = verify_callback("error=access_denied&state=forged", &store)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), oauth_core::ErrorKind::InvalidCallback);
}

#[test]
fn long_callback_values_are_quoted_only_in_part() {
    let denied = Error::AuthorizationDenied {
        error: "e".repeat(1000),
        description: Some("d".repeat(7000)),
    };
    let message = denied.to_string();
    assert!(message.contains(&"e".repeat(oauth_core::MAX_QUOTED_ERROR_CODE)));
    assert!(message.contains(&"d".repeat(oauth_core::MAX_QUOTED_DESCRIPTION)));
    assert!(message.contains("(936 more characters)"), "{message}");
    assert!(message.contains("(6700 more characters)"), "{message}");
    assert!(message.len() < 600, "{} bytes", message.len());
    let short = Error::AuthorizationDenied {
        error: "access_denied".into(),
        description: Some("The user cancelled".into()),
    };
    assert!(
        short
            .to_string()
            .starts_with("authorization refused: `access_denied`: The user cancelled ("),
        "{short}"
    );
    let repeated = CallbackError::DuplicateParameter("n".repeat(500)).to_string();
    assert!(repeated.contains("(436 more characters)"), "{repeated}");
}
