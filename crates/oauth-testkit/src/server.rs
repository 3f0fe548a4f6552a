//! [`FakeServer`]: a scripted HTTP/1.1 server on loopback, with raw control of the connection
//! (answer, answer in chunks, delay, drop before answering), over plain TCP or TLS.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answers with a status, headers and a body.
    Respond {
        /// The status code.
        status: u16,
        /// The headers, besides `content-length`.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// Answers 200 with a `Transfer-Encoding: chunked` body, writing the chunks apart from each
    /// other (the client reads them as separate pieces).
    Chunked(Vec<Vec<u8>>),
    /// Reads the request, then closes the connection without answering.
    Drop,
    /// Waits, then does the inner reply.
    Delay(Duration, Box<Reply>),
}

impl Reply {
    /// `status` with a body of type `content_type`.
    pub fn new(status: u16, content_type: &str, body: &str) -> Self {
        Reply::Respond {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// `status` with a JSON body (`application/json`).
    pub fn json(status: u16, body: &str) -> Self {
        Self::new(status, "application/json", body)
    }

    /// Adds a header (to an answer; other replies are left as they are).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target: the path and query.
    pub path: String,
    /// The headers in the order received, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The value of the header `name` (any case).
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

    /// The request as text (request line, headers, body), for assertion messages.
    pub fn raw(&self) -> String {
        let mut text = format!("{} {}\n", self.method, self.path);
        for (name, value) in &self.headers {
            text.push_str(&format!("{name}: {value}\n"));
        }
        text.push_str(&String::from_utf8_lossy(&self.body));
        text
    }
}

/// What a TLS server saw of one completed handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The server name the client sent (SNI), if any.
    pub sni: Option<String>,
    /// The application protocol agreed by ALPN, if any.
    pub alpn: Option<Vec<u8>>,
}

/// The script and what was seen, shared by the server's tasks.
#[derive(Debug)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    /// The reply once the script is played out.
    exhausted: Reply,
    requests: Mutex<Vec<Recorded>>,
    handshakes: Mutex<Vec<Handshake>>,
    failed_handshakes: Mutex<usize>,
}

/// A scripted HTTP/1.1 server on `127.0.0.1`: it records every request and answers from its
/// script, in order, over keep-alive connections.
#[derive(Debug)]
pub struct FakeServer {
    addr: SocketAddr,
    scheme: &'static str,
    state: Arc<State>,
}

impl FakeServer {
    /// Starts a server that plays `script` in order, then answers `200 {}` to anything else.
    pub async fn start(script: Vec<Reply>) -> Self {
        Self::start_with(script, Reply::json(200, "{}"), None).await
    }

    /// Starts a server that plays `script` in order, then answers `exhausted` to anything else.
    pub async fn start_then(script: Vec<Reply>, exhausted: Reply) -> Self {
        Self::start_with(script, exhausted, None).await
    }

    /// Starts a server that plays `script` as [`start`](Self::start) does, over TLS with `config`.
    pub async fn start_tls(script: Vec<Reply>, config: rustls::ServerConfig) -> Self {
        Self::start_with(script, Reply::json(200, "{}"), Some(config)).await
    }

    async fn start_with(
        script: Vec<Reply>,
        exhausted: Reply,
        tls: Option<rustls::ServerConfig>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            script: Mutex::new(VecDeque::from(script)),
            exhausted,
            requests: Mutex::default(),
            handshakes: Mutex::default(),
            failed_handshakes: Mutex::default(),
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let acceptor = tls.map(|config| TlsAcceptor::from(Arc::new(config)));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                let Some(acceptor) = acceptor.clone() else {
                    tokio::spawn(serve(stream, state));
                    continue;
                };
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(stream) => {
                            let connection = stream.get_ref().1;
                            state.handshakes.lock().unwrap().push(Handshake {
                                sni: connection.server_name().map(str::to_owned),
                                alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
                            });
                            serve(stream, state).await;
                        }
                        Err(_) => *state.failed_handshakes.lock().unwrap() += 1,
                    }
                });
            }
        });
        Self {
            addr,
            scheme,
            state,
        }
    }

    /// Appends `reply` to the script.
    pub fn push(&self, reply: Reply) {
        self.state.script.lock().unwrap().push_back(reply);
    }

    /// `scheme://127.0.0.1:port` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// The URL with `localhost` as its host instead of the loopback address.
    pub fn localhost_url(&self, path: &str) -> String {
        format!("{}://localhost:{}{}", self.scheme, self.addr.port(), path)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Returns and forgets the requests received so far.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.state.requests.lock().unwrap())
    }

    /// The TLS handshakes that completed.
    pub fn handshakes(&self) -> Vec<Handshake> {
        self.state.handshakes.lock().unwrap().clone()
    }

    /// The number of TLS handshakes that failed, once it reaches `expected` (the server notes a
    /// failure a moment after the client has given up), or as it is after 5 s.
    pub async fn failed_handshakes(&self, expected: usize) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let failed = *self.state.failed_handshakes.lock().unwrap();
            if failed >= expected || tokio::time::Instant::now() >= deadline {
                return failed;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, state: Arc<State>) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        state.requests.lock().unwrap().push(request);
        let reply = state.script.lock().unwrap().pop_front();
        let reply = reply.unwrap_or_else(|| state.exhausted.clone());
        if !play(&mut stream, reply).await {
            return;
        }
    }
}

/// Returns false when the connection must close.
async fn play<S: AsyncWrite + Unpin>(stream: &mut S, mut reply: Reply) -> bool {
    loop {
        match reply {
            Reply::Delay(delay, inner) => {
                tokio::time::sleep(delay).await;
                reply = *inner;
            }
            Reply::Drop => return false,
            Reply::Chunked(chunks) => {
                let head = "HTTP/1.1 200 Scripted\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return false;
                }
                for chunk in chunks {
                    let mut bytes = format!("{:x}\r\n", chunk.len()).into_bytes();
                    bytes.extend_from_slice(&chunk);
                    bytes.extend_from_slice(b"\r\n");
                    if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
                        return false;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                return stream.write_all(b"0\r\n\r\n").await.is_ok()
                    && stream.flush().await.is_ok();
            }
            Reply::Respond {
                status,
                headers,
                body,
            } => {
                let mut head = format!(
                    "HTTP/1.1 {status} Scripted\r\ncontent-length: {}\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                let mut bytes = head.into_bytes();
                bytes.extend_from_slice(&body);
                return stream.write_all(&bytes).await.is_ok() && stream.flush().await.is_ok();
            }
        }
    }
}

async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
) -> Option<Recorded> {
    let head_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        read_more(stream, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        read_more(stream, buffer).await?;
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

/// Reads what the stream has into `buffer`; `None` at its end or on an error.
async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await.ok()?;
    if n == 0 {
        return None;
    }
    buffer.extend_from_slice(&chunk[..n]);
    Some(())
}

/// A loopback URL with nothing listening on its port.
pub async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/")
}
