//! `oauthctl login`: the real authorization flow for a developer. A loopback listener receives
//! the redirect; state (and PKCE where the provider supports it) protect the flow; the installation
//! is saved through the store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use oauth_facade::error::RequestSent;
use oauth_facade::install::InstallFlow;
use oauth_facade::{
    Error, Grant, ProviderConfig, ProviderKind, Result, Scopes, TokenManager, TokenStore,
};
use tokio::sync::oneshot;

use crate::Failure;
use crate::output::show;

pub(crate) struct Options {
    pub(crate) scopes: Option<String>,
    pub(crate) user_scopes: Option<String>,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) pkce: bool,
    pub(crate) open_browser: bool,
    pub(crate) timeout: Duration,
}

type Outcome = Result<Grant>;

#[derive(Clone)]
struct Callback {
    flow: InstallFlow,
    done: Arc<Mutex<Option<oneshot::Sender<Outcome>>>>,
}

/// The page the browser lands on. Everything shown is escaped: the installation key comes from
/// the provider's answer.
fn page(status: axum::http::StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><meta charset=\"utf-8\"><title>oauthctl</title><h1>{}</h1><p>{}</p>",
            html_escape::encode_text(title),
            html_escape::encode_text(text)
        )),
    )
        .into_response()
}

/// Whether a request to the callback path is the provider's redirect (it carries `state`): any
/// other request (a browser's prefetch, a reload without the query) is answered and ignored.
fn is_redirect(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "state")
}

async fn callback(State(state): State<Callback>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    if !is_redirect(&query) {
        return page(
            axum::http::StatusCode::BAD_REQUEST,
            "Waiting for the login",
            "This address receives the provider's redirect for oauthctl login; this request is \
             not one. Finish the authorization in the page oauthctl opened.",
        );
    }
    let outcome = state.flow.finish(&query).await;
    let response = match &outcome {
        Ok(grant) => page(
            axum::http::StatusCode::OK,
            "Logged in",
            &format!(
                "{} is saved. You can close this tab and go back to the terminal.",
                grant.installation.key
            ),
        ),
        Err(_) => page(
            axum::http::StatusCode::BAD_REQUEST,
            "Login failed",
            "See the terminal for details.",
        ),
    };
    if let Some(done) = state.done.lock().ok().and_then(|mut d| d.take()) {
        let _ = done.send(outcome);
    }
    response
}

/// Anything else sent to the listener (a favicon): not found, and the login goes on.
async fn stray() -> Response {
    page(
        axum::http::StatusCode::NOT_FOUND,
        "Not found",
        "This address only receives oauthctl's login redirect.",
    )
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1")
}

pub(crate) async fn run(
    json: bool,
    mut config: ProviderConfig,
    store: Arc<dyn TokenStore>,
    options: Options,
) -> std::result::Result<(), Failure> {
    let kind = config.kind;
    let wanted = options
        .redirect_uri
        .clone()
        .or_else(|| config.redirect_uri.clone())
        .unwrap_or_else(|| format!("http://127.0.0.1:0/callback/{kind}"));
    let mut redirect = url::Url::parse(&wanted)
        .map_err(|e| Failure::Config(format!("invalid redirect URI {wanted:?}: {e}")))?;
    let host = redirect.host_str().unwrap_or_default().to_owned();
    if redirect.scheme() != "http" || !is_loopback(&host) {
        return Err(Failure::Config(format!(
            "the redirect URI {wanted} must be http:// on this machine (127.0.0.1 or localhost) for oauthctl to receive the callback"
        )));
    }
    let bind_host = if host == "localhost" {
        "127.0.0.1".to_owned()
    } else {
        host.trim_matches(['[', ']']).to_owned()
    };
    let listener =
        tokio::net::TcpListener::bind((bind_host.as_str(), redirect.port().unwrap_or(80)))
            .await
            .map_err(|e| Failure::Config(format!("cannot listen on {wanted}: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?
        .port();
    let _ = redirect.set_port(Some(port));
    let redirect_uri = redirect.to_string();
    config.redirect_uri = Some(redirect_uri.clone());

    let pkce = options.pkce || (kind == ProviderKind::Slack && config.client_secret.is_none());
    let provider = config.build()?;
    let manager = TokenManager::builder(provider, store).build()?;
    let mut flow = InstallFlow::builder(manager, redirect_uri.clone()).pkce(pkce);
    if kind == ProviderKind::Slack {
        flow = flow.scopes(Scopes::parse(
            options.scopes.as_deref().unwrap_or("chat:write"),
        ));
        if let Some(user_scopes) = &options.user_scopes {
            flow = flow.param("user_scope", user_scopes.clone());
        }
    } else if let Some(scopes) = &options.scopes {
        flow = flow.scopes(Scopes::parse(scopes));
    }
    let flow = flow.build()?;
    let (done_tx, done_rx) = oneshot::channel();
    let router = Router::new()
        .route(redirect.path(), get(callback))
        .fallback(stray)
        .with_state(Callback {
            flow: flow.clone(),
            done: Arc::new(Mutex::new(Some(done_tx))),
        });
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await;
    });

    let url = flow.start().await?;
    eprintln!("Open this URL in your browser to authorize oauthctl with {kind}:\n  {url}");
    if options.open_browser && webbrowser::open(&url).is_err() {
        eprintln!("(could not open a browser: open the URL above yourself)");
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!(
        "waiting for the redirect to {redirect_uri} (up to {}s)",
        options.timeout.as_secs()
    ));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let outcome = tokio::time::timeout(options.timeout, done_rx).await;
    spinner.finish_and_clear();
    let _ = stop_tx.send(());
    let _ = server.await;
    let grant = match outcome {
        Ok(Ok(outcome)) => outcome?,
        Ok(Err(_)) => {
            return Err(Error::Internal("the callback server stopped".into()).into());
        }
        Err(_) => {
            return Err(Failure::Lib(Error::Timeout {
                provider: oauth_facade::ProviderId::from_static(kind.as_str()),
                operation: "waiting for the browser to come back (login)",
                request_sent: RequestSent::No,
            }));
        }
    };
    let key = &grant.installation.key;
    let grantee = grant.primary().map(|granted| &granted.tokens.grantee);
    let workspace_id = grantee.and_then(|g| g.workspace_id.clone());
    let workspace_name = grantee.and_then(|g| g.workspace_name.clone());
    let tokens: Vec<String> = grant
        .tokens
        .iter()
        .map(|granted| grant.token_key(granted.principal.clone()).to_string())
        .collect();
    show(
        json,
        &format!(
            "logged in: {key} ({}); token sets saved: {}",
            workspace_name
                .clone()
                .or(workspace_id.clone())
                .unwrap_or_default(),
            tokens.join(", ")
        ),
        serde_json::json!({
            "installation": key.to_string(),
            "workspace_id": workspace_id,
            "workspace_name": workspace_name,
            "token_keys": tokens,
        }),
    );
    Ok(())
}
