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
    /// Seconds a new server stays in BUILD before it is ACTIVE.
    #[arg(long, env = "LOCALCLOUD_SERVER_BUILD_SECONDS", default_value_t = 20.0)]
    server_build_seconds: f64,
    /// Seconds a new volume stays `creating` before it is `available`.
    #[arg(long, env = "LOCALCLOUD_VOLUME_SECONDS", default_value_t = 5.0)]
    volume_seconds: f64,
    /// Number of compute hosts.
    #[arg(long, env = "LOCALCLOUD_HOSTS", default_value_t = 6)]
    hosts: usize,
    /// vCPUs per host.
    #[arg(long, env = "LOCALCLOUD_HOST_VCPUS", default_value_t = 32)]
    host_vcpus: u64,
    /// RAM per host, in GiB.
    #[arg(long, env = "LOCALCLOUD_HOST_RAM_GIB", default_value_t = 128)]
    host_ram_gib: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = localcloud::Config::new(args.listen, &args.data_dir);
    let seconds = |s: f64| std::time::Duration::from_secs_f64(s.clamp(0.0, 86_400.0));
    config.server_build_delay = seconds(args.server_build_seconds);
    config.volume_delay = seconds(args.volume_seconds);
    config.hosts = (1..=args.hosts.clamp(1, 1000))
        .map(|i| localcloud::HostConfig {
            name: format!("host-{i}"),
            vcpus: args.host_vcpus,
            ram_mib: args.host_ram_gib * 1024,
        })
        .collect();
    let running = localcloud::start(config).await?;
    println!("localcloud is listening on {}", running.url);
    println!(
        "clouds.yaml: {}",
        args.data_dir.join("clouds.yaml").display()
    );
    tokio::signal::ctrl_c().await?;
    running.stop();
    Ok(())
}
