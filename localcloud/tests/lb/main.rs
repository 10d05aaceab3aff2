//! Octavia in localcloud over real TCP: bodies in the published samples' shapes, the
//! PENDING_* state machine with its 409s, listeners that really forward to real TCP
//! backends, health monitors that really probe them, quotas, fault injection, and
//! listeners that bind again after a restart.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../common/mod.rs"]
mod common;
use common::*;

mod bad_input;
mod faults;
mod members;
mod persistence;
mod quotas;
mod states;
mod traffic;

/// A real TCP backend on a fixed IP of the cloud (as a server would be): answers every
/// connection with its name and closes.
struct Backend {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    async fn start(cloud: &Cloud, token: &str, name: &'static str) -> Backend {
        let ip = cloud.fixed_ip(token).await;
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let _ = s.write_all(name.as_bytes()).await;
                });
            }
        });
        Backend { addr, task }
    }

    /// Stops listening: connections to it are refused from now on.
    fn kill(self) {
        self.task.abort();
    }
}

/// What the load balancer's listener answers on one connection ("" when it closes).
async fn ask(vip: &str, port: u16) -> String {
    let Ok(Ok(mut s)) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((vip, port)),
    )
    .await
    else {
        return "refused".into();
    };
    let mut out = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out)).await;
    out
}

const LBAAS: &str = "/load-balancer/v2/lbaas";

async fn subnet(cloud: &Cloud, token: &str) -> String {
    let (_, body) = cloud.get("/network/v2.0/subnets", Some(token)).await;
    body["subnets"][0]["id"].as_str().unwrap().to_string()
}

async fn wait_for(
    cloud: &Cloud,
    token: &str,
    path: &str,
    key: &str,
    field: &str,
    want: &str,
) -> Value {
    for _ in 0..200 {
        let (status, body) = cloud.send(Method::GET, path, token, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        if body[key][field] == want {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never had {field} = {want}");
}

fn octavia_error(body: &Value) {
    assert!(
        body["faultstring"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert!(
        body["faultcode"] == "Client" || body["faultcode"] == "Server",
        "{body}"
    );
}

/// A load balancer with a TCP listener on `port`, a pool with `members` and a TCP
/// health monitor; returns (lb id, vip, pool id).
async fn balanced(
    cloud: &Cloud,
    token: &str,
    port: u16,
    members: &[SocketAddr],
) -> (String, String, String) {
    let subnet = subnet(cloud, token).await;
    let (s, lb) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/loadbalancers"),
            token,
            Some(json!({"loadbalancer": {
                "name": "api", "vip_subnet_id": subnet, "tags": ["shipyard", "cluster=c1"],
            }})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{lb}");
    assert_shape(
        &sample("octavia/loadbalancer-create-response.json"),
        &lb,
        "",
    );
    let lb_id = lb["loadbalancer"]["id"].as_str().unwrap().to_string();
    let vip = lb["loadbalancer"]["vip_address"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, l) = cloud
        .send(Method::POST, &format!("{LBAAS}/listeners"), token, Some(json!({"listener": {
            "name": "api-6443", "protocol": "TCP", "protocol_port": port, "loadbalancer_id": lb_id,
        }})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    assert_shape(&sample("octavia/listener-create-response.json"), &l, "");
    let listener = l["listener"]["id"].as_str().unwrap().to_string();
    let (s, p) = cloud
        .send(Method::POST, &format!("{LBAAS}/pools"), token, Some(json!({"pool": {
            "name": "masters", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "listener_id": listener,
        }})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_shape(&sample("octavia/pool-create-response.json"), &p, "");
    let pool = p["pool"]["id"].as_str().unwrap().to_string();
    for (i, m) in members.iter().enumerate() {
        let (s, body) = cloud
            .send(Method::POST, &format!("{LBAAS}/pools/{pool}/members"), token, Some(json!({"member": {
                "name": format!("m{i}"), "address": m.ip().to_string(), "protocol_port": m.port(),
            }})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_shape(&sample("octavia/member-create-response.json"), &body, "");
    }
    let (s, hm) = cloud
        .send(Method::POST, &format!("{LBAAS}/healthmonitors"), token, Some(json!({"healthmonitor": {
            "name": "tcp", "pool_id": pool, "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 1,
        }})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hm}");
    assert_shape(
        &sample("octavia/healthmonitor-create-response.json"),
        &hm,
        "",
    );
    (lb_id, vip, pool)
}
