//! Property tests: scope parsing, expiry arithmetic, authorization URL building and callback
//! parsing hold for arbitrary inputs, and never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, SystemTime};

use oauth_core::{
    AccessToken, AuthorizationRequest, CallbackParams, CsrfState, ErrorKind, ProviderId,
    ScopeSeparator, Scopes, TokenSet, check_redirect_uri, expiry_from,
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;

fn scope() -> impl Strategy<Value = String> {
    "[a-z][a-z:._-]{0,15}"
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(","),
        Just(" "),
        Just(", "),
        Just(" ,"),
        Just("\t"),
        Just(",,"),
        Just("\n")
    ]
}

proptest! {
    #[test]
    fn scopes_survive_any_separators(scopes in prop::collection::vec(scope(), 0..12), seps in prop::collection::vec(separator(), 12)) {
        let mut joined = String::new();
        for (i, s) in scopes.iter().enumerate() {
            joined.push_str(s);
            joined.push_str(seps[i % seps.len()]);
        }
        let parsed = Scopes::parse(&joined);
        let mut expected: Vec<String> = Vec::new();
        for s in &scopes {
            if !expected.contains(s) {
                expected.push(s.clone());
            }
        }
        prop_assert_eq!(parsed.as_slice(), expected.as_slice());
        prop_assert_eq!(Scopes::parse(&parsed.join(",")), parsed.clone());
        prop_assert_eq!(Scopes::parse(&parsed.join(" ")), parsed);
    }

    #[test]
    fn scope_parsing_never_panics_nor_keeps_blanks(input in any::<String>()) {
        for scope in Scopes::parse(&input).iter() {
            prop_assert!(!scope.is_empty());
            prop_assert!(!scope.contains(',') && !scope.chars().any(char::is_whitespace));
        }
    }

    #[test]
    fn parsing_and_inserting_one_by_one_agree(input in any::<String>(), padded in prop::collection::vec(("[ \t]{0,2}", scope(), "[ \t]{0,2}"), 0..6)) {
        // `parse` copies each piece once; `insert` trims and drops repeats: the same set.
        let mut inserted = Scopes::new();
        for piece in input.split(|c: char| c == ',' || c.is_whitespace()) {
            inserted.insert(piece);
        }
        prop_assert_eq!(Scopes::parse(&input), inserted);
        // Owned strings with whitespace around them are trimmed on insert.
        let mut trimmed = Scopes::new();
        for (before, scope, after) in &padded {
            trimmed.insert(format!("{before}{scope}{after}"));
        }
        let bare: Vec<&str> = padded.iter().map(|(_, scope, _)| scope.as_str()).collect();
        prop_assert_eq!(trimmed, Scopes::parse(&bare.join(",")));
    }

    #[test]
    fn expiry_is_receipt_plus_expires_in(issued_secs in 0u64..4_000_000_000, expires_in in any::<i64>()) {
        let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(issued_secs);
        let at = expiry_from(issued, expires_in);
        let lifetime = at.map(|at| at.duration_since(issued).unwrap());
        let expected = match u64::try_from(expires_in) {
            Ok(secs) => Duration::from_secs(secs).min(oauth_core::MAX_EXPIRES_IN),
            Err(_) => Duration::ZERO,
        };
        prop_assert_eq!(lifetime, Some(expected), "clamped to [0, ten years], never `None`");
    }

    #[test]
    fn expiry_checks_are_consistent(expires_in in -10i64..100_000, now_offset in 0u64..200_000, margin_a in 0u64..100_000, margin_b in 0u64..100_000) {
        let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut tokens = TokenSet::builder(ProviderId::from_static("p"), AccessToken::new("a")).issued_at(issued).build();
        tokens.set_expires_in(expires_in);
        let now = issued + Duration::from_secs(now_offset);
        let (small, large) = (Duration::from_secs(margin_a.min(margin_b)), Duration::from_secs(margin_a.max(margin_b)));
        // A larger margin is never less cautious; an expired token is within every margin.
        prop_assert!(!tokens.expires_within(small, now) || tokens.expires_within(large, now));
        prop_assert!(!tokens.is_expired(now) || tokens.expires_within(Duration::ZERO, now));
        prop_assert_eq!(tokens.is_expired(now), tokens.remaining(now) == Some(Duration::ZERO));
    }

    #[test]
    fn authorization_urls_round_trip_every_value(
        scopes in prop::collection::vec(scope(), 0..5),
        redirect in any::<String>(),
        state in "[A-Za-z0-9_-]{1,64}",
        extra in prop::collection::vec(("[a-z]{1,8}", any::<String>()), 0..4),
        comma in any::<bool>(),
    ) {
        // Any value, carried in the redirect URI's own query (a redirect URI itself must be a
        // valid absolute URL: see the next property).
        let redirect = format!("https://app.example/cb?next={}", utf8_percent_encode(&redirect, NON_ALPHANUMERIC));
        let mut request = AuthorizationRequest::with_state(CsrfState::new(state.clone()))
            .scopes(Scopes::parse(&scopes.join(",")))
            .redirect_uri(redirect.clone());
        let reserved = ["client_id", "response_type", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"];
        let extra: Vec<(String, String)> = extra.into_iter().filter(|(k, _)| !reserved.contains(&k.as_str())).collect();
        for (k, v) in &extra {
            request = request.param(k.clone(), v.clone());
        }
        let separator = if comma { ScopeSeparator::Comma } else { ScopeSeparator::Space };
        let endpoint = url::Url::parse("https://provider.example/authorize").unwrap();
        let url = request.to_url(&endpoint, &[("client_id", "c")], "scope", separator, false).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        prop_assert_eq!(get("client_id"), Some("c".to_owned()));
        prop_assert_eq!(get("state"), Some(state));
        prop_assert_eq!(get("redirect_uri"), Some(redirect));
        let parsed = get("scope").map(|s| Scopes::parse(&s)).unwrap_or_default();
        prop_assert_eq!(parsed, Scopes::parse(&scopes.join(",")));
        // Extras keep their last value per name.
        for (k, _) in &extra {
            let expected = request.extra_param(k).map(str::to_owned);
            prop_assert_eq!(get(k), expected);
        }
    }

    #[test]
    fn any_redirect_uri_is_sent_verbatim_or_refused_as_configuration(redirect in any::<String>(), insecure in any::<bool>()) {
        let request = AuthorizationRequest::with_state(CsrfState::new("st")).redirect_uri(redirect.clone());
        let endpoint = url::Url::parse("https://provider.example/authorize").unwrap();
        match request.to_url(&endpoint, &[], "scope", ScopeSeparator::Space, insecure) {
            Ok(url) => {
                prop_assert!(check_redirect_uri(&redirect, insecure).is_ok());
                let sent = url.query_pairs().find(|(k, _)| k == "redirect_uri").map(|(_, v)| v.into_owned());
                prop_assert_eq!(sent, Some(redirect));
            }
            Err(error) => prop_assert_eq!(error.kind(), ErrorKind::Configuration),
        }
    }

    #[test]
    fn callback_parsing_never_panics(query in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = CallbackParams::parse(&query);
        let encoded: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
        let _ = CallbackParams::parse(&format!("code={encoded}&state={encoded}"));
    }
}
