//! `ReqwestTransport` over real TLS on loopback: a tokio-rustls server (ring provider) with a
//! certificate authority and leaf certificates made at test time by rcgen.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use oauth_core::http::{
    Call, HttpClient, HttpRequest, HttpTransport, Idempotency, ReqwestTransport, classify_status,
};
use oauth_core::{Error, ErrorKind, ProviderId, RequestSent, TransportError, TransportErrorKind};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use oauth_testkit::{FakeServer, Handshake, Reply};

/// A certificate authority of our own, trusted by no system.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "oauth-core test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }

    /// A server configuration (ring provider, ALPN `http/1.1`) presenting a leaf certificate for
    /// `names`, signed by this CA, optionally changed by `adjust` before signing.
    fn server(
        &self,
        names: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> rustls::ServerConfig {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "oauth-core test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        adjust(&mut params);
        let key = KeyPair::generate().unwrap();
        let leaf = params.signed_by(&key, &self.issuer).unwrap();
        let chain: Vec<CertificateDer<'static>> =
            vec![leaf.der().clone(), self.issuer.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }
}

fn transport(trusted: Option<&TestCa>) -> ReqwestTransport {
    let mut builder = ReqwestTransport::builder()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(5));
    if let Some(ca) = trusted {
        builder = builder.add_root_certificate(ca.der());
    }
    builder.build().unwrap()
}

fn request(url: &str) -> HttpRequest {
    http::Request::post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from_static(b"grant_type=refresh_token"))
        .unwrap()
}

#[tokio::test]
async fn a_server_certified_by_an_added_root_is_reached_end_to_end() {
    let ca = TestCa::new();
    let server = FakeServer::start_tls(
        vec![
            Reply::json(200, r#"{"ok":true,"over":"ip"}"#),
            Reply::json(200, r#"{"ok":true,"over":"name"}"#),
        ],
        ca.server(&["localhost", "127.0.0.1"], |_| {}),
    )
    .await;
    let transport = transport(Some(&ca));

    // By address (no SNI is sent for an IP address) and by name (SNI `localhost`).
    let cases = [
        (
            server.url("/api/oauth.v2.access"),
            r#"{"ok":true,"over":"ip"}"#,
            None,
        ),
        (
            server.localhost_url("/api/oauth.v2.access"),
            r#"{"ok":true,"over":"name"}"#,
            Some("localhost"),
        ),
    ];
    for (url, body, _) in &cases {
        let response = transport.send(request(url)).await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.body().as_ref(), body.as_bytes(), "{url}");
    }

    let requests = server.requests();
    assert_eq!(requests.len(), 2, "the server saw both requests");
    for seen in &requests {
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.path, "/api/oauth.v2.access");
        assert_eq!(seen.body, b"grant_type=refresh_token");
    }
    // The server offers h2 first: the client must have offered only HTTP/1.1.
    let expected: Vec<Handshake> = cases
        .iter()
        .map(|(_, _, sni)| Handshake {
            sni: sni.map(str::to_owned),
            alpn: Some(b"http/1.1".to_vec()),
        })
        .collect();
    assert_eq!(server.handshakes(), expected);
    // The transport's provider (aws-lc-rs, reqwest's default) was not installed for the whole
    // process: the application's choice stays open.
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
}

/// Checks a refused handshake: a connect error, the request not sent, a message that names the
/// certificate problem and what to do, and a server that never saw a request.
async fn assert_refused(
    case: &str,
    server: &FakeServer,
    transport: &ReqwestTransport,
    says: &[&str],
) {
    let error: TransportError = transport
        .send(request(&server.url("/token")))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{case}: {error}");
    assert_eq!(error.request_sent(), RequestSent::No, "{case}: {error}");
    let message = error.to_string();
    assert!(
        message.starts_with("could not connect: "),
        "{case}: {message}"
    );
    for needle in says {
        assert!(
            message.contains(needle),
            "{case}: {message:?} lacks {needle:?}"
        );
    }
    assert!(
        std::error::Error::source(&error).is_some(),
        "{case}: the cause is kept"
    );
    assert!(
        server.requests().is_empty(),
        "{case}: a request reached the server"
    );
    assert!(
        server.handshakes().is_empty(),
        "{case}: a handshake completed"
    );
    assert_eq!(server.failed_handshakes(1).await, 1, "{case}");
}

#[tokio::test]
async fn a_server_certified_by_an_unknown_authority_is_refused_before_the_request_is_sent() {
    let ca = TestCa::new();
    let server =
        FakeServer::start_tls(vec![], ca.server(&["localhost", "127.0.0.1"], |_| {})).await;
    assert_refused(
        "unknown authority",
        &server,
        &transport(None),
        &[
            "certificate was refused",
            "UnknownIssuer",
            "add_root_certificate",
        ],
    )
    .await;
}

#[tokio::test]
async fn an_expired_or_wrong_host_certificate_is_refused_even_from_a_trusted_authority() {
    let ca = TestCa::new();
    let expired = ca.server(&["localhost", "127.0.0.1"], |params| {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    });
    let elsewhere = ca.server(&["oauth.example"], |_| {});
    for (case, config, says) in [
        ("expired", expired, "certificate expired"),
        ("wrong host", elsewhere, "not valid for name"),
    ] {
        let server = FakeServer::start_tls(vec![], config).await;
        assert_refused(
            case,
            &server,
            &transport(Some(&ca)),
            &["certificate was refused", says, "check the endpoint"],
        )
        .await;
    }
}

#[tokio::test]
async fn a_refused_handshake_lets_a_single_use_grant_be_retried_as_never_sent() {
    let ca = TestCa::new();
    let server =
        FakeServer::start_tls(vec![], ca.server(&["localhost", "127.0.0.1"], |_| {})).await;
    let policy = oauth_testkit::fast_retry_policy!();
    let client = HttpClient::new(Arc::new(transport(None)), policy);
    let call = Call::new(
        ProviderId::from_static("test"),
        "token",
        Idempotency::SingleUse,
    );
    let error = client
        .execute(&call, request(&server.url("/token")), classify_status)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport, "{error}");
    let Error::Transport { source, .. } = &error else {
        panic!("not a transport error: {error:?}");
    };
    assert_eq!(source.request_sent(), RequestSent::No);
    assert!(
        error.to_string().contains("certificate was refused"),
        "{error}"
    );
    // Three handshakes, each refused before the grant was written: nothing was spent.
    assert_eq!(server.failed_handshakes(3).await, 3);
    assert!(server.requests().is_empty());
}

#[test]
fn a_root_that_is_not_a_der_certificate_fails_the_build_with_a_configuration_error() {
    let der = TestCa::new().der();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    );
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("PEM instead of DER", pem.into_bytes()),
        ("garbage", b"not a certificate".to_vec()),
    ] {
        let error = ReqwestTransport::builder()
            .add_root_certificate(bytes)
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration, "{name}: {error}");
        let message = error.to_string();
        assert!(
            message.contains("root certificate #1") && message.contains("DER"),
            "{name}: {message}"
        );
    }
}
