//! State across a restart.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::server_req;

#[tokio::test]
async fn state_outlives_a_restart() {
    let dir = tempdir::Dir::new();
    let config = |dir: &std::path::Path| {
        let mut c = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), dir);
        c.server_build_delay = std::time::Duration::ZERO;
        c.volume_delay = std::time::Duration::ZERO;
        c
    };
    let http = reqwest::Client::new();
    let first = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: http.clone(),
    };
    let token = first.token().await;
    let post = reqwest::Method::POST;
    let (_, group) = first
        .send(
            post.clone(),
            "/compute/v2.1/os-server-groups",
            &token,
            Some(json!({"server_group": {"name": "g", "policy": "anti-affinity"}})),
        )
        .await;
    let gid = group["server_group"]["id"].as_str().unwrap().to_string();
    let (_, created) = first
        .send(
            post.clone(),
            "/compute/v2.1/servers",
            &token,
            Some(server_req("kept", Some(&gid))),
        )
        .await;
    let sid = created["server"]["id"].as_str().unwrap().to_string();
    let project = first.project_id().await;
    let (_, vol) = first
        .send(
            post.clone(),
            &format!("/volume/v3/{project}/volumes"),
            &token,
            Some(json!({"volume": {"size": 1, "name": "kept"}})),
        )
        .await;
    let vid = vol["volume"]["id"].as_str().unwrap().to_string();
    let (_, before) = first
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    first.running.stop();

    let second = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http,
    };
    let token = second.token().await;
    let (status, after) = second
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(
        after["server"]["OS-EXT-SRV-ATTR:host"],
        before["server"]["OS-EXT-SRV-ATTR:host"]
    );
    assert_eq!(after["server"]["status"], "ACTIVE");
    let (_, group) = second
        .get(
            &format!("/compute/v2.1/os-server-groups/{gid}"),
            Some(&token),
        )
        .await;
    assert_eq!(group["server_group"]["members"][0], sid.as_str());
    let (status, vol) = second
        .get(&format!("/volume/v3/{project}/volumes/{vid}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{vol}");
    assert_eq!(vol["volume"]["name"], "kept");
    let (_, hyp) = second
        .get("/compute/v2.1/os-hypervisors/detail", Some(&token))
        .await;
    let used: u64 = hyp["hypervisors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["vcpus_used"].as_u64().unwrap())
        .sum();
    assert_eq!(used, 2, "placement remembers the server");
    // A change after the restart is saved on top of the restored state.
    let (status, _) = second
        .send(
            reqwest::Method::DELETE,
            &format!("/compute/v2.1/servers/{sid}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    second.running.stop();
    let third = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: reqwest::Client::new(),
    };
    let token = third.token().await;
    let (status, _) = third
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    third.running.stop();
}
