//! The application's reqwest with `default-features = false` and only `json`: no TLS of its own.
//! `reqwest::Client::new()` must work (with `rustls-no-provider` unified in from a library, it
//! panics for want of a crypto provider) and its plain-HTTP request too; the facade's transport
//! still makes its HTTPS request.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let outcome = async {
        let servers = common::Servers::from_env()?;
        let client = reqwest::Client::new();
        let response = client.get(&servers.http_url).send().await;
        let response = response.map_err(|e| format!("the application's client: {e:?}"))?;
        let answer: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
        let expected: serde_json::Value =
            serde_json::from_str(common::ANSWER).map_err(|e| e.to_string())?;
        if answer != expected {
            return Err(format!("the application's client: unexpected answer {answer}"));
        }
        servers.check_our_transport().await
    };
    common::report("reqwest with default-features = false and json", outcome.await)
}
