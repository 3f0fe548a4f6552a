//! What every shape checks, and the test servers' addresses (from `cargo xtask tls-shapes`).

use oauth_facade::http::{HttpRequest, HttpTransport as _, ReqwestTransport};

/// The body both of xtask's servers answer with.
pub const ANSWER: &str = r#"{"shape":"ok"}"#;

/// Where xtask's servers listen and the authority that certified the TLS one.
pub struct Servers {
    /// `https://localhost:PORT/`, certified by `ca_der`.
    pub https_url: String,
    /// `http://127.0.0.1:PORT/`.
    pub http_url: String,
    /// The test certificate authority, DER.
    pub ca_der: Vec<u8>,
}

impl Servers {
    /// From the environment xtask sets.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        let ca = var("TLS_SHAPES_CA")?;
        Ok(Self {
            https_url: var("TLS_SHAPES_HTTPS_URL")?,
            http_url: var("TLS_SHAPES_HTTP_URL")?,
            ca_der: std::fs::read(&ca).map_err(|e| format!("cannot read {ca}: {e}"))?,
        })
    }

    /// The facade's own transport makes an HTTPS request to the TLS server.
    pub async fn check_our_transport(&self) -> Result<(), String> {
        let transport = ReqwestTransport::builder()
            .add_root_certificate(self.ca_der.clone())
            .build()
            .map_err(|e| format!("our transport cannot be built: {e}"))?;
        let mut request = HttpRequest::new(Default::default());
        *request.uri_mut() = self.https_url.parse().map_err(|e| format!("{e}"))?;
        let response = transport
            .send(request)
            .await
            .map_err(|e| format!("our transport: {e}"))?;
        expect("our transport", response.status().as_u16(), response.body())
    }
}

impl Servers {
    /// The application's own reqwest client (trusting the test authority, as an application
    /// would trust its own) makes an HTTPS request to the TLS server.
    pub async fn check_application_https(&self) -> Result<(), String> {
        let who = "the application's client";
        let ca = reqwest::Certificate::from_der(&self.ca_der).map_err(|e| format!("{who}: {e}"))?;
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .map_err(|e| format!("{who} cannot be built: {e}"))?;
        let response = client.get(&self.https_url).send().await;
        let response = response.map_err(|e| format!("{who}: {e:?}"))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| format!("{who}: {e}"))?;
        expect(who, status, &body)
    }
}

/// Checks an answer of xtask's servers.
pub fn expect(who: &str, status: u16, body: &[u8]) -> Result<(), String> {
    if status == 200 && body == ANSWER.as_bytes() {
        Ok(())
    } else {
        Err(format!(
            "{who}: unexpected answer {status} {:?}",
            String::from_utf8_lossy(body)
        ))
    }
}

/// Runs a shape's check and reports it the way xtask reads it (`shape ok: …` on stdout).
pub fn report(shape: &str, outcome: Result<(), String>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => {
            println!("shape ok: {shape}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shape {shape} failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
