//! `localcloud`: serve the local OpenStack-compatible cloud.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// An OpenStack-API-compatible cloud on one machine.
#[derive(Parser)]
#[command(name = "localcloud", version, about)]
struct Args {
    /// Address to serve on.
    #[arg(long, env = "LOCALCLOUD_LISTEN", default_value = "127.0.0.1:5000")]
    listen: SocketAddr,
    /// Directory for state and the generated clouds.yaml.
    #[arg(long, env = "LOCALCLOUD_DATA_DIR", default_value = "data/localcloud")]
    data_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let running = localcloud::start(localcloud::Config::new(args.listen, &args.data_dir)).await?;
    println!("localcloud is listening on {}", running.url);
    println!(
        "clouds.yaml: {}",
        args.data_dir.join("clouds.yaml").display()
    );
    tokio::signal::ctrl_c().await?;
    running.stop();
    Ok(())
}
