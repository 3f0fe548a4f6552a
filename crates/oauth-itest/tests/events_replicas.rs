//! Slack's `app_uninstalled` and `tokens_revoked` through the facade's events endpoint on
//! loopback, against installations made at oauth-sandbox, with two replicas sharing one
//! PostgreSQL store (`cargo xtask test` provides it): the replica that received the event forgets
//! the token sets at once, the other within its `revalidate_interval` plus one store read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac as _};
use oauth_core::{
    AuthorizationRequest, CodeExchange, Error, InstallationKey, Principal, Scopes, TokenKey,
    TokenStore,
};
use oauth_facade::slack::SigningSecret;
use oauth_facade::slack::events::EventsEndpoint;
use oauth_manager::{ManagerConfig, TokenManager};
use oauth_sandbox::{Consent, Sandbox, SandboxHandle};
use oauth_store::PostgresTokenStore;
use sha2::Sha256;

const SECRET: &str = "e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6";
const REVALIDATE: Duration = Duration::from_millis(250);

/// Slack's signature, computed here with `hmac`/`sha2`.
fn signed(body: &str) -> (String, String) {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (timestamp, format!("v0={hex}"))
}

fn manager(
    slack: &Arc<dyn oauth_core::TokenProvider>,
    store: Arc<dyn TokenStore>,
    holder: &str,
) -> TokenManager {
    TokenManager::builder(slack.clone(), store)
        .config(ManagerConfig::default().revalidate_interval(REVALIDATE))
        .holder_id(holder)
        .build()
        .unwrap()
}

async fn install(sandbox: &SandboxHandle, manager: &TokenManager, team: &str, user: &str) {
    sandbox
        .control()
        .push_consent(Consent::approve(team, format!("Team {team}"), user));
    let request = AuthorizationRequest::new()
        .unwrap()
        .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
        .scopes(Scopes::parse("chat:write"))
        .param("user_scope", "search:read");
    let url = manager.provider().authorization_url(&request).unwrap();
    let code = sandbox.control().authorize_code(url.as_str()).unwrap();
    let exchange = CodeExchange::new(oauth_core::AuthorizationCode::new(code))
        .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0]);
    manager.exchange_and_save(exchange).await.unwrap();
}

async fn until_not_served(manager: &TokenManager, key: &TokenKey) -> Error {
    for _ in 0..500 {
        match manager.access_token(key).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(error) => return error,
        }
    }
    panic!("{key} is still served after 500 calls");
}

fn event(id: &str, team: &str, event: &str) -> String {
    format!(
        r#"{{"token":"x","team_id":"{team}","api_app_id":"A0SANDBOX01","event":{event},"type":"event_callback","event_id":"{id}","event_time":1,"authorizations":[{{"enterprise_id":null,"team_id":"{team}","user_id":"UBOT","is_bot":true,"is_enterprise_install":false}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgresql_stop_serving_what_slack_ended() {
    let Some(pool) = oauth_itest::postgres_schema("events").await else {
        return;
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let slack = oauth_itest::slack_client(sandbox.base_url()).unwrap();
    let store_a: Arc<dyn TokenStore> = Arc::new(
        PostgresTokenStore::from_pool(pool.clone(), None)
            .await
            .unwrap(),
    );
    let store_b: Arc<dyn TokenStore> =
        Arc::new(PostgresTokenStore::from_pool(pool, None).await.unwrap());
    let a = manager(&slack, store_a.clone(), "replica-a");
    let b = manager(&slack, store_b, "replica-b");
    install(&sandbox, &a, "T1", "U1").await;
    install(&sandbox, &a, "T2", "U2").await;

    let endpoint = EventsEndpoint::builder(SigningSecret::new(SECRET))
        .token_manager(a.clone())
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slack/events", listener.local_addr().unwrap());
    let router: axum::Router = endpoint.router("/slack/events");
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let http = reqwest::Client::new();
    let post = |body: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let (timestamp, signature) = signed(&body);
            http.post(url)
                .header("x-slack-request-timestamp", timestamp)
                .header("x-slack-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    let t1 = InstallationKey::workspace(oauth_slack::PROVIDER, None, "T1");
    let t2 = InstallationKey::workspace(oauth_slack::PROVIDER, None, "T2");
    let t1_bot = TokenKey::bot(t1.clone());
    let t2_user = TokenKey::new(t2.clone(), Principal::User("U2".into()));
    assert!(b.access_token(&t1_bot).await.is_ok(), "B caches T1's bot");
    assert!(
        b.access_token(&t2_user).await.is_ok(),
        "and U2's token of T2"
    );

    // A user revokes their token in T2: that token set only.
    let revoked = event(
        "Ev1PG",
        "T2",
        r#"{"type":"tokens_revoked","tokens":{"oauth":["U2"]}}"#,
    );
    assert_eq!(post(revoked).await, 200);
    assert!(matches!(
        a.access_token(&t2_user).await,
        Err(Error::InstallationNotFound { .. })
    ));
    assert!(matches!(
        until_not_served(&b, &t2_user).await,
        Error::InstallationNotFound { .. }
    ));
    assert!(
        b.access_token(&TokenKey::bot(t2.clone())).await.is_ok(),
        "T2's bot stays"
    );

    // T1 uninstalls the app: the installation is gone, on both replicas.
    assert_eq!(
        post(event("Ev2PG", "T1", r#"{"type":"app_uninstalled"}"#)).await,
        200
    );
    assert!(store_a.installation(&t1).await.unwrap().is_none());
    assert!(store_a.token_keys(&t1).await.unwrap().is_empty());
    assert!(matches!(
        a.access_token(&t1_bot).await,
        Err(Error::InstallationNotFound { .. })
    ));
    assert!(matches!(
        until_not_served(&b, &t1_bot).await,
        Error::InstallationNotFound { .. }
    ));
    let left: Vec<String> = store_a
        .list(None)
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(left, ["slack/T2#bot"]);
}
