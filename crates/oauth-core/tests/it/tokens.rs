//! Token sets, token types, scopes and provider extras.

use std::time::{Duration, SystemTime};

use oauth_core::{
    AccessToken, ExposeSecrets, Grantee, ProviderId, RefreshToken, Scopes, TokenInfo, TokenSet,
    TokenType, expiry_from,
};

fn check_scopes(input: &str, expected: &[&str]) {
    assert_eq!(Scopes::parse(input).as_slice(), expected, "input {input:?}");
}

#[test]
fn scope_lists_parse_with_commas_spaces_or_both() {
    check_scopes("", &[]);
    check_scopes("chat:write", &["chat:write"]);
    check_scopes("chat:write,commands", &["chat:write", "commands"]);
    check_scopes("openid email profile", &["openid", "email", "profile"]);
    check_scopes("a, b ,c", &["a", "b", "c"]);
    check_scopes(" ,, a\t\nb ,", &["a", "b"]);
    check_scopes("a,a b a", &["a", "b"]);
    check_scopes(
        "read_content update_content",
        &["read_content", "update_content"],
    );
}

#[test]
fn scopes_join_and_compare() {
    let scopes = Scopes::parse("chat:write,commands");
    assert_eq!(scopes.join(","), "chat:write,commands");
    assert_eq!(scopes.to_string(), "chat:write commands");
    assert!(scopes.contains("commands"));
    assert!(!scopes.contains("command"));
    assert!(scopes.contains_all(&Scopes::parse("commands")));
    assert!(!scopes.contains_all(&Scopes::parse("commands users:read")));
}

#[test]
fn scopes_deserialize_from_string_list_or_null() {
    for (json, expected) in [
        (r#""a,b""#, vec!["a", "b"]),
        (r#""a b""#, vec!["a", "b"]),
        (r#"["a","b","a"]"#, vec!["a", "b"]),
        ("null", vec![]),
    ] {
        let scopes: Scopes = serde_json::from_str(json).unwrap();
        assert_eq!(scopes.as_slice(), expected.as_slice(), "{json}");
    }
}

#[test]
fn token_types_parse_leniently() {
    for (input, expected) in [
        ("bearer", TokenType::Bearer),
        ("Bearer", TokenType::Bearer),
        ("BEARER", TokenType::Bearer),
        ("bot", TokenType::Bot),
        ("granular_bot", TokenType::Bot),
        ("user", TokenType::User),
        ("app", TokenType::Other("app".into())),
    ] {
        assert_eq!(TokenType::parse(input), expected, "{input}");
    }
}

const T0: SystemTime = SystemTime::UNIX_EPOCH;

fn at(secs: u64) -> SystemTime {
    T0 + Duration::from_secs(secs)
}

#[test]
fn expiry_is_absolute_from_receipt() {
    assert_eq!(expiry_from(at(1000), 43_200), Some(at(44_200)));
    assert_eq!(expiry_from(at(1000), 0), Some(at(1000)));
    assert_eq!(
        expiry_from(at(1000), -5),
        Some(at(1000)),
        "negative means already expired"
    );
    assert_eq!(
        expiry_from(at(1000), i64::MAX),
        Some(at(1000) + oauth_core::MAX_EXPIRES_IN),
        "more than ten years is clamped to ten years"
    );
}

#[test]
fn expiry_checks() {
    let mut tokens = TokenSet::builder(ProviderId::from_static("slack"), AccessToken::new("a"))
        .token_type(TokenType::Bot)
        .issued_at(at(1000))
        .build();
    // Without expiry: never expired, never "within".
    assert!(!tokens.is_expired(at(u32::MAX as u64)));
    assert!(!tokens.expires_within(Duration::from_secs(1 << 40), at(0)));
    assert_eq!(tokens.remaining(at(0)), None);

    tokens.set_expires_in(100);
    assert_eq!(tokens.expires_at, Some(at(1100)));
    // (now, margin, expired?, within margin?)
    for (now, margin, expired, within) in [
        (1000, 0, false, false),
        (1099, 0, false, false),
        (1100, 0, true, true),
        (1200, 0, true, true),
        (1050, 49, false, false),
        (1050, 50, false, true),
        (1050, u64::MAX / 4, false, true),
    ] {
        assert_eq!(tokens.is_expired(at(now)), expired, "is_expired at {now}");
        assert_eq!(
            tokens.expires_within(Duration::from_secs(margin), at(now)),
            within,
            "within {margin} at {now}"
        );
    }
    assert_eq!(tokens.remaining(at(1090)), Some(Duration::from_secs(10)));
    assert_eq!(tokens.remaining(at(2000)), Some(Duration::ZERO));
}

#[test]
fn token_set_round_trips_through_the_explicit_store_path() {
    let mut tokens = TokenSet::builder(
        ProviderId::from_static("slack"),
        AccessToken::new("xoxe.xoxb-1-secret"),
    )
    .token_type(TokenType::Bot)
    .issued_at(at(1000))
    .build();
    tokens.refresh_token = Some(RefreshToken::new("xoxe-1-refresh"));
    tokens.set_expires_in(43_200);
    tokens.scopes = Scopes::parse("chat:write,commands");
    let mut grantee = Grantee::new();
    grantee.workspace_id = Some("T1".into());
    grantee.bot_id = Some("B1".into());
    tokens.grantee = grantee;
    tokens.extras.insert("app_id", serde_json::json!("A1"));

    let stored = serde_json::to_string(&ExposeSecrets(&tokens)).unwrap();
    assert!(
        stored.contains("xoxe.xoxb-1-secret"),
        "the store path exposes secrets on purpose"
    );
    let loaded: TokenSet = serde_json::from_str(&stored).unwrap();
    assert_eq!(loaded, tokens);
}

#[test]
fn token_info_constructors() {
    let info = TokenInfo::inactive(Some("token_revoked".into()));
    assert!(!info.active);
    assert_eq!(info.inactive_reason.as_deref(), Some("token_revoked"));
    assert!(TokenInfo::active().active);
}

#[test]
fn extras_treat_null_as_absent() {
    let mut extras = oauth_core::ProviderExtras::new();
    extras.insert("a", serde_json::Value::Null);
    extras.insert("b", serde_json::json!({"id": "T1"}));
    assert!(extras.get("a").is_none());
    #[derive(serde::Deserialize, PartialEq, Debug)]
    struct Team {
        id: String,
    }
    assert_eq!(extras.get_as::<Team>("b"), Some(Team { id: "T1".into() }));
    assert_eq!(format!("{extras:?}"), r#"{"b"}"#, "Debug shows keys only");
}

#[test]
fn extras_read_the_same_whether_set_as_values_or_as_text() {
    use oauth_core::ProviderExtras;
    use serde_json::json;
    use serde_json::value::RawValue;
    let text = |json: &str| -> Box<RawValue> { serde_json::from_str(json).expect("JSON") };

    let mut lazy = ProviderExtras::new();
    assert!(lazy.is_empty());
    lazy.insert_json("owner", text(r#"{"type": "user", "user": {"id": "u1"}}"#));
    lazy.insert_json("gone", text(" null "));
    lazy.insert("app_id", json!("A0"));
    lazy.insert("app_id", json!("A1"));
    lazy.insert("app_id", serde_json::Value::Null);
    assert!(!lazy.is_empty());

    let mut built = ProviderExtras::new();
    built.insert("owner", json!({"type": "user", "user": {"id": "u1"}}));
    built.insert("app_id", json!("A1"));
    assert_eq!(lazy, built, "the last value of a key wins; null is skipped");
    assert_eq!(
        lazy.get("owner"),
        Some(&json!({"type": "user", "user": {"id": "u1"}}))
    );
    assert!(lazy.get("gone").is_none());
    assert_eq!(format!("{lazy:?}"), r#"{"app_id", "owner"}"#);

    // Set after the first read: the read object takes it.
    lazy.insert_json("owner", text(r#"{"type": "workspace"}"#));
    lazy.insert_serialized("n", &7);
    assert_eq!(lazy.get("owner"), Some(&json!({"type": "workspace"})));
    assert_eq!(lazy.get_as::<u32>("n"), Some(7));
    // A clone made after the first read reads the same.
    let copy = lazy.clone();
    assert_eq!(copy, lazy);
    assert_eq!(copy.get("owner"), Some(&json!({"type": "workspace"})));
    assert_eq!(format!("{copy:?}"), r#"{"app_id", "n", "owner"}"#);

    // A clone made before the first read reads the same; serialization round-trips.
    let mut unread = ProviderExtras::new();
    unread.insert_json("owner", text(r#"{"type": "workspace"}"#));
    let copy = unread.clone();
    assert_eq!(
        serde_json::to_value(&copy).expect("serializes"),
        json!({"owner": {"type": "workspace"}})
    );
    let back: ProviderExtras =
        serde_json::from_value(serde_json::to_value(&unread).expect("serializes")).expect("reads");
    assert_eq!(back, unread);
    assert!(ProviderExtras::new() == serde_json::from_str("{}").expect("reads"));

    // Text nested deeper than a JSON tree may be reads as absent.
    let mut deep = ProviderExtras::new();
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
    deep.insert_json("owner", text(&nested));
    assert!(deep.is_empty());
    assert!(deep.get("owner").is_none());
    assert_eq!(deep, ProviderExtras::new());
}
