//! localcloud at zero latency, measured in one run: Nova server create+delete per
//! second through the HTTP API, and TCP throughput through a load balancer listener
//! against a direct connection to the same member. Prints a Markdown section that
//! `bench/run.sh` puts into docs/BENCHMARKS.md.
//!
//! `cargo bench -p localcloud --bench localcloud` (env `BENCH_MIB` sets the bytes per
//! throughput round, default 512).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROUNDS: usize = 5;

struct Api {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("x-auth-token", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap_or(Value::Null)
    }
}

async fn connect(url: &str, password: &str) -> Api {
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{url}/identity/v3/auth/tokens"))
        .json(&json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}
        }}))
        .send()
        .await
        .expect("auth");
    let token = res.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_string();
    Api {
        url: url.to_string(),
        token,
        http,
    }
}

/// Create then delete `n` servers, `concurrency` at a time; returns pairs per second.
async fn servers_per_second(api: &Api, n: usize, concurrency: usize) -> f64 {
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        let batch = concurrency.min(n - done);
        let work = (0..batch).map(|i| async move {
            let created = api
                .send(
                    reqwest::Method::POST,
                    "/compute/v2.1/servers",
                    Some(
                        json!({"server": {"name": format!("bench-{i}"), "flavorRef": "1",
                        "imageRef": "ubuntu-22.04-k8s-v1.31", "networks": "none"}}),
                    ),
                )
                .await;
            let id = created["server"]["id"].as_str().expect("id").to_string();
            api.send(
                reqwest::Method::DELETE,
                &format!("/compute/v2.1/servers/{id}"),
                None,
            )
            .await;
        });
        futures_join(work).await;
        done += batch;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Runs the futures together on this task until all are done.
async fn futures_join<F: std::future::Future<Output = ()>>(futs: impl Iterator<Item = F>) {
    let mut pinned: Vec<_> = futs.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// A member on a fixed IP of the cloud (a port of the private network, as a server's NIC)
/// that reads everything sent to it and, at end of stream, answers how many bytes it got.
async fn sink(api: &Api) -> SocketAddr {
    let net = api
        .send(
            reqwest::Method::GET,
            "/network/v2.0/networks?name=private",
            None,
        )
        .await["networks"][0]["id"]
        .clone();
    let port = api
        .send(
            reqwest::Method::POST,
            "/network/v2.0/ports",
            Some(json!({"port": {"network_id": net, "name": "bench-sink"}})),
        )
        .await;
    let ip: std::net::Ipv4Addr = port["port"]["fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("fixed ip")
        .parse()
        .expect("ip");
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let mut buf = vec![0u8; 256 * 1024];
                let mut total: u64 = 0;
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n as u64,
                    }
                }
                let _ = s.write_all(&total.to_be_bytes()).await;
            });
        }
    });
    addr
}

/// Sends `bytes` to `addr` and waits for the member's count: MiB/s end to end.
async fn throughput(addr: SocketAddr, bytes: u64) -> f64 {
    let chunk = vec![7u8; 256 * 1024];
    let start = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = s.set_nodelay(true);
    let mut sent = 0;
    while sent < bytes {
        let n = chunk.len().min((bytes - sent) as usize);
        s.write_all(&chunk[..n]).await.expect("write");
        sent += n as u64;
    }
    s.shutdown().await.expect("shutdown");
    let mut count = [0u8; 8];
    s.read_exact(&mut count).await.expect("count");
    assert_eq!(u64::from_be_bytes(count), bytes, "every byte arrived");
    (bytes as f64 / (1024.0 * 1024.0)) / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("localcloud-bench-{}", std::process::id()));
    let mut config = localcloud::Config::new("127.0.0.1:0".parse().expect("addr"), &dir);
    config.server_build_delay = Duration::ZERO;
    config.volume_delay = Duration::ZERO;
    config.lb_delay = Duration::ZERO;
    config.lb_update_delay = Duration::ZERO;
    config.quota.instances = -1;
    config.quota.cores = -1;
    config.quota.ram_mib = -1;
    config.vip_range = (std::net::Ipv4Addr::new(127, 0, 104, 0), 24);
    let running = localcloud::start(config).await.expect("localcloud starts");
    let api = connect(&running.url, &running.admin().password).await;

    // Warm up, then measure sequential and concurrent create+delete.
    servers_per_second(&api, 50, 1).await;
    let seq = median(futures_rounds(&api, 1).await);
    let par = median(futures_rounds(&api, 8).await);

    // A load balancer whose listener forwards to the sink.
    let member = sink(&api).await;
    let subnet = api
        .send(reqwest::Method::GET, "/network/v2.0/subnets", None)
        .await["subnets"][0]["id"]
        .clone();
    let lb = api
        .send(
            reqwest::Method::POST,
            "/load-balancer/v2/lbaas/loadbalancers",
            Some(json!({"loadbalancer": {"name": "bench", "vip_subnet_id": subnet}})),
        )
        .await;
    let lb_id = lb["loadbalancer"]["id"].as_str().expect("lb").to_string();
    let vip: std::net::Ipv4Addr = lb["loadbalancer"]["vip_address"]
        .as_str()
        .expect("vip")
        .parse()
        .expect("ip");
    let listener = api
        .send(
            reqwest::Method::POST,
            "/load-balancer/v2/lbaas/listeners",
            Some(json!({"listener": {"protocol": "TCP", "protocol_port": 9000, "loadbalancer_id": lb_id}})),
        )
        .await;
    let pool = api
        .send(
            reqwest::Method::POST,
            "/load-balancer/v2/lbaas/pools",
            Some(
                json!({"pool": {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
                "listener_id": listener["listener"]["id"]}}),
            ),
        )
        .await;
    let pool_id = pool["pool"]["id"].as_str().expect("pool").to_string();
    api.send(
        reqwest::Method::POST,
        &format!("/load-balancer/v2/lbaas/pools/{pool_id}/members"),
        Some(
            json!({"member": {"address": member.ip().to_string(), "protocol_port": member.port()}}),
        ),
    )
    .await;
    let via_lb = SocketAddr::from((vip, 9000));
    let mib: u64 = std::env::var("BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let bytes = mib * 1024 * 1024;
    throughput(member, bytes / 8).await;
    throughput(via_lb, bytes / 8).await;
    let (mut direct, mut balanced) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        direct.push(throughput(member, bytes).await);
        balanced.push(throughput(via_lb, bytes).await);
    }
    let (direct, balanced) = (median(direct), median(balanced));
    let ratio = 100.0 * balanced / direct;
    running.stop();
    let _ = std::fs::remove_dir_all(&dir);

    println!("## localcloud at zero latency\n");
    println!("| what | result |\n| --- | ---: |");
    println!("| server create + delete, one at a time (Nova API over HTTP, median of {ROUNDS} × 100) | {seq:.0} pairs/s |");
    println!("| server create + delete, 8 at a time | {par:.0} pairs/s |");
    println!("| TCP to the member directly ({mib} MiB per round, median of {ROUNDS}) | {direct:.0} MiB/s |");
    println!("| TCP through the load balancer listener (VIP {vip}:9000 → member) | {balanced:.0} MiB/s |");
    let verdict = if ratio >= 50.0 { "met" } else { "**not met**" };
    println!("| **through the listener / direct** | **{ratio:.1} %** (goal ≥ 50 %: {verdict}) |");
}

async fn futures_rounds(api: &Api, concurrency: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..ROUNDS {
        out.push(servers_per_second(api, 100, concurrency).await);
    }
    out
}
