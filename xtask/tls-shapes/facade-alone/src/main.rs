//! The facade alone: its transport makes an HTTPS request.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let outcome = async {
        let servers = common::Servers::from_env()?;
        servers.check_our_transport().await
    };
    common::report("facade alone", outcome.await)
}
