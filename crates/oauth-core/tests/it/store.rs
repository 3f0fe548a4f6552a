//! The in-memory token store, held to the conformance suite.

use oauth_core::{AccessToken, Grantee, InstallationKey, ProviderId, TokenSet, TokenType};

#[cfg(feature = "conformance")]
#[tokio::test]
async fn memory_store_conforms() {
    oauth_core::store::conformance::check_store(std::sync::Arc::new(
        oauth_core::MemoryTokenStore::new(),
    ))
    .await;
}

#[test]
fn default_installation_keys() {
    let tokens = |enterprise: Option<&str>,
                  workspace: Option<&str>,
                  bot: Option<&str>,
                  user: Option<&str>| {
        let mut t = TokenSet::new(
            ProviderId::from_static("slack"),
            AccessToken::new("a"),
            TokenType::Bot,
            std::time::SystemTime::now(),
        );
        let mut g = Grantee::new();
        g.enterprise_id = enterprise.map(Into::into);
        g.workspace_id = workspace.map(Into::into);
        g.bot_id = bot.map(Into::into);
        g.user_id = user.map(Into::into);
        t.grantee = g;
        t
    };
    for (t, expected) in [
        (
            tokens(Some("E1"), Some("T1"), Some("U1"), Some("U2")),
            "E1:T1:U1",
        ),
        (tokens(None, Some("T1"), None, Some("U2")), "T1:U2"),
        (tokens(Some("E1"), None, Some("B1"), None), "E1:B1"),
        (tokens(None, Some(""), None, None), ""),
    ] {
        let key = InstallationKey::for_tokens(&t);
        assert_eq!(key.key(), expected);
        assert_eq!(key.provider().as_str(), "slack");
        assert_eq!(key.to_string(), format!("slack/{expected}"));
    }
}
