//! The application's reqwest with `rustls-no-provider`, and ring installed as the process's crypto
//! provider as reqwest asks: the application's client and the facade's transport (which takes the
//! installed provider) both make HTTPS requests.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let outcome = async {
        rustls::crypto::ring::default_provider()
            .install_default()
            .map_err(|_| "a crypto provider was already installed".to_owned())?;
        let servers = common::Servers::from_env()?;
        servers.check_application_https().await?;
        servers.check_our_transport().await
    };
    common::report("reqwest with rustls-no-provider and ring installed", outcome.await)
}
