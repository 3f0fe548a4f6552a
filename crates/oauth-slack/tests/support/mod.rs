//! A scripted Slack stand-in on 127.0.0.1: records every request (method, path, headers, raw
//! body) and answers from a queue of replies, in order.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth_core::http::RetryPolicy;
use oauth_slack::{SlackClient, SlackClientBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const CLIENT_ID: &str = "2141029472.691202649728";
pub const CLIENT_SECRET: &str = "s3cr3t-client-secret";
/// `base64("2141029472.691202649728:s3cr3t-client-secret")`.
pub const BASIC: &str = "Basic MjE0MTAyOTQ3Mi42OTEyMDI2NDk3Mjg6czNjcjN0LWNsaWVudC1zZWNyZXQ=";
pub const REDIRECT_URI: &str = "https://example.com/slack/oauth/callback";

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn ok(body: &str) -> Self {
        Self::status(200, body)
    }

    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.into(),
        }
    }

    pub fn error(code: &str) -> Self {
        Self::ok(&format!(r#"{{"ok":false,"error":"{code}"}}"#))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The form body's parameters, decoded, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub fn raw(&self) -> String {
        let mut text = format!("{} {}\n", self.method, self.target);
        for (name, value) in &self.headers {
            text.push_str(&format!("{name}: {value}\n"));
        }
        text.push_str(&String::from_utf8_lossy(&self.body));
        text
    }
}

/// The scripted server.
pub struct FakeSlack {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl FakeSlack {
    pub async fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let (log, queue) = (requests.clone(), script.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, queue) = (log.clone(), queue.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, log, queue).await;
                });
            }
        });
        Self {
            addr,
            requests,
            script,
        }
    }

    pub fn push(&self, reply: Reply) {
        self.script.lock().unwrap().push_back(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Returns and forgets the requests received so far.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }

    pub fn base(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// A builder for the test app, pointed at this server, with fast retries.
    pub fn builder(&self) -> SlackClientBuilder {
        SlackClient::builder(CLIENT_ID)
            .api_base_url(format!("{}api/", self.base()))
            .authorize_base_url(self.base())
            .redirect_uri(REDIRECT_URI)
            .retry_policy(fast_retries())
    }

    /// A confidential client (secret in the form body).
    pub fn client(&self) -> SlackClient {
        self.builder().client_secret(CLIENT_SECRET).build().unwrap()
    }
}

pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
}

async fn serve(
    mut stream: TcpStream,
    log: Arc<Mutex<Vec<Recorded>>>,
    queue: Arc<Mutex<VecDeque<Reply>>>,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    log.lock().unwrap().push(Recorded {
        method,
        target,
        headers,
        body,
    });
    let reply = queue
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| Reply::status(500, r#"{"ok":false,"error":"script_exhausted"}"#));
    let mut response = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&reply.body);
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Asserts the exact wire form of a Web API call: `POST /api/<method>` without a query string,
/// the form content type, the `Authorization` header (or none) and exactly these form parameters.
pub fn assert_wire(
    request: &Recorded,
    method: &str,
    authorization: Option<&str>,
    form: &[(&str, &str)],
) {
    assert_eq!(request.method, "POST", "{}", request.raw());
    assert_eq!(
        request.target,
        format!("/api/{method}"),
        "{}",
        request.raw()
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded"),
        "{}",
        request.raw()
    );
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(
        request.header("authorization"),
        authorization,
        "{}",
        request.raw()
    );
    let expected: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(request.form(), expected, "{}", request.raw());
}
