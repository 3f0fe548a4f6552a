//! An app with the install flow and the Events API endpoint on loopback, over oauth-sandbox and a
//! SQLite store, and a Slack that signs its requests with an HMAC computed here (the `hmac` and
//! `sha2` crates, not the code under test).
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac as _};
use oauth_facade::install::InstallFlow;
use oauth_facade::sandbox::{Consent, Sandbox, SandboxHandle};
use oauth_facade::slack::events::{EventDelivery, EventsEndpoint};
use oauth_facade::slack::{SigningSecret, SlackInstallation};
use oauth_facade::store::SqliteTokenStore;
use oauth_facade::{
    EventHook, Grant, InstallationKey, ManagerConfig, ProviderConfig, ProviderKind, Scopes,
    TokenEvent, TokenKey, TokenManager, TokenStore,
};
use sha2::Sha256;
use tokio::sync::Notify;

pub const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// How often the second replica looks at the store again.
pub const REVALIDATE: Duration = Duration::from_millis(200);

/// `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}` keyed by `secret`, computed with the
/// `hmac` crate directly.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub struct App {
    pub sandbox: SandboxHandle,
    pub events_url: String,
    pub store_path: std::path::PathBuf,
    pub store: Arc<SqliteTokenStore>,
    pub manager: TokenManager,
    pub flow: InstallFlow,
    pub deliveries: Arc<Mutex<Vec<EventDelivery>>>,
    pub delivered: Arc<Notify>,
    pub manager_events: Arc<Mutex<Vec<TokenEvent>>>,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

pub async fn app() -> App {
    app_over(|store| store).await
}

/// An app whose manager sees the SQLite store through `wrap` (a `FaultyStore`, say).
pub async fn app_over(wrap: impl FnOnce(Arc<dyn TokenStore>) -> Arc<dyn TokenStore>) -> App {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("tokens.db");
    let store = Arc::new(SqliteTokenStore::open(&store_path).await.unwrap());
    let mut config = ProviderConfig::sandbox(ProviderKind::Slack, sandbox.base_url());
    config.redirect_uri = Some(format!("{base}/callback/slack"));
    let manager_events: Arc<Mutex<Vec<TokenEvent>>> = Arc::default();
    let sink = manager_events.clone();
    let manager = TokenManager::builder(config.build().unwrap(), wrap(store.clone()))
        .config(ManagerConfig::default().revalidate_interval(REVALIDATE))
        .on_event(EventHook::new(move |event| {
            sink.lock().unwrap().push(event.clone())
        }))
        .build()
        .unwrap();
    let flow = InstallFlow::builder(manager.clone(), format!("{base}/callback/slack"))
        .scopes(Scopes::parse("chat:write,commands"))
        .param("user_scope", "search:read")
        .build()
        .unwrap();
    let deliveries: Arc<Mutex<Vec<EventDelivery>>> = Arc::default();
    let delivered = Arc::new(Notify::new());
    let (sink, notify) = (deliveries.clone(), delivered.clone());
    let events = EventsEndpoint::builder(SigningSecret::new(SECRET))
        .token_manager(manager.clone())
        .handler(move |delivery: EventDelivery| {
            let (sink, notify) = (sink.clone(), notify.clone());
            async move {
                sink.lock().unwrap().push(delivery);
                notify.notify_one();
            }
        })
        .build()
        .unwrap();
    let router = flow
        .router("/slack/install", "/callback/slack")
        .merge(events.router("/slack/events"));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App {
        sandbox,
        events_url: format!("{base}/slack/events"),
        store_path,
        store,
        manager,
        flow,
        deliveries,
        delivered,
        manager_events,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl App {
    /// Installs the app in `team` (of `enterprise`, if any) as `user`, through the sandbox's
    /// consent and `oauth.v2.access`: the bot's token set and `user`'s.
    pub async fn install(&self, enterprise: Option<&str>, team: &str, user: &str) -> Grant {
        self.sandbox.control().push_consent(Consent {
            enterprise_id: enterprise.map(str::to_owned),
            enterprise_name: enterprise.map(|e| format!("Org {e}")),
            ..Consent::approve(team, format!("Team {team}"), user)
        });
        let url = self.flow.start().await.unwrap();
        let outcome = self.sandbox.control().authorize(&url).unwrap();
        let location = outcome.location.unwrap();
        let query = location.split_once('?').unwrap().1;
        self.flow.finish(query).await.unwrap()
    }

    /// Another replica: its own manager over its own connection to the same SQLite file.
    pub async fn replica(&self) -> TokenManager {
        let store = Arc::new(SqliteTokenStore::open(&self.store_path).await.unwrap());
        TokenManager::builder(self.manager.provider().clone(), store)
            .config(ManagerConfig::default().revalidate_interval(REVALIDATE))
            .holder_id("replica-2")
            .build()
            .unwrap()
    }

    /// The bot user id the installation's record names.
    pub async fn bot_user(&self, installation: &InstallationKey) -> String {
        let record = self
            .manager
            .installation(installation)
            .await
            .unwrap()
            .unwrap();
        SlackInstallation::from_installation(&record)
            .bot_user_id
            .unwrap()
    }

    /// Every token set in the store, as text, sorted.
    pub async fn stored(&self) -> Vec<String> {
        self.store
            .list(None)
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// POSTs `body` signed by Slack now.
    pub async fn post_signed(&self, body: &str) -> reqwest::Response {
        self.post_signed_with(body, &[]).await
    }

    /// POSTs `body` signed by Slack now, with extra headers.
    pub async fn post_signed_with(&self, body: &str, extra: &[(&str, &str)]) -> reqwest::Response {
        let timestamp = now_secs().to_string();
        let signature = signature(SECRET, &timestamp, body.as_bytes());
        let mut headers = vec![
            ("x-slack-request-timestamp", timestamp.as_str()),
            ("x-slack-signature", signature.as_str()),
        ];
        headers.extend_from_slice(extra);
        self.post(body, &headers).await
    }

    /// POSTs `body` with exactly `headers` (and a JSON content type).
    pub async fn post(&self, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.events_url)
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// Waits for the handler to have been given `count` deliveries (bounded).
    pub async fn deliveries(&self, count: usize) -> Vec<EventDelivery> {
        for _ in 0..200 {
            let notified = self.delivered.notified();
            if self.deliveries.lock().unwrap().len() >= count {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
        self.deliveries.lock().unwrap().clone()
    }

    /// The `Removed` events the manager's hook received, as `(key, reason)`.
    pub fn removed(&self) -> Vec<(String, String)> {
        self.manager_events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|event| match event {
                TokenEvent::Removed { key, reason } => Some((key.to_string(), reason.clone())),
                _ => None,
            })
            .collect()
    }
}

/// An `event_callback` body.
pub fn callback(
    event_id: &str,
    team: &str,
    enterprise: Option<&str>,
    org_wide: bool,
    event: &str,
) -> String {
    let enterprise_json = enterprise.map_or("null".to_owned(), |e| format!("\"{e}\""));
    let team_json = if org_wide {
        "null".to_owned()
    } else {
        format!("\"{team}\"")
    };
    format!(
        r#"{{"token":"deprecated-verification-token","team_id":"{team}","enterprise_id":{enterprise_json},"api_app_id":"A0SANDBOX01","event":{event},"type":"event_callback","event_id":"{event_id}","event_time":{},"authorizations":[{{"enterprise_id":{enterprise_json},"team_id":{team_json},"user_id":"UBOT","is_bot":true,"is_enterprise_install":{org_wide}}}],"is_ext_shared_channel":false}}"#,
        now_secs()
    )
}

/// Calls `manager` until it no longer serves `key` (bounded by attempts, not asserted on time).
pub async fn until_not_served(manager: &TokenManager, key: &TokenKey) -> oauth_facade::Error {
    for _ in 0..500 {
        match manager.access_token(key).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(error) => return error,
        }
    }
    panic!("{key} is still served by the other replica after 500 calls");
}
