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
    /// Seconds a new load balancer stays PENDING_CREATE.
    #[arg(long, env = "LOCALCLOUD_LB_SECONDS", default_value_t = 30.0)]
    lb_seconds: f64,
    /// Seconds a change under a load balancer keeps it PENDING_UPDATE.
    #[arg(long, env = "LOCALCLOUD_LB_UPDATE_SECONDS", default_value_t = 2.0)]
    lb_update_seconds: f64,
    /// Loopback range load balancer VIPs come from.
    #[arg(long, env = "LOCALCLOUD_VIP_RANGE", default_value = "127.0.100.0/22", value_parser = localcloud::parse_vip_range)]
    vip_range: (std::net::Ipv4Addr, u8),
    /// Loopback subnet of the shared private network: every server's address comes from
    /// it (outside 127.0.0.0/16 and the VIP range).
    #[arg(long, env = "LOCALCLOUD_SUBNET", default_value = localcloud::addresses::DEFAULT_SUBNET, value_parser = localcloud::addresses::parse_subnet)]
    subnet: localcloud::addresses::Cidr,
    /// The admin user's password. Default: a random one made at first start and kept in
    /// <data-dir>/admin.password (mode 0600), also written to clouds.yaml.
    #[arg(long, env = "LOCALCLOUD_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Project quotas, as KEY=VALUE (cores, ram [MiB], instances, server_groups,
    /// server_group_members, volumes, gigabytes, loadbalancer; -1 = unlimited).
    #[arg(long = "quota", env = "LOCALCLOUD_QUOTA", value_delimiter = ',')]
    quota: Vec<String>,
    /// Milliseconds added to every API call.
    #[arg(long, env = "LOCALCLOUD_API_LATENCY_MS", default_value_t = 0)]
    api_latency_ms: u64,
    /// Share (0..1) of API calls answered 500/503 without doing anything.
    #[arg(long, env = "LOCALCLOUD_ERROR_RATE", default_value_t = 0.0)]
    error_rate: f64,
    /// Share (0..1) of API calls that answer only after --timeout-seconds.
    #[arg(long, env = "LOCALCLOUD_TIMEOUT_RATE", default_value_t = 0.0)]
    timeout_rate: f64,
    #[arg(long, env = "LOCALCLOUD_TIMEOUT_SECONDS", default_value_t = 60.0)]
    timeout_seconds: f64,
    /// Share (0..1) of new servers that turn ERROR after --server-error-after-seconds.
    #[arg(long, env = "LOCALCLOUD_SERVER_ERROR_RATE", default_value_t = 0.0)]
    server_error_rate: f64,
    #[arg(
        long,
        env = "LOCALCLOUD_SERVER_ERROR_AFTER_SECONDS",
        default_value_t = 0.0
    )]
    server_error_after_seconds: f64,
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
    config.lb_delay = seconds(args.lb_seconds);
    config.lb_update_delay = seconds(args.lb_update_seconds);
    config.vip_range = args.vip_range;
    config.subnet = args.subnet;
    if let Some(pw) = args.admin_password.filter(|p| !p.is_empty()) {
        for u in config.users.iter_mut().filter(|u| u.admin) {
            u.password = Some(pw.clone());
        }
    }
    for kv in &args.quota {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--quota takes KEY=VALUE, not {kv}"))?;
        let v: i64 = v.trim().parse()?;
        config.quota.set(k.trim(), v).map_err(anyhow::Error::msg)?;
    }
    config.faults = localcloud::common::faults::Faults {
        api_latency_ms: args.api_latency_ms,
        error_rate: args.error_rate,
        timeout_rate: args.timeout_rate,
        timeout_seconds: args.timeout_seconds,
        server_error_rate: args.server_error_rate,
        server_error_after_seconds: args.server_error_after_seconds,
    };
    localcloud::common::faults::Behaviour::from_config(&config)
        .validate()
        .map_err(anyhow::Error::msg)?;
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
