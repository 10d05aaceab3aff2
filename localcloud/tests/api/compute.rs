//! Nova: flavors, servers spread by anti-affinity, scheduling failures, bad requests.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;
use crate::server_req;

#[tokio::test]
async fn flavors_in_novas_shape() {
    let cloud = Cloud::start().await;
    let token = cloud.token().await;
    let (status, list) = cloud.get("/compute/v2.1/flavors", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_shape(&sample("nova/flavors-list-resp.json"), &list, "");
    let (status, detail) = cloud
        .get("/compute/v2.1/flavors/detail", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_shape(&sample("nova/flavors-detail-resp.json"), &detail, "");
    let names: Vec<&str> = detail["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"]
    );
    let (status, one) = cloud.get("/compute/v2.1/flavors/3", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_shape(&sample("nova/flavor-get-resp.json"), &one, "");
    assert_eq!(
        (
            one["flavor"]["vcpus"].as_u64(),
            one["flavor"]["ram"].as_u64()
        ),
        (Some(2), Some(4096))
    );

    let (status, missing) = cloud.get("/compute/v2.1/flavors/nope", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_shape(
        &sample("nova/faults-itemNotFound.extracted.json"),
        &missing,
        "",
    );
    for token in [None, Some("not-a-token")] {
        let (status, body) = cloud.get("/compute/v2.1/flavors", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["unauthorized"]["code"], 401, "{body}");
    }
    cloud.running.stop();
}

#[tokio::test]
async fn servers_spread_by_anti_affinity_in_novas_shapes() {
    let cloud = Cloud::start_with(|c| c.server_build_delay = std::time::Duration::ZERO).await;
    let token = cloud.token().await;
    let post = reqwest::Method::POST;
    let (status, group) = cloud
        .send(
            post.clone(),
            "/compute/v2.1/os-server-groups",
            &token,
            Some(json!({"server_group": {"name": "masters", "policy": "anti-affinity"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{group}");
    assert_shape(&sample("nova/server-groups-post-resp.json"), &group, "");
    let gid = group["server_group"]["id"].as_str().unwrap().to_string();

    let mut hosts = Vec::new();
    for i in 0..3 {
        let (status, created) = cloud
            .send(
                post.clone(),
                "/compute/v2.1/servers",
                &token,
                Some(server_req(&format!("m{i}"), Some(&gid))),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{created}");
        assert_shape(&sample("nova/server-create-resp.json"), &created, "");
        let id = created["server"]["id"].as_str().unwrap();
        let (status, server) = cloud
            .get(&format!("/compute/v2.1/servers/{id}"), Some(&token))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_shape(&sample("nova/server-get-resp.json"), &server, "");
        assert_eq!(server["server"]["status"], "ACTIVE");
        assert_eq!(server["server"]["metadata"]["shipyard-role"], "master");
        hosts.push(
            server["server"]["OS-EXT-SRV-ATTR:host"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut distinct = hosts.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "masters share a host: {hosts:?}");

    let (_, group) = cloud
        .get(
            &format!("/compute/v2.1/os-server-groups/{gid}"),
            Some(&token),
        )
        .await;
    assert_shape(&sample("nova/server-groups-get-resp.json"), &group, "");
    assert_eq!(
        group["server_group"]["members"].as_array().unwrap().len(),
        3
    );
    let (_, groups) = cloud
        .get("/compute/v2.1/os-server-groups", Some(&token))
        .await;
    assert_shape(&sample("nova/server-groups-list-resp.json"), &groups, "");

    let (_, page) = cloud
        .get("/compute/v2.1/servers?limit=1", Some(&token))
        .await;
    assert_shape(&sample("nova/servers-list-resp.json"), &page, "");
    assert_eq!(page["servers"].as_array().unwrap().len(), 1);
    let (_, page) = cloud
        .get("/compute/v2.1/servers/detail?name=m&limit=2", Some(&token))
        .await;
    assert_shape(&sample("nova/servers-details-resp.json"), &page, "");
    let next = page["servers_links"][0]["href"]
        .as_str()
        .unwrap()
        .replace(&cloud.running.url, "")
        .replace("/servers?", "/servers/detail?");
    let (_, rest) = cloud.get(&next, Some(&token)).await;
    assert_eq!(rest["servers"].as_array().unwrap().len(), 1);
    assert!(rest.get("servers_links").is_none());
    let (_, detail) = cloud
        .get("/compute/v2.1/servers/detail?name=m", Some(&token))
        .await;
    assert_eq!(detail["servers"].as_array().unwrap().len(), 3);
    let (_, none) = cloud
        .get("/compute/v2.1/servers/detail?name=worker", Some(&token))
        .await;
    assert_eq!(none["servers"].as_array().unwrap().len(), 0);

    let (_, hyp) = cloud
        .get("/compute/v2.1/os-hypervisors/detail", Some(&token))
        .await;
    let used: u64 = hyp["hypervisors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["vcpus_used"].as_u64().unwrap())
        .sum();
    assert_eq!(used, 6, "three m1.medium");

    // Delete frees the host and leaves the group.
    let id = detail["servers"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = cloud
        .send(
            reqwest::Method::DELETE,
            &format!("/compute/v2.1/servers/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = cloud
        .get(&format!("/compute/v2.1/servers/{id}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_shape(
        &sample("nova/faults-itemNotFound.extracted.json"),
        &gone,
        "",
    );
    let (_, group) = cloud
        .get(
            &format!("/compute/v2.1/os-server-groups/{gid}"),
            Some(&token),
        )
        .await;
    assert_eq!(
        group["server_group"]["members"].as_array().unwrap().len(),
        2
    );
    cloud.running.stop();
}

#[tokio::test]
async fn no_valid_host_and_build_delay() {
    let cloud = Cloud::start_with(|c| {
        c.hosts.truncate(2);
        c.server_build_delay = std::time::Duration::from_secs(3600);
    })
    .await;
    let token = cloud.token().await;
    let post = reqwest::Method::POST;
    let (_, group) = cloud
        .send(
            post.clone(),
            "/compute/v2.1/os-server-groups",
            &token,
            Some(json!({"server_group": {"name": "g", "policy": "anti-affinity"}})),
        )
        .await;
    let gid = group["server_group"]["id"].as_str().unwrap().to_string();
    let mut last = Value::Null;
    for i in 0..3 {
        let (status, created) = cloud
            .send(
                post.clone(),
                "/compute/v2.1/servers",
                &token,
                Some(server_req(&format!("s{i}"), Some(&gid))),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let id = created["server"]["id"].as_str().unwrap();
        last = cloud
            .get(&format!("/compute/v2.1/servers/{id}"), Some(&token))
            .await
            .1;
        if i < 2 {
            assert_eq!(last["server"]["status"], "BUILD", "{last}");
        }
    }
    assert_eq!(last["server"]["status"], "ERROR");
    assert!(last["server"]["fault"]["message"]
        .as_str()
        .unwrap()
        .contains("No valid host was found"));
    assert_eq!(last["server"]["fault"]["code"], 500);
    cloud.running.stop();
}

#[tokio::test]
async fn bad_server_requests_change_nothing() {
    let cloud = Cloud::start_with(|c| c.server_build_delay = std::time::Duration::ZERO).await;
    let token = cloud.token().await;
    let long = "x".repeat(256);
    let cases = [
        json!({"server": {"name": "a", "flavorRef": "nope", "imageRef": "i"}}),
        json!({"server": {"name": long, "flavorRef": "1", "imageRef": "i"}}),
        json!({"server": {"name": "", "flavorRef": "1", "imageRef": "i"}}),
        json!({"server": {"name": "a", "flavorRef": "1"}}),
        json!({"server": {"name": "a", "flavorRef": -1, "imageRef": "i"}}),
        json!({"server": {"name": "a", "flavorRef": "1", "imageRef": "i", "networks": 7}}),
        json!({"server": {"name": "a", "flavorRef": "1", "imageRef": "i"}, "OS-SCH-HNT:scheduler_hints": {"group": "missing"}}),
        json!({"nothing": true}),
        json!([1, 2]),
    ];
    for body in cases {
        let (status, answer) = cloud
            .send(
                reqwest::Method::POST,
                "/compute/v2.1/servers",
                &token,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["badRequest"]["code"], 400, "{answer}");
    }
    let res = cloud
        .http
        .post(format!("{}/compute/v2.1/servers", cloud.running.url))
        .header("x-auth-token", &token)
        .body(vec![0xff, 0xfe, b'{'])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (status, _) = cloud
        .get("/compute/v2.1/servers?limit=abc", Some(&token))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = cloud
        .send(
            reqwest::Method::POST,
            "/compute/v2.1/os-server-groups",
            &token,
            Some(json!({"server_group": {"name": "g", "policy": "spread"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, list) = cloud.get("/compute/v2.1/servers", Some(&token)).await;
    assert_eq!(list["servers"].as_array().unwrap().len(), 0);
    let (_, groups) = cloud
        .get("/compute/v2.1/os-server-groups", Some(&token))
        .await;
    assert_eq!(groups["server_groups"].as_array().unwrap().len(), 0);
    cloud.running.stop();
}
