//! Network state across a restart, and data directories that cannot be reused.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;
use crate::{create_server, everything, get, id, network_with_subnet, post, sg_rule_id};

#[tokio::test]
async fn network_state_outlives_a_restart() {
    let dir = tempdir::Dir::new();
    let config = |dir: &std::path::Path| {
        let mut c = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), dir);
        c.server_build_delay = Duration::ZERO;
        c.vip_range = random_vip_range();
        c
    };
    let http = reqwest::Client::new();
    let first = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: http.clone(),
    };
    let token = first.token().await;
    let (net, _) = network_with_subnet(&first, &token, "kept", "127.30.0.0/24").await;
    let (_, sg) = post(
        &first,
        &token,
        "/security-groups",
        json!({"security_group": {"name": "kept"}}),
    )
    .await;
    let sg = id(&sg, "security_group");
    sg_rule_id(&first, &token, &sg).await;
    let (_, port) = post(
        &first,
        &token,
        "/ports",
        json!({"port": {"network_id": net, "security_groups": [sg]}}),
    )
    .await;
    let (status, server) = create_server(&first, &token, "kept", json!([{"uuid": net}])).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let sid = server["server"]["id"].as_str().unwrap().to_string();
    let before = everything(&first, &token).await;
    let (_, server_before) = first
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    first.running.stop();

    let second = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http,
    };
    let token = second.token().await;
    assert_eq!(everything(&second, &token).await, before);
    let (_, server_after) = second
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    assert_eq!(
        server_after["server"]["addresses"],
        server_before["server"]["addresses"]
    );
    // Addresses in use stay in use: the next port gets the next address.
    let (_, next) = post(
        &second,
        &token,
        "/ports",
        json!({"port": {"network_id": net}}),
    )
    .await;
    assert_eq!(port["port"]["fixed_ips"][0]["ip_address"], "127.30.0.2");
    assert_eq!(
        server_after["server"]["addresses"]["kept"][0]["addr"],
        "127.30.0.3"
    );
    assert_eq!(next["port"]["fixed_ips"][0]["ip_address"], "127.30.0.4");
    second.running.stop();
}

#[tokio::test]
async fn servers_saved_before_ports_get_theirs_at_start() {
    let dir = tempdir::Dir::new();
    let config = |dir: &std::path::Path| {
        let mut c = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), dir);
        c.server_build_delay = Duration::ZERO;
        c.vip_range = random_vip_range();
        c
    };
    let first = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: reqwest::Client::new(),
    };
    let token = first.token().await;
    let (_, server) = create_server(&first, &token, "old", json!("auto")).await;
    let sid = server["server"]["id"].as_str().unwrap().to_string();
    let (_, shown) = first
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    let addr = shown["server"]["addresses"]["private"][0]["addr"].clone();
    first.running.stop();
    // Rewrite the saved state as an older localcloud left it: no `ported`, no ports.
    let persist = localcloud::common::persist::Persist::open(&dir.0)
        .await
        .unwrap();
    let mut compute: Value = persist.load("compute").await.unwrap().unwrap();
    compute["servers"][&sid]
        .as_object_mut()
        .unwrap()
        .remove("ported");
    compute["version"] = json!(compute["version"].as_u64().unwrap() + 1);
    let mut network: Value = persist.load("network").await.unwrap().unwrap();
    network["ports"] = json!({});
    network["version"] = json!(network["version"].as_u64().unwrap() + 1);
    for (key, doc) in [("compute", &compute), ("network", &network)] {
        persist
            .save(key, doc["version"].as_u64().unwrap(), &doc.to_string())
            .await;
    }
    drop(persist);

    let second = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: reqwest::Client::new(),
    };
    let token = second.token().await;
    let (_, shown) = second
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    assert_eq!(shown["server"]["addresses"]["private"][0]["addr"], addr);
    let (_, ports) = get(&second, &token, &format!("/ports?device_id={sid}")).await;
    assert_eq!(ports["ports"][0]["fixed_ips"][0]["ip_address"], addr);
    // Its address is taken: a new port gets another.
    let private = localcloud::network::network_id();
    let (_, next) = post(
        &second,
        &token,
        "/ports",
        json!({"port": {"network_id": private}}),
    )
    .await;
    assert_ne!(next["port"]["fixed_ips"][0]["ip_address"], addr);
    second.running.stop();
}

/// A data directory written by an older localcloud (its private network on
/// 10.0.0.0/16) is refused at start with what to do, and so is one started with another
/// subnet than it was made with; neither is touched.
#[tokio::test]
async fn a_data_dir_from_before_loopback_is_refused_not_reused() {
    let dir = tempdir::Dir::new();
    let subnet = localcloud::addresses::random_subnet();
    let config = |s| {
        let mut c = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), &dir.0);
        c.vip_range = random_vip_range();
        c.subnet = s;
        c
    };
    let first = Cloud {
        running: localcloud::start(config(subnet)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: reqwest::Client::new(),
    };
    let token = first.token().await;
    let (status, _) = post(
        &first,
        &token,
        "/networks",
        json!({"network": {"name": "kept"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    first.running.stop();
    // Another subnet for the same directory.
    let other = localcloud::addresses::random_subnet();
    let e = localcloud::start(config(other))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains(&subnet.to_string()) && e.contains("new data directory"),
        "{e}"
    );
    // Rewrite the saved network as an older localcloud left it.
    let db = dir.0.join("localcloud.db");
    let conn = format!("sqlite://{}", db.display());
    let pool = sqlx::SqlitePool::connect(&conn).await.unwrap();
    let (body,): (String,) = sqlx::query_as("SELECT body FROM documents WHERE key = 'network'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let old = body
        .replace(&format!("\"{}\"", subnet.addr), "\"10.0.0.0\"")
        .replace(&format!("\"len\":{}", subnet.len), "\"len\":16");
    assert_ne!(old, body);
    sqlx::query("UPDATE documents SET body = ? WHERE key = 'network'")
        .bind(&old)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let e = localcloud::start(config(subnet))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("10.0.0.0/16")
            && e.contains("older localcloud")
            && e.contains("Delete the data directory"),
        "{e}"
    );
}
