//! Shared helpers for the integration tests: plain reqwest over loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use base64::Engine as _;
use oauth_sandbox::{
    Control, DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, DEFAULT_SLACK_CLIENT_ID,
    DEFAULT_SLACK_CLIENT_SECRET, Sandbox, SandboxHandle,
};
use serde_json::Value;

pub const NOTION_REDIRECT: &str = "http://127.0.0.1:5555/callback/notion";
pub const SLACK_REDIRECT: &str = "http://127.0.0.1:5555/callback/slack";
pub const NOTION_VERSION: &str = "2025-09-03";

pub struct Ctx {
    pub sb: SandboxHandle,
    pub http: reqwest::Client,
}

/// A response: status, headers, raw body and the body as JSON (Null if not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, n: &str) -> Option<&str> {
        self.headers.get(n).and_then(|v| v.to_str().ok())
    }
    pub fn s(&self, k: &str) -> &str {
        self.json[k].as_str().unwrap_or("")
    }
    /// The Slack error code (or "ok").
    pub fn slack_code(&self) -> &str {
        if self.json["ok"] == Value::Bool(true) {
            "ok"
        } else {
            self.s("error")
        }
    }
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

pub fn notion_basic() -> String {
    basic(DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET)
}

impl Ctx {
    pub async fn new() -> Self {
        Self::with(Sandbox::builder()).await
    }

    pub async fn with(b: oauth_sandbox::SandboxBuilder) -> Self {
        let sb = b.start().await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { sb, http }
    }

    pub fn ctl(&self) -> &Control {
        self.sb.control()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sb.base_url(), path)
    }

    /// Sends a raw request.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, self.url(path));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }

    /// POST a Notion OAuth endpoint with default credentials and version.
    pub async fn notion(&self, path: &str, body: Value) -> Resp {
        let auth = notion_basic();
        self.send(
            "POST",
            path,
            &[
                ("authorization", &auth),
                ("notion-version", NOTION_VERSION),
                ("content-type", "application/json"),
            ],
            Some(body.to_string()),
        )
        .await
    }

    /// POST a Slack method with a form body (and optional bearer token).
    pub async fn slack(&self, method: &str, pairs: &[(&str, &str)], bearer: Option<&str>) -> Resp {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
        if let Some(a) = &auth {
            h.push(("authorization", a.as_str()));
        }
        self.send("POST", &format!("/api/{method}"), &h, Some(form(pairs)))
            .await
    }

    /// Runs an authorize URL through the real HTTP endpoint and returns the `code`.
    pub async fn code_via_http(&self, path_and_query: &str) -> String {
        let r = self.send("GET", path_and_query, &[], None).await;
        assert_eq!(r.status, 302, "{}", r.text);
        let loc = url::Url::parse(r.header("location").unwrap()).unwrap();
        loc.query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    }

    /// A code through the control helper.
    pub fn code(&self, path_and_query: &str) -> String {
        let o = self.ctl().authorize(path_and_query).unwrap();
        o.code.clone().unwrap_or_else(|| panic!("no code: {o:?}"))
    }

    pub fn notion_code(&self) -> String {
        self.code(&format!(
            "/v1/oauth/authorize?client_id={DEFAULT_NOTION_CLIENT_ID}&response_type=code&owner=user&redirect_uri={}",
            enc(NOTION_REDIRECT)
        ))
    }

    /// Exchanges a fresh Notion code: the token response.
    pub async fn notion_tokens(&self) -> Resp {
        let code = self.notion_code();
        let r = self
            .notion(
                "/v1/oauth/token",
                serde_json::json!({"grant_type": "authorization_code", "code": code, "redirect_uri": NOTION_REDIRECT}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r
    }

    pub fn slack_code(&self, extra: &str) -> String {
        self.code(&format!(
            "/oauth/v2/authorize?client_id={DEFAULT_SLACK_CLIENT_ID}&redirect_uri={}{extra}",
            enc(SLACK_REDIRECT)
        ))
    }

    /// Installs the default (rotating) Slack app with bot and user scopes.
    pub async fn slack_install(&self) -> Resp {
        let code = self.slack_code("&scope=chat:write,commands&user_scope=search:read");
        let r = self
            .slack(
                "oauth.v2.access",
                &[
                    ("client_id", DEFAULT_SLACK_CLIENT_ID),
                    ("client_secret", DEFAULT_SLACK_CLIENT_SECRET),
                    ("code", &code),
                    ("redirect_uri", SLACK_REDIRECT),
                ],
                None,
            )
            .await;
        assert_eq!(r.slack_code(), "ok", "{}", r.text);
        r
    }

    pub async fn slack_refresh(&self, rt: &str) -> Resp {
        self.slack(
            "oauth.v2.access",
            &[
                ("client_id", DEFAULT_SLACK_CLIENT_ID),
                ("client_secret", DEFAULT_SLACK_CLIENT_SECRET),
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
            ],
            None,
        )
        .await
    }
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
