//! A scripted HTTP/1.1 server on loopback, with raw control of the connection (answer, delay,
//! drop before answering) that a regular server framework does not give; over plain TCP or TLS.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the server does with one request.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// Answers with a status, headers and a body.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
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
    pub(crate) fn json(status: u16, body: &str) -> Self {
        Reply::Respond {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub(crate) fn with_header(self, name: &str, value: &str) -> Self {
        match self {
            Reply::Respond {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.into(), value.into()));
                Reply::Respond {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a TLS server saw of one completed handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Handshake {
    /// The server name the client sent (SNI), if any.
    pub(crate) sni: Option<String>,
    /// The application protocol agreed by ALPN, if any.
    pub(crate) alpn: Option<Vec<u8>>,
}

pub(crate) struct FakeServer {
    addr: SocketAddr,
    scheme: &'static str,
    requests: Arc<Mutex<Vec<Recorded>>>,
    handshakes: Arc<Mutex<Vec<Handshake>>>,
    failed_handshakes: Arc<Mutex<usize>>,
}

impl FakeServer {
    /// Starts a server that plays `script` in order, then answers `200 {}` to anything else.
    pub(crate) async fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let recorded = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, recorded.clone(), script.clone()));
            }
        });
        Self {
            addr,
            scheme: "http",
            requests,
            handshakes: Arc::default(),
            failed_handshakes: Arc::default(),
        }
    }

    /// Starts a server that plays `script` as [`start`](Self::start) does, over TLS with `config`.
    pub(crate) async fn start_tls(script: Vec<Reply>, config: rustls::ServerConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let failed_handshakes = Arc::new(Mutex::new(0));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let (recorded, shaken, failed) = (
            requests.clone(),
            handshakes.clone(),
            failed_handshakes.clone(),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, recorded, script) =
                    (acceptor.clone(), recorded.clone(), script.clone());
                let (shaken, failed) = (shaken.clone(), failed.clone());
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(stream) => {
                            let connection = stream.get_ref().1;
                            shaken.lock().unwrap().push(Handshake {
                                sni: connection.server_name().map(str::to_owned),
                                alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
                            });
                            serve(stream, recorded, script).await;
                        }
                        Err(_) => *failed.lock().unwrap() += 1,
                    }
                });
            }
        });
        Self {
            addr,
            scheme: "https",
            requests,
            handshakes,
            failed_handshakes,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// The URL with `localhost` as its host instead of the loopback address.
    pub(crate) fn localhost_url(&self, path: &str) -> String {
        format!("{}://localhost:{}{}", self.scheme, self.addr.port(), path)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The TLS handshakes that completed.
    pub(crate) fn handshakes(&self) -> Vec<Handshake> {
        self.handshakes.lock().unwrap().clone()
    }

    /// The number of TLS handshakes that failed, once it reaches `expected` (the server notes a
    /// failure a moment after the client has given up), or as it is after 5 s.
    pub(crate) async fn failed_handshakes(&self, expected: usize) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let failed = *self.failed_handshakes.lock().unwrap();
            if failed >= expected || tokio::time::Instant::now() >= deadline {
                return failed;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        requests.lock().unwrap().push(request);
        let reply = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Reply::json(200, "{}"));
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
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
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

/// A loopback port with nothing listening on it.
pub(crate) async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/")
}
