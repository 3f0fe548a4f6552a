//! The install flow on two replicas sharing PostgreSQL (`OAUTH_TEST_POSTGRES_URL`, which `cargo
//! xtask test` sets; without it this says loudly that it did not run, and fails under
//! `OAUTH_REQUIRE_POSTGRES`): an install started on one replica finishes on the other, its
//! replay on either is refused, and a replica without the shared state key refuses it as
//! unknown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use oauth_facade::install::{InstallFlow, StateKey};
use oauth_facade::sandbox::{Sandbox, SandboxHandle};
use oauth_facade::store::PostgresTokenStore;
use oauth_facade::{ProviderConfig, ProviderKind, Scopes, TokenManager, TokenStore as _};
use oauth_itest::postgres_schema;

/// One replica: its own listener, token manager and flow, over the shared store.
struct Replica {
    base: String,
    manager: TokenManager,
}

/// A replica whose callback URL (as registered with the provider) is `redirect_uri`, served on
/// `listener`.
async fn replica(
    sandbox: &SandboxHandle,
    listener: tokio::net::TcpListener,
    redirect_uri: &str,
    store: Arc<PostgresTokenStore>,
    key: StateKey,
) -> Replica {
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = ProviderConfig::sandbox(ProviderKind::Slack, sandbox.base_url())
        .redirect_uri(redirect_uri)
        .build()
        .unwrap();
    let manager = TokenManager::builder(provider, store.clone())
        .build()
        .unwrap();
    let router = InstallFlow::builder(manager.clone(), redirect_uri)
        .scopes(Scopes::parse("chat:write"))
        .state_key(key)
        .used_states(store)
        .build()
        .unwrap()
        .router("/install", "/callback/slack");
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Replica { base, manager }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_started_on_one_replica_finishes_on_the_other() {
    let Some(pool) = postgres_schema("install_replicas").await else {
        return;
    };
    let store = Arc::new(PostgresTokenStore::from_pool(pool, None).await.unwrap());
    let sandbox = Sandbox::builder().start().await.unwrap();
    let key = StateKey::generate().unwrap();
    // The load balancer's public URL is the second replica's: the provider sends every browser
    // back there, whichever replica started its install.
    let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_uri = format!("http://{}/callback/slack", second.local_addr().unwrap());
    let a = replica(&sandbox, first, &redirect_uri, store.clone(), key.clone()).await;
    let b = replica(&sandbox, second, &redirect_uri, store.clone(), key.clone()).await;

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let install = browser
        .get(format!("{}/install", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(install.status(), 302);
    let cookie = install.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let consent = browser.get(location(&install)).send().await.unwrap();
    let callback = location(&consent);
    assert!(callback.starts_with(&b.base), "{callback}");
    let page = browser.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    let page_text = page.text().await.unwrap();
    assert!(page_text.contains("Installed"), "{page_text}");

    // Saved once, seen by both.
    let keys = a.manager.list().await.unwrap();
    assert_eq!(keys, b.manager.list().await.unwrap());
    assert_eq!(keys.len(), 1);
    assert!(
        store
            .installation(keys[0].installation())
            .await
            .unwrap()
            .is_some()
    );

    // Its replay, with the cookie, is refused on either replica: the used state is shared.
    let a_callback = callback.replacen(&b.base, &a.base, 1);
    for (replica, url) in [("b", &callback), ("a", &a_callback)] {
        let replay = reqwest::Client::new()
            .get(url.as_str())
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), 400, "{replica}");
        let text = replay.text().await.unwrap();
        assert!(text.contains("already used"), "{replica}: {text}");
    }
    assert_eq!(
        sandbox.control().counters().path("/api/oauth.v2.access"),
        1,
        "one code exchange"
    );

    // A replica without the shared key cannot open the states of the others.
    let third = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = replica(
        &sandbox,
        third,
        &redirect_uri,
        store.clone(),
        StateKey::generate().unwrap(),
    )
    .await;
    let install = browser
        .get(format!("{}/install", a.base))
        .send()
        .await
        .unwrap();
    let consent = browser.get(location(&install)).send().await.unwrap();
    let on_c = location(&consent).replacen(&b.base, &c.base, 1);
    let page = browser.get(&on_c).send().await.unwrap();
    assert_eq!(page.status(), 400);
    let text = page.text().await.unwrap();
    assert!(text.contains("unknown"), "{text}");
}
