//! The application's reqwest with `default-features = false` and `rustls`, beside the facade: the application's
//! client and the facade's transport both make HTTPS requests.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let outcome = async {
        let servers = common::Servers::from_env()?;
        servers.check_application_https().await?;
        servers.check_our_transport().await
    };
    common::report("reqwest with default-features = false and rustls", outcome.await)
}
