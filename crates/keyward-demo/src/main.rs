//! `cargo run -p keyward-demo`: parses the flags and serves the demo site.

use keyward_demo::config::{USAGE, VERSION};
use keyward_demo::{Config, ConfigError, build_app, serve};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt().with_target(false).with_ansi(terminal).init();
    let mut config = match Config::from_args(std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(ConfigError::Usage(text)) if text == USAGE || text == VERSION => {
            println!("{text}");
            return std::process::ExitCode::SUCCESS;
        }
        Err(ConfigError::Usage(text)) => {
            eprintln!("{text}");
            return std::process::ExitCode::from(2);
        }
        Err(e) => {
            tracing::error!(error = %e, "configuration");
            return std::process::ExitCode::FAILURE;
        }
    };
    let addr = config.addr;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%addr, error = %e, "cannot listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    // With port 0 the system picks one: the site's URLs use the real one.
    if let Ok(bound) = listener.local_addr() {
        config.addr = bound;
    }
    let base = config.base_url();
    let limits = config.limits.clone();
    let app = match build_app(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!("Keyward demo on {base} (Ctrl-C stops it)");
    match serve(listener, app, &limits).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server");
            std::process::ExitCode::FAILURE
        }
    }
}
