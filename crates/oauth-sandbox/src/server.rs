//! HTTP plumbing: routing, faults, the request log, and the accept loop with its bounds
//! (connections, timeouts, body size).

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode};
use serde_json::json;

use crate::authorize::authorize;
use crate::limits::Limits;
use crate::model::{FaultKind, Provider, RecordedRequest};
use crate::state::{Flow, Inner, Shared};
use crate::wire::{Reply, Req};

/// Marker extension: close the connection instead of answering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

/// Error returned to hyper to make it close the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
pub(crate) struct Dropped;

pub(crate) fn provider_of(path: &str) -> Option<Provider> {
    if path.starts_with("/v1/") {
        Some(Provider::Notion)
    } else if path.starts_with("/api/")
        || path.starts_with("/oauth/")
        || path.starts_with("/openid/")
        || path.starts_with("/.well-known/")
    {
        Some(Provider::Slack)
    } else {
        None
    }
}

pub(crate) fn flow_of(path: &str) -> Option<Flow> {
    match path {
        "/v1/oauth/authorize" => Some(Flow::Notion),
        "/oauth/v2/authorize" => Some(Flow::SlackV2),
        "/oauth/v2_user/authorize" => Some(Flow::SlackV2User),
        "/oauth/authorize" => Some(Flow::SlackV1),
        "/openid/connect/authorize" => Some(Flow::SlackOidc),
        _ => None,
    }
}

/// Routes one request to its provider handler (state locked by the caller).
fn dispatch(shared: &Shared, inner: &mut Inner, req: &Req) -> Reply {
    let path = req.path.as_str();
    if let Some(flow) = flow_of(path) {
        if req.method != Method::GET {
            if flow == Flow::Notion {
                let rid = inner.uuid();
                return crate::notion::envelope(
                    400,
                    "invalid_request_url",
                    "Invalid request URL.",
                    &rid,
                );
            }
            return Reply::html(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed".into());
        }
        return authorize(inner, flow, &req.query_pairs());
    }
    match path {
        "/openid/connect/keys" => {
            crate::oidc::jwks_reply().classify(None, "slack.openid.connect.keys")
        }
        "/.well-known/openid-configuration" => {
            crate::oidc::discovery_reply(&shared.base_url).classify(None, "slack.openid.discovery")
        }
        p if p.starts_with("/v1/") => crate::notion::handle(shared, inner, req),
        p if p.starts_with("/api/") => crate::slack::handle(shared, inner, req),
        _ => Reply::json(
            StatusCode::NOT_FOUND,
            &json!({"error": "not_found", "path": path}),
        ),
    }
}

/// The answer of a fault that is served instead of processing the request.
fn fault_reply(inner: &mut Inner, provider: Option<Provider>, kind: &FaultKind) -> Option<Reply> {
    let notion = provider == Some(Provider::Notion);
    let rid = inner.uuid();
    let slack_json = |status: StatusCode, body: &str| Reply {
        status,
        content_type: "application/json;charset=utf-8",
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
        app: None,
        op: None,
        ok: false,
    };
    let r = match kind {
        FaultKind::RateLimitedInBody { retry_after_secs } if !notion => {
            slack_json(StatusCode::OK, r#"{"ok":false,"error":"ratelimited"}"#)
                .with_header("retry-after", retry_after_secs.to_string())
        }
        FaultKind::RateLimited { retry_after_secs }
        | FaultKind::RateLimitedInBody { retry_after_secs } => {
            let r = if notion {
                crate::notion::envelope(
                    429,
                    "rate_limited",
                    "You have been rate limited. Please try again in a few minutes.",
                    &rid,
                )
            } else {
                slack_json(
                    StatusCode::TOO_MANY_REQUESTS,
                    r#"{"ok":false,"error":"ratelimited"}"#,
                )
            };
            r.with_header("retry-after", retry_after_secs.to_string())
        }
        FaultKind::Status { status } => {
            let st = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = if notion {
                let (code, msg) = match status {
                    503 => (
                        "service_unavailable",
                        "Notion is unavailable, please try again later.",
                    ),
                    504 => (
                        "gateway_timeout",
                        "Notion timed out while handling the request.",
                    ),
                    529 => (
                        "service_overload",
                        "Notion is overloaded, please try again later.",
                    ),
                    _ => ("internal_server_error", "Unexpected error occurred."),
                };
                crate::notion::envelope(*status, code, msg, &rid)
            } else {
                let code = if *status == 503 {
                    "service_unavailable"
                } else {
                    "internal_error"
                };
                slack_json(st, &format!(r#"{{"ok":false,"error":"{code}"}}"#))
            };
            r.status = st;
            if matches!(status, 503 | 529) {
                r = r.with_header("retry-after", "1".into());
            }
            r
        }
        FaultKind::TruncatedJson => {
            let body = if notion {
                r#"{"access_token":"ntn_31290125187aZ3qXx0trunc","token_type":"bearer","refresh_tok"#
            } else {
                r#"{"ok":true,"app_id":"A0SANDBOX01","access_token":"xoxe.xoxb-1-MS0yLTIy"#
            };
            slack_json(StatusCode::OK, body)
        }
        FaultKind::Html502 => Reply::html(
            StatusCode::BAD_GATEWAY,
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
             <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n\
             </body>\r\n</html>\r\n"
                .into(),
        ),
        FaultKind::Oversized => {
            let pad = "x".repeat(1_100_000);
            let v = if notion {
                json!({"access_token": "ntn_oversized", "token_type": "bearer", "refresh_token": "nrt_oversized", "sandbox_padding": pad, "request_id": rid})
            } else {
                json!({"ok": true, "warning": "sandbox_padding", "response_metadata": {"messages": [pad]}})
            };
            Reply::json(StatusCode::OK, &v)
        }
        FaultKind::UnknownErrorCode => {
            if notion {
                crate::notion::envelope(
                    400,
                    "sandbox_undocumented_error",
                    "An error code that no documentation lists.",
                    &rid,
                )
            } else {
                slack_json(
                    StatusCode::OK,
                    r#"{"ok":false,"error":"sandbox_undocumented_error"}"#,
                )
            }
        }
        FaultKind::Delay { .. }
        | FaultKind::DropBeforeProcessing
        | FaultKind::DropAfterProcessing
        | FaultKind::WrongContentType => return None,
    };
    Some(r)
}

fn to_response(reply: Reply) -> Response {
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() = reply.status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.append(name, v);
        }
    }
    resp
}

fn dropped() -> Response {
    let mut r = Response::new(Body::empty());
    r.extensions_mut().insert(DropConnection);
    r
}

/// The handler for every non-control path.
async fn provider_handler(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // The accept loop has read the body already, within the limits.
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return dropped();
    };
    let path = parts.uri.path().to_owned();
    let provider = provider_of(&path);
    let header = |n: http::header::HeaderName| {
        parts
            .headers
            .get(n)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let mut rec = RecordedRequest {
        seq: 0,
        time: 0,
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        authorization: header(http::header::AUTHORIZATION),
        content_type: header(http::header::CONTENT_TYPE),
        body: body.to_vec(),
        body_len: body.len(),
        provider,
        app: None,
        operation: None,
        status: None,
        fault: None,
    };
    let req = Req {
        method: parts.method,
        path,
        query: rec.query.clone(),
        headers: parts.headers,
        body,
    };

    let fault = {
        let mut inner = shared.lock();
        inner.expire_old_state();
        rec.time = inner.now();
        let fault = inner.take_fault(&req.path);
        if let Some(f) = &fault {
            rec.fault = Some(f.name().to_owned());
            if matches!(f, FaultKind::DropBeforeProcessing) {
                inner.record(rec);
                return dropped();
            }
            if let Some(reply) = fault_reply(&mut inner, provider, f) {
                rec.status = Some(reply.status.as_u16());
                inner.record(rec);
                return to_response(reply);
            }
        }
        fault
    };
    // Processing runs in a task of its own: a request that reached the server is processed (and
    // logged) even if the client gives up waiting, as on a real server. This is how a delayed
    // refresh whose client timed out still spends the refresh token.
    let drop_after = matches!(fault, Some(FaultKind::DropAfterProcessing));
    let delay = match &fault {
        Some(FaultKind::Delay { millis }) => Some(Duration::from_millis(*millis)),
        _ => None,
    };
    let processing = tokio::spawn(async move {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let mut inner = shared.lock();
        let reply = dispatch(&shared, &mut inner, &req);
        if let Some(op) = &reply.op {
            inner.count_op(reply.app.as_deref(), op, reply.ok);
        }
        rec.app.clone_from(&reply.app);
        rec.operation.clone_from(&reply.op);
        rec.status = (!drop_after).then_some(reply.status.as_u16());
        inner.record(rec);
        shared.flush_events(&mut inner);
        reply
    });
    let Ok(mut reply) = processing.await else {
        return dropped();
    };
    match fault {
        Some(FaultKind::DropAfterProcessing) => dropped(),
        Some(FaultKind::WrongContentType) => {
            reply.content_type = "text/html; charset=utf-8";
            to_response(reply)
        }
        _ => to_response(reply),
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    crate::control::routes()
        .fallback(provider_handler)
        .with_state(shared)
}

/// The accept loop: at most `limits.max_connections` connections served at once (one more gets a
/// 503 and is closed), each closed when its client takes longer than `limits.idle_timeout` to
/// send a request's head or `limits.body_timeout` to send its body; a body over
/// `limits.max_request_body_bytes` gets a 413. Stops when `stop` fires, letting in-flight
/// requests finish for at most 5 s.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let limits = shared.lock().limits.clone();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let inner = hyper_util::service::TowerToHyperService::new(router);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut stream, _)) = accepted else {
                    // Transient accept errors (e.g. too many open files): back off briefly.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let Some(admitted) = shared.connections.try_open(limits.max_connections) else {
                    tokio::spawn(async move {
                        let _ = stream.write_all(&connection_limit_reply()).await;
                        let _ = stream.shutdown().await;
                    });
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (inner, body_limits) = (inner.clone(), limits.clone());
                let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let inner = inner.clone();
                    let limits = body_limits.clone();
                    async move {
                        let req = match read_body(req, &limits).await {
                            Ok(req) => req,
                            Err(refusal) => return Ok(refusal),
                        };
                        let resp = hyper::service::Service::call(&inner, req)
                            .await
                            .map_err(|e| match e {})?;
                        if resp.extensions().get::<DropConnection>().is_some() {
                            return Err(Dropped);
                        }
                        Ok(resp)
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.idle_timeout)
                    .serve_connection(TokioIo::new(stream), svc);
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = watched.await;
                    drop(admitted);
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
}

/// The answer to a connection over `max_connections`, written without reading its request.
fn connection_limit_reply() -> Vec<u8> {
    let body = "the sandbox serves max_connections connections at once; retry";
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads a request's body within the body limits; a refusal is the response to send (408 or 413,
/// closing the connection).
async fn read_body(
    req: http::Request<hyper::body::Incoming>,
    limits: &Limits,
) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    let refusal = |status: StatusCode, text: &'static str| {
        let mut r = Response::new(Body::from(text));
        *r.status_mut() = status;
        r.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        r
    };
    let collected = tokio::time::timeout(
        limits.body_timeout,
        Limited::new(body, limits.max_request_body_bytes).collect(),
    )
    .await;
    match collected {
        Ok(Ok(body)) => Ok(Request::from_parts(parts, Body::from(body.to_bytes()))),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body over the sandbox's max_request_body_bytes",
            ))
        }
        Ok(Err(_)) => Err(refusal(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )),
        Err(_) => Err(refusal(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive within the sandbox's body_timeout",
        )),
    }
}
