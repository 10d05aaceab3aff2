//! `shipyard`: start the console.

use clap::Parser;
use server::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// glibc malloc took a fifth of a page view's CPU under load (perf); mimalloc's
/// per-thread heaps do not contend.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
    }
    let built = server::build(&config).await?;
    server::spawn_housekeeping(built.store.clone());
    let _workers = built.start_workers();
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    // Scripts and tests read this line to find the port.
    println!("Shipyard is listening on http://{addr}");
    tracing::info!(%addr, database = ?built.store.backend(), "listening");
    server::serve(listener, built.router).await
}
