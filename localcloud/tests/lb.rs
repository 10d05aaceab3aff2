//! Octavia in localcloud over real TCP: bodies in the published samples' shapes, the
//! PENDING_* state machine with its 409s, listeners that really forward to real TCP
//! backends, health monitors that really probe them, quotas, fault injection, and
//! listeners that bind again after a restart.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::*;

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

#[tokio::test]
async fn listeners_forward_tcp_round_robin_to_healthy_members() {
    let cloud = Cloud::start_with(|c| {
        c.lb_delay = Duration::ZERO;
        c.lb_update_delay = Duration::ZERO;
    })
    .await;
    let token = cloud.token().await;
    let a = Backend::start(&cloud, &token, "A").await;
    let b = Backend::start(&cloud, &token, "B").await;
    let (lb, vip, pool) = balanced(&cloud, &token, 6443, &[a.addr, b.addr]).await;
    assert!(vip.starts_with("127."), "{vip}");

    // Both members come ONLINE once probed; connections alternate between them.
    for _ in 0..100 {
        let (_, st) = cloud
            .send(
                Method::GET,
                &format!("{LBAAS}/loadbalancers/{lb}/status"),
                &token,
                None,
            )
            .await;
        let members = &st["statuses"]["loadbalancer"]["listeners"][0]["pools"][0]["members"];
        if members
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["operating_status"] == "ONLINE"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, st) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{lb}/status"),
            &token,
            None,
        )
        .await;
    assert_shape(
        &sample("octavia/loadbalancer-status-response.json"),
        &st,
        "",
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(ask(&vip, 6443).await);
    }
    seen.sort();
    assert_eq!(seen, ["A", "A", "B", "B"], "round robin over both members");

    // Shapes of show and list.
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{lb}"),
            &token,
            None,
        )
        .await;
    assert_shape(
        &sample("octavia/loadbalancer-show-response.json"),
        &body,
        "",
    );
    assert_eq!(body["loadbalancer"]["provisioning_status"], "ACTIVE");
    for (path, file) in [
        ("loadbalancers", "loadbalancers-list-response.json"),
        ("listeners", "listeners-list-response.json"),
        ("pools", "pools-list-response.json"),
        ("healthmonitors", "healthmonitors-list-response.json"),
    ] {
        let (_, body) = cloud
            .send(Method::GET, &format!("{LBAAS}/{path}"), &token, None)
            .await;
        assert_shape(&sample(&format!("octavia/{file}")), &body, "");
    }
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/pools/{pool}/members"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("octavia/members-list-response.json"), &body, "");

    // Tag filters: all of `tags`, any of `tags-any`.
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers?tags=shipyard,cluster=c1"),
            &token,
            None,
        )
        .await;
    assert_eq!(body["loadbalancers"].as_array().unwrap().len(), 1);
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers?tags=shipyard,cluster=c2"),
            &token,
            None,
        )
        .await;
    assert_eq!(body["loadbalancers"].as_array().unwrap().len(), 0);
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers?tags-any=cluster=c2,shipyard"),
            &token,
            None,
        )
        .await;
    assert_eq!(body["loadbalancers"].as_array().unwrap().len(), 1);

    // B dies: the monitor marks it ERROR and every connection goes to A.
    b.kill();
    let mut degraded = false;
    for _ in 0..100 {
        let (_, p) = cloud
            .send(Method::GET, &format!("{LBAAS}/pools/{pool}"), &token, None)
            .await;
        if p["pool"]["operating_status"] == "DEGRADED" {
            degraded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        degraded,
        "pool becomes DEGRADED when a member stops answering"
    );
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{lb}"),
            &token,
            None,
        )
        .await;
    assert_eq!(body["loadbalancer"]["operating_status"], "DEGRADED");
    for _ in 0..4 {
        assert_eq!(ask(&vip, 6443).await, "A");
    }

    // Cascade delete unbinds the port.
    let (s, _) = cloud
        .send(
            Method::DELETE,
            &format!("{LBAAS}/loadbalancers/{lb}?cascade=true"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{lb}"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    octavia_error(&body);
    assert_eq!(ask(&vip, 6443).await, "refused");
    let (_, body) = cloud
        .send(Method::GET, &format!("{LBAAS}/pools"), &token, None)
        .await;
    assert_eq!(body["pools"], json!([]), "children went with it");
    a.kill();
    cloud.running.stop();
}

#[tokio::test]
async fn pending_states_refuse_changes_with_409() {
    let cloud = Cloud::start_with(|c| {
        c.lb_delay = Duration::from_millis(1500);
        c.lb_update_delay = Duration::from_millis(1500);
    })
    .await;
    let token = cloud.token().await;
    let subnet = subnet(&cloud, &token).await;
    let (s, lb) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/loadbalancers"),
            &token,
            Some(json!({"loadbalancer": {"name": "slow", "vip_subnet_id": subnet}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(lb["loadbalancer"]["provisioning_status"], "PENDING_CREATE");
    assert_eq!(lb["loadbalancer"]["operating_status"], "OFFLINE");
    let id = lb["loadbalancer"]["id"].as_str().unwrap().to_string();
    let listener =
        json!({"listener": {"protocol": "TCP", "protocol_port": 8443, "loadbalancer_id": id}});
    let (s, body) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/listeners"),
            &token,
            Some(listener.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    octavia_error(&body);
    let (s, _) = cloud
        .send(
            Method::DELETE,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "no delete while PENDING_CREATE");

    wait_for(
        &cloud,
        &token,
        &format!("{LBAAS}/loadbalancers/{id}"),
        "loadbalancer",
        "provisioning_status",
        "ACTIVE",
    )
    .await;
    let (s, l) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/listeners"),
            &token,
            Some(listener),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    assert_eq!(l["listener"]["provisioning_status"], "PENDING_CREATE");
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        body["loadbalancer"]["provisioning_status"],
        "PENDING_UPDATE"
    );
    let (s, body) = cloud
        .send(
            Method::PUT,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            Some(json!({"loadbalancer": {"name": "renamed"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    wait_for(
        &cloud,
        &token,
        &format!("{LBAAS}/loadbalancers/{id}"),
        "loadbalancer",
        "provisioning_status",
        "ACTIVE",
    )
    .await;
    let (s, body) = cloud
        .send(
            Method::PUT,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            Some(json!({"loadbalancer": {"name": "renamed"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["loadbalancer"]["name"], "renamed");
    assert_eq!(
        body["loadbalancer"]["provisioning_status"],
        "PENDING_UPDATE"
    );
    wait_for(
        &cloud,
        &token,
        &format!("{LBAAS}/loadbalancers/{id}"),
        "loadbalancer",
        "provisioning_status",
        "ACTIVE",
    )
    .await;

    // With children, delete needs cascade; then PENDING_DELETE, then gone.
    let (s, body) = cloud
        .send(
            Method::DELETE,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    octavia_error(&body);
    let (s, _) = cloud
        .send(
            Method::DELETE,
            &format!("{LBAAS}/loadbalancers/{id}?cascade=true"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, body) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        body["loadbalancer"]["provisioning_status"],
        "PENDING_DELETE"
    );
    let mut gone = false;
    for _ in 0..100 {
        let (s, _) = cloud
            .send(
                Method::GET,
                &format!("{LBAAS}/loadbalancers/{id}"),
                &token,
                None,
            )
            .await;
        if s == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone);
    cloud.running.stop();
}

#[tokio::test]
async fn bad_load_balancer_requests_change_nothing() {
    let cloud = Cloud::start_with(|c| {
        c.lb_delay = Duration::ZERO;
        c.lb_update_delay = Duration::ZERO;
    })
    .await;
    let token = cloud.token().await;
    let subnet = subnet(&cloud, &token).await;
    let url = format!("{}{LBAAS}/loadbalancers", cloud.running.url);
    for raw in [
        &b"{not json"[..],
        b"\xff\xfe",
        b"[]",
        b"{}",
        br#"{"loadbalancer": {"name": 5}}"#,
    ] {
        let res = cloud
            .http
            .post(&url)
            .header("x-auth-token", &token)
            .body(raw.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        octavia_error(&res.json().await.unwrap());
    }
    let long = "x".repeat(256);
    for body in [
        json!({"loadbalancer": {"name": "no-vip"}}),
        json!({"loadbalancer": {"name": long, "vip_subnet_id": subnet}}),
        json!({"loadbalancer": {"vip_subnet_id": "no-such-subnet"}}),
        json!({"loadbalancer": {"vip_subnet_id": subnet, "vip_address": "10.1.2.3"}}),
        json!({"loadbalancer": {"vip_subnet_id": subnet, "tags": [""]}}),
    ] {
        let (s, b) = cloud
            .send(
                Method::POST,
                &format!("{LBAAS}/loadbalancers"),
                &token,
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} → {b}");
        octavia_error(&b);
    }
    let (_, list) = cloud
        .send(Method::GET, &format!("{LBAAS}/loadbalancers"), &token, None)
        .await;
    assert_eq!(list["loadbalancers"], json!([]), "nothing was made");

    let (_, lb) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/loadbalancers"),
            &token,
            Some(json!({"loadbalancer": {"vip_subnet_id": subnet}})),
        )
        .await;
    let id = lb["loadbalancer"]["id"].as_str().unwrap();
    for (port, proto) in [
        (json!(0), "TCP"),
        (json!(70000), "TCP"),
        (json!("x"), "TCP"),
        (json!(80), "SCTP"),
    ] {
        let (s, b) = cloud
            .send(Method::POST, &format!("{LBAAS}/listeners"), &token, Some(json!({"listener": {"protocol": proto, "protocol_port": port, "loadbalancer_id": id}})))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{port} {proto} → {b}");
    }
    let (s, _) = cloud
        .send(Method::POST, &format!("{LBAAS}/listeners"), &token, Some(json!({"listener": {"protocol": "TCP", "protocol_port": 80, "loadbalancer_id": "nope"}})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/pools/nope/members"),
            &token,
            Some(json!({"member": {"address": "127.0.0.1", "protocol_port": 80}})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = cloud
        .send(Method::POST, &format!("{LBAAS}/pools"), &token, Some(json!({"pool": {"protocol": "TCP", "lb_algorithm": "RANDOM", "loadbalancer_id": id}})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, p) = cloud
        .send(Method::POST, &format!("{LBAAS}/pools"), &token, Some(json!({"pool": {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": id}})))
        .await;
    let pool = p["pool"]["id"].as_str().unwrap();
    for member in [
        json!({"address": "not-an-ip", "protocol_port": 80}),
        json!({"address": "127.0.0.1", "protocol_port": -1}),
        json!({"address": "127.0.0.1", "protocol_port": 80, "weight": 1000}),
    ] {
        let (s, b) = cloud
            .send(
                Method::POST,
                &format!("{LBAAS}/pools/{pool}/members"),
                &token,
                Some(json!({"member": member})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    }
    let (s, _) = cloud
        .send(Method::POST, &format!("{LBAAS}/healthmonitors"), &token, Some(json!({"healthmonitor": {"pool_id": pool, "type": "TCP", "delay": 1, "timeout": 5, "max_retries": 1}})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "timeout longer than delay");
    let (_, members) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/pools/{pool}/members"),
            &token,
            None,
        )
        .await;
    assert_eq!(members["members"], json!([]));
    let (_, l) = cloud
        .send(Method::GET, &format!("{LBAAS}/listeners"), &token, None)
        .await;
    assert_eq!(l["listeners"], json!([]));
    // No token: 401 in Octavia's shape.
    let res = cloud.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    octavia_error(&res.json().await.unwrap());
    cloud.running.stop();
}

#[tokio::test]
async fn listeners_bind_again_after_a_restart() {
    let dir = tempdir::Dir::new();
    let vips = random_vip_range();
    let subnet = localcloud::addresses::random_subnet();
    let config = |d: &std::path::Path| {
        let mut c = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), d);
        c.lb_delay = Duration::ZERO;
        c.lb_update_delay = Duration::ZERO;
        c.vip_range = vips;
        c.subnet = subnet;
        c
    };
    let first = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: reqwest::Client::new(),
    };
    let token = first.token().await;
    let backend = Backend::start(&first, &token, "kept").await;
    let (lb, vip, _) = balanced(&first, &token, 7443, &[backend.addr]).await;
    let mut answered = false;
    for _ in 0..100 {
        if ask(&vip, 7443).await == "kept" {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered);
    first.running.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        ask(&vip, 7443).await,
        "refused",
        "stopped cloud closes its listeners"
    );

    let second = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: reqwest::Client::new(),
    };
    let token = second.token().await;
    let (_, body) = second
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{lb}"),
            &token,
            None,
        )
        .await;
    assert_eq!(body["loadbalancer"]["vip_address"], vip.as_str());
    let mut answered = false;
    for _ in 0..100 {
        if ask(&vip, 7443).await == "kept" {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        answered,
        "the listener binds again and forwards after a restart"
    );
    second.running.stop();
    backend.kill();
}

#[tokio::test]
async fn quotas_limits_and_their_errors() {
    let cloud = Cloud::start_with(|c| {
        c.lb_delay = Duration::ZERO;
        c.lb_update_delay = Duration::ZERO;
        c.server_build_delay = Duration::ZERO;
        c.volume_delay = Duration::ZERO;
        c.users.push(localcloud::UserConfig {
            name: "tenant".into(),
            password: Some("secret".into()),
            project: "tenant".into(),
            admin: false,
        });
    })
    .await;
    let token = cloud.token().await;
    let project = cloud.project_id().await;

    let (s, limits) = cloud
        .send(Method::GET, "/compute/v2.1/limits", &token, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_shape(&sample("nova/limit-get-resp.json"), &limits, "");
    let (_, q) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/os-quota-sets/{project}"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("nova/quotas-show-get-resp.json"), &q, "");
    let (_, q) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/os-quota-sets/{project}/detail"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("nova/quotas-show-detail-get-resp.json"), &q, "");
    let (_, q) = cloud
        .send(
            Method::GET,
            &format!("/volume/v3/{project}/os-quota-sets/{project}?usage=true"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("cinder/quotas-show-usage-response.json"), &q, "");
    let (_, q) = cloud
        .send(
            Method::GET,
            &format!("/volume/v3/{project}/os-quota-sets/{project}"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("cinder/quotas-show-response.json"), &q, "");
    let (_, l) = cloud
        .send(
            Method::GET,
            &format!("/volume/v3/{project}/limits"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("cinder/limits-show-response.json"), &l, "");
    let (_, q) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/quotas/{project}"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("octavia/quotas-show-response.json"), &q, "");

    // Tight quotas, set through each service's own API.
    let (s, b) = cloud
        .send(
            Method::PUT,
            &format!("/compute/v2.1/os-quota-sets/{project}"),
            &token,
            Some(json!({"quota_set": {"cores": 3}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["quota_set"]["cores"], 3);
    let (s, _) = cloud
        .send(
            Method::PUT,
            &format!("/volume/v3/{project}/os-quota-sets/{project}"),
            &token,
            Some(json!({"quota_set": {"gigabytes": 10}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = cloud
        .send(
            Method::PUT,
            &format!("{LBAAS}/quotas/{project}"),
            &token,
            Some(json!({"quota": {"loadbalancer": 1}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = cloud
        .send(
            Method::PUT,
            &format!("/compute/v2.1/os-quota-sets/{project}"),
            &token,
            Some(json!({"quota_set": {"cores": "many"}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

    let server = |flavor: &str| json!({"server": {"name": "q", "flavorRef": flavor, "imageRef": "ubuntu-22.04-k8s-v1.31", "networks": "auto"}});
    let (s, _) = cloud
        .send(
            Method::POST,
            "/compute/v2.1/servers",
            &token,
            Some(server("3")),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "2 of 3 cores");
    let (s, b) = cloud
        .send(
            Method::POST,
            "/compute/v2.1/servers",
            &token,
            Some(server("3")),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(
        b["forbidden"]["message"]
            .as_str()
            .unwrap()
            .contains("Quota exceeded for cores"),
        "{b}"
    );
    let (_, limits) = cloud
        .send(Method::GET, "/compute/v2.1/limits", &token, None)
        .await;
    assert_eq!(limits["limits"]["absolute"]["totalCoresUsed"], 2);
    assert_eq!(limits["limits"]["absolute"]["maxTotalCores"], 3);

    let vol = |size: u64| json!({"volume": {"size": size, "name": "v"}});
    let (s, _) = cloud
        .send(
            Method::POST,
            &format!("/volume/v3/{project}/volumes"),
            &token,
            Some(vol(8)),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, b) = cloud
        .send(
            Method::POST,
            &format!("/volume/v3/{project}/volumes"),
            &token,
            Some(vol(8)),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert!(
        b["overLimit"]["message"]
            .as_str()
            .unwrap()
            .contains("gigabytes quota"),
        "{b}"
    );

    let subnet = subnet(&cloud, &token).await;
    let lb = json!({"loadbalancer": {"vip_subnet_id": subnet}});
    let (s, _) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/loadbalancers"),
            &token,
            Some(lb.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/loadbalancers"),
            &token,
            Some(lb),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    octavia_error(&b);

    // A tenant may read its own quota but not change it, nor read hosts.
    let res = cloud.auth("tenant", "secret", "tenant").await;
    let tenant = res.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = res.json().await.unwrap();
    let tenant_project = body["token"]["project"]["id"].as_str().unwrap().to_string();
    let (s, _) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/os-quota-sets/{tenant_project}"),
            &tenant,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = cloud
        .send(
            Method::PUT,
            &format!("/compute/v2.1/os-quota-sets/{tenant_project}"),
            &tenant,
            Some(json!({"quota_set": {"cores": 1000}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/os-quota-sets/{project}"),
            &tenant,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = cloud
        .send(
            Method::GET,
            "/compute/v2.1/os-hypervisors/detail",
            &tenant,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = cloud
        .send(
            Method::PUT,
            "/admin/behaviour",
            &tenant,
            Some(json!({"error_rate": 1.0})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    cloud.running.stop();
}

#[tokio::test]
async fn injected_faults_in_each_services_shape() {
    let cloud = Cloud::start_with(|c| {
        c.server_build_delay = Duration::ZERO;
    })
    .await;
    let token = cloud.token().await;
    let project = cloud.project_id().await;
    let (s, b) = cloud
        .send(Method::GET, "/admin/behaviour", &token, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["error_rate"], 0.0);
    for bad in [
        json!({"error_rate": 2.0}),
        json!({"nonsense": 1}),
        json!({"lb_seconds": -1}),
    ] {
        let (s, _) = cloud
            .send(Method::PUT, "/admin/behaviour", &token, Some(bad))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
    let (s, b) = cloud
        .send(
            Method::PUT,
            "/admin/behaviour",
            &token,
            Some(json!({"error_rate": 1.0})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = cloud
        .send(Method::GET, "/compute/v2.1/flavors", &token, None)
        .await;
    assert!(s.is_server_error(), "{s}");
    let fault = b.as_object().unwrap().values().next().unwrap();
    assert!(
        fault["message"].as_str().unwrap().contains("Injected"),
        "{b}"
    );
    let (s, b) = cloud
        .send(Method::GET, &format!("{LBAAS}/loadbalancers"), &token, None)
        .await;
    assert!(s.is_server_error());
    assert_eq!(b["faultcode"], "Server");
    let (s, _) = cloud
        .send(
            Method::GET,
            &format!("/volume/v3/{project}/volumes"),
            &token,
            None,
        )
        .await;
    assert!(s.is_server_error());
    // Keystone is never made flaky, and nothing was created by a refused call.
    assert!(!cloud.token().await.is_empty());
    let (s, _) = cloud.send(Method::POST, "/compute/v2.1/servers", &token, Some(json!({"server": {"name": "x", "flavorRef": "1", "imageRef": "ubuntu-22.04-k8s-v1.31"}}))).await;
    assert!(s.is_server_error());
    let (s, _) = cloud.send(Method::PUT, "/admin/behaviour", &token, Some(json!({"error_rate": 0.0, "server_error_rate": 1.0, "server_error_after_seconds": 0.2}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = cloud
        .send(Method::GET, "/compute/v2.1/servers", &token, None)
        .await;
    assert_eq!(
        list["servers"],
        json!([]),
        "the refused create made nothing"
    );

    // A server that turns ERROR after a while, with a fault in Nova's shape.
    let (s, b) = cloud.send(Method::POST, "/compute/v2.1/servers", &token, Some(json!({"server": {"name": "doomed", "flavorRef": "1", "imageRef": "ubuntu-22.04-k8s-v1.31"}}))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["server"]["id"].as_str().unwrap();
    let (_, shown) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(shown["server"]["status"], "ACTIVE");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, shown) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(shown["server"]["status"], "ERROR");
    assert!(shown["server"]["fault"]["message"]
        .as_str()
        .unwrap()
        .contains("Injected"));
    cloud.running.stop();
}

/// Members are the cloud's own addresses: anything else is Octavia's 400 and nothing is
/// stored; a member whose subnet went from under it is ERROR, says why, and is never
/// dialled, so its listener closes connections instead of forwarding them.
#[tokio::test]
async fn members_outside_the_clouds_subnets_are_refused_and_never_dialled() {
    let cloud = Cloud::start_with(|c| {
        c.lb_delay = Duration::ZERO;
        c.lb_update_delay = Duration::ZERO;
    })
    .await;
    let token = cloud.token().await;
    let backend = Backend::start(&cloud, &token, "inside").await;
    let (lb, vip, pool) = balanced(&cloud, &token, 8443, &[backend.addr]).await;
    let members = format!("{LBAAS}/pools/{pool}/members");
    wait_for(
        &cloud,
        &token,
        &format!("{LBAAS}/loadbalancers/{lb}"),
        "loadbalancer",
        "provisioning_status",
        "ACTIVE",
    )
    .await;
    let subnet = cloud.running.cloud.config.subnet;
    // A host of the private subnet that no port holds is still the cloud's own.
    let spare = std::net::Ipv4Addr::from(subnet.last() - 1);
    for (address, why) in [
        ("10.0.0.5", "not on loopback"),
        ("192.168.1.10", "not on loopback"),
        ("8.8.8.8", "not on loopback"),
        ("127.0.0.1", "none of this cloud's subnets"),
        (vip.as_str(), "none of this cloud's subnets"),
        ("127.255.255.254", "none of this cloud's subnets"),
    ] {
        let (s, body) = cloud
            .send(
                Method::POST,
                &members,
                &token,
                Some(json!({"member": {"address": address, "protocol_port": 5432}})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{address}: {body}");
        octavia_error(&body);
        let msg = body["faultstring"].as_str().unwrap();
        assert!(
            msg.contains("subnets") || msg.contains(why),
            "{address}: {msg}"
        );
    }
    let (s, body) = cloud
        .send(Method::POST, &members, &token, Some(json!({"member": {"address": spare.to_string(), "protocol_port": 80, "monitor_address": "127.0.0.1", "monitor_port": 5432}})))
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a monitor address outside: {body}"
    );
    let (_, listed) = cloud.send(Method::GET, &members, &token, None).await;
    assert_eq!(
        listed["members"].as_array().unwrap().len(),
        1,
        "nothing stored: {listed}"
    );

    // A subnet of the tenant's own network holds members too, until it is deleted.
    let (s, net) = cloud
        .send(
            Method::POST,
            "/network/v2.0/networks",
            &token,
            Some(json!({"network": {"name": "gone"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let net = net["network"]["id"].as_str().unwrap();
    let other = localcloud::addresses::random_subnet();
    let (s, sub) = cloud
        .send(
            Method::POST,
            "/network/v2.0/subnets",
            &token,
            Some(json!({"subnet": {"network_id": net, "cidr": other.to_string()}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    let sub = sub["subnet"]["id"].as_str().unwrap().to_string();
    let held = std::net::Ipv4Addr::from(other.first() + 9);
    wait_for(
        &cloud,
        &token,
        &format!("{LBAAS}/loadbalancers/{lb}"),
        "loadbalancer",
        "provisioning_status",
        "ACTIVE",
    )
    .await;
    let (s, m) = cloud
        .send(Method::POST, &members, &token, Some(json!({"member": {"address": held.to_string(), "protocol_port": 8080, "subnet_id": sub}})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let member = m["member"]["id"].as_str().unwrap().to_string();
    assert_eq!(m["member"]["operating_status_reason"], Value::Null);
    let (s, _) = cloud
        .send(
            Method::DELETE,
            &format!("/network/v2.0/subnets/{sub}"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, shown) = cloud
        .send(Method::GET, &format!("{members}/{member}"), &token, None)
        .await;
    assert_eq!(shown["member"]["operating_status"], "ERROR", "{shown}");
    let reason = shown["member"]["operating_status_reason"].as_str().unwrap();
    assert!(
        reason.contains("will not connect") && reason.contains(&held.to_string()),
        "{reason}"
    );
    // The member that is inside still answers; the refused one is never dialled (a
    // listener on its address would say so).
    let trap = tokio::net::TcpListener::bind((held, 8080)).await.unwrap();
    let mut answers = Vec::new();
    for _ in 0..40 {
        answers.push(ask(&vip, 8443).await);
    }
    assert!(answers.iter().any(|a| a == "inside"), "{answers:?}");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), trap.accept())
            .await
            .is_err(),
        "the refused member was dialled"
    );
    cloud.running.stop();
    backend.kill();
}
