//! Provider configuration from code, environment and TOML, built into `Arc<dyn TokenProvider>`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;

use oauth_facade::{AuthorizationRequest, ErrorKind, ProviderConfig, ProviderKind};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn from_environment() {
    let config = ProviderConfig::from_lookup(
        ProviderKind::Slack,
        env(&[
            ("SLACK_CLIENT_ID", "1.2"),
            ("SLACK_CLIENT_SECRET", "shh-secret"),
            ("SLACK_REDIRECT_URI", "https://e.example/cb"),
        ]),
    )
    .unwrap();
    assert!(!format!("{config:?}").contains("shh-secret"));
    let provider = config.build().unwrap();
    assert_eq!(provider.provider_id().as_str(), "slack");
    let request = AuthorizationRequest::new()
        .unwrap()
        .scopes(oauth_facade::Scopes::parse("chat:write"));
    let url = provider.authorization_url(&request).unwrap();
    assert!(
        url.as_str()
            .starts_with("https://slack.com/oauth/v2/authorize?"),
        "{url}"
    );

    let missing = ProviderConfig::from_lookup(ProviderKind::Notion, env(&[])).unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::Configuration);
    assert!(missing.to_string().contains("NOTION_CLIENT_ID"));
    let no_secret =
        ProviderConfig::from_lookup(ProviderKind::Notion, env(&[("NOTION_CLIENT_ID", "abc")]))
            .unwrap()
            .build()
            .unwrap_err();
    assert!(no_secret.to_string().contains("NOTION_CLIENT_SECRET"));
}

#[test]
fn insecure_http_from_environment() {
    let vars = |allow: Option<&str>| {
        let mut pairs = vec![
            ("NOTION_CLIENT_ID", "abc"),
            ("NOTION_CLIENT_SECRET", "secret_x"),
            ("NOTION_BASE_URL", "http://notion-proxy.internal:8080"),
        ];
        if let Some(allow) = allow {
            pairs.push(("NOTION_ALLOW_INSECURE_HTTP", allow));
        }
        ProviderConfig::from_lookup(ProviderKind::Notion, env(&pairs))
    };
    // Plain http off loopback is refused unless the variable allows it.
    for refused in [None, Some("false"), Some("0"), Some("no"), Some("")] {
        let config = vars(refused).unwrap();
        assert!(!config.allow_insecure_http, "{refused:?}");
        let error = config.build().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration, "{refused:?}");
    }
    for allowed in ["true", "1", "yes", "TRUE", " Yes "] {
        let config = vars(Some(allowed)).unwrap();
        assert!(config.allow_insecure_http, "{allowed}");
        config.build().unwrap();
    }
    let error = vars(Some("maybe")).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration);
    assert!(
        error.to_string().contains("NOTION_ALLOW_INSECURE_HTTP"),
        "{error}"
    );
}

#[test]
fn from_toml() {
    let text = r#"
        [notion]
        client_id = "463558a3-725e-4f37-b6d3-0889894f68de"
        client_secret = "secret_toml"
        redirect_uri = "https://e.example/notion"
        base_url = "http://127.0.0.1:8787"
        notion_version = "2026-03-11"

        [slack]
        client_id = "1.2"
    "#;
    let notion = ProviderConfig::from_toml_str(text, ProviderKind::Notion).unwrap();
    assert_eq!(notion.kind, ProviderKind::Notion);
    let provider = notion.build().unwrap();
    let url = provider
        .authorization_url(&AuthorizationRequest::new().unwrap())
        .unwrap();
    assert!(
        url.as_str()
            .starts_with("http://127.0.0.1:8787/v1/oauth/authorize?"),
        "{url}"
    );
    // A Slack app without a secret is a public PKCE client.
    ProviderConfig::from_toml_str(text, ProviderKind::Slack)
        .unwrap()
        .build()
        .unwrap();

    let bad = ProviderConfig::from_toml_str(
        "[notion]\nclient_secret = \"secret_in_broken_toml",
        ProviderKind::Notion,
    )
    .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::Configuration);
    assert!(!bad.to_string().contains("secret_in_broken_toml"), "{bad}");
    let absent =
        ProviderConfig::from_toml_str("[slack]\nclient_id = \"1.2\"", ProviderKind::Notion)
            .unwrap_err();
    assert!(absent.to_string().contains("[notion]"));
    assert!("teams".parse::<ProviderKind>().is_err());
    assert_eq!(
        "Slack".parse::<ProviderKind>().unwrap(),
        ProviderKind::Slack
    );
}

#[test]
fn insecure_endpoints_are_refused_unless_allowed() {
    let config = ProviderConfig::new(ProviderKind::Notion, "id")
        .client_secret("s")
        .base_url("http://notion.internal");
    assert_eq!(config.build().unwrap_err().kind(), ErrorKind::Configuration);
    let mut allowed = config;
    allowed.allow_insecure_http = true;
    allowed.build().unwrap();
}

#[test]
fn the_concrete_clients_are_reachable_with_the_configuration_applied() {
    let slack = ProviderConfig::new(ProviderKind::Slack, "1.2")
        .client_secret("shh-secret")
        .base_url("http://127.0.0.1:9/api/")
        .authorize_base_url("http://127.0.0.1:9/");
    let client = slack.slack_builder().unwrap().build().unwrap();
    assert_eq!(client.base_url().as_str(), "http://127.0.0.1:9/api/");
    assert_eq!(client.authorize_base_url().as_str(), "http://127.0.0.1:9/");

    let notion = ProviderConfig::new(ProviderKind::Notion, "n-1")
        .client_secret("secret_notion")
        .base_url("http://127.0.0.1:9");
    let client = notion.notion_builder().unwrap().build().unwrap();
    assert_eq!(client.base_url().as_str(), "http://127.0.0.1:9/");

    // The wrong provider's builder is a configuration error that names both.
    let error = slack.notion_builder().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration);
    let text = error.to_string();
    assert!(text.contains("slack") && text.contains("notion"), "{text}");
    assert!(!text.contains("shh-secret"), "{text}");
    assert!(notion.slack_builder().is_err());
}
