//! localcloud over real TCP: identity and compute flavors, checked against the
//! published OpenStack API samples in ../shared (read from there, never copied).

use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
use common::*;

#[tokio::test]
async fn password_token_with_catalog_in_keystones_shape() {
    let cloud = Cloud::start().await;
    let res = cloud.auth("admin", &cloud.password(), "admin").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().contains_key("x-subject-token"));
    let body: Value = res.json().await.unwrap();
    assert_shape(&sample("keystone/project-scoped-password.json"), &body, "");
    let catalog = body["token"]["catalog"].as_array().unwrap();
    let compute = catalog
        .iter()
        .find(|s| s["type"] == "compute")
        .expect("compute in catalog");
    let public = compute["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["interface"] == "public")
        .unwrap();
    assert_eq!(public["url"], format!("{}/compute/v2.1", cloud.running.url));
    // The token is the subject of a validation call.
    let token = cloud.token().await;
    let res = cloud
        .http
        .get(format!("{}/auth/tokens", cloud.running.auth_url()))
        .header("x-auth-token", &token)
        .header("x-subject-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The sample request (by user id) parses; its unknown user is refused like any other.
    let res = cloud
        .http
        .post(format!("{}/auth/tokens", cloud.running.auth_url()))
        .json(&sample("keystone/project-name-password.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let clouds = std::fs::read_to_string(cloud._dir.0.join("clouds.yaml")).unwrap();
    assert!(
        clouds.contains(&format!("auth_url: {}/identity/v3", cloud.running.url)),
        "{clouds}"
    );
    cloud.running.stop();
}

/// The embedded cloud's password is not `admin`: random per data directory, kept there
/// (0600, with clouds.yaml 0600 too), the same after a restart on that directory.
#[tokio::test]
async fn credentials_are_random_per_data_dir_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let cloud = Cloud::start().await;
    let password = cloud.password();
    assert_ne!(password, "admin");
    assert!(password.len() >= 20, "{password}");
    assert_eq!(
        cloud.auth("admin", "admin", "admin").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        cloud.auth("admin", &password, "admin").await.status(),
        StatusCode::CREATED
    );
    let mode = |f: &str| {
        std::fs::metadata(cloud._dir.0.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("clouds.yaml"), 0o600);
    assert_eq!(mode("admin.password"), 0o600);
    let yaml = std::fs::read_to_string(cloud._dir.0.join("clouds.yaml")).unwrap();
    assert!(yaml.contains(&format!("password: '{password}'")), "{yaml}");
    // Another data directory, another password.
    let other = Cloud::start().await;
    assert_ne!(other.password(), password);
    other.running.stop();
    // The same directory after a restart: the same password.
    let dir = cloud._dir.0.clone();
    let subnet = cloud.running.cloud.config.subnet;
    cloud.running.stop();
    let mut config = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), &dir);
    config.vip_range = random_vip_range();
    config.subnet = subnet;
    let again = localcloud::start(config).await.unwrap();
    assert_eq!(again.admin().password, password);
    again.stop();
    let _keep = cloud._dir;
}

#[tokio::test]
async fn identity_refusals_in_keystones_error_shape() {
    let cloud = Cloud::start().await;
    for (user, password, project) in [
        ("admin", "wrong", "admin"),
        ("nobody", "admin", "admin"),
        ("admin", "admin", "admin"),
        ("admin", &cloud.password(), "other"),
    ] {
        let res = cloud.auth(user, password, project).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], 401, "{body}");
        assert_eq!(body["error"]["title"], "Unauthorized");
        assert!(body["error"]["message"].is_string());
    }
    for bad in [&b""[..], b"{", b"\xff\xfe", b"{\"auth\": 3}", b"[]"] {
        let res = cloud
            .http
            .post(format!("{}/auth/tokens", cloud.running.auth_url()))
            .header("content-type", "application/json")
            .body(bad.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], 400);
    }
    cloud.running.stop();
}

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

fn server_req(name: &str, group: Option<&str>) -> Value {
    let mut body = json!({"server": {
        "name": name, "flavorRef": "3", "imageRef": "ubuntu-22.04-k8s-v1.31",
        "metadata": {"shipyard-cluster": "c1", "shipyard-role": "master"}, "networks": "auto"
    }});
    if let Some(g) = group {
        body["OS-SCH-HNT:scheduler_hints"] = json!({"group": g});
    }
    body
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

#[tokio::test]
async fn volumes_are_real_files_in_cinders_shapes() {
    let cloud = Cloud::start_with(|c| {
        c.volume_delay = std::time::Duration::ZERO;
        c.server_build_delay = std::time::Duration::ZERO;
        c.users.push(localcloud::UserConfig {
            name: "other".into(),
            password: Some("other password".into()),
            project: "other".into(),
            admin: false,
        });
    })
    .await;
    let token = cloud.token().await;
    let project = cloud.project_id().await;
    let base = format!("/volume/v3/{project}/volumes");
    let post = reqwest::Method::POST;

    // The published request body is accepted as it is.
    let (status, created) = cloud
        .send(
            post.clone(),
            &base,
            &token,
            Some(sample("cinder/volume-create-request.json")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_shape(&sample("cinder/volume-create-response.json"), &created, "");
    let id = created["volume"]["id"].as_str().unwrap().to_string();
    let file = cloud.running.cloud.volumes.path(&id);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 10 << 30);

    let (_, shown) = cloud.get(&format!("{base}/{id}"), Some(&token)).await;
    assert_shape(&sample("cinder/volume-show-response.json"), &shown, "");
    assert_eq!(shown["volume"]["status"], "available");
    let (_, list) = cloud.get(&base, Some(&token)).await;
    assert_shape(&sample("cinder/volumes-list-response.json"), &list, "");
    let (_, detail) = cloud.get(&format!("{base}/detail"), Some(&token)).await;
    assert_shape(
        &sample("cinder/volumes-list-detailed-response.json"),
        &detail,
        "",
    );

    // Extend grows the file; the published extend body works.
    let action = format!("{base}/{id}/action");
    let mut extend = sample("cinder/volume-extend-request.json");
    extend["os-extend"]["new_size"] = json!(12);
    let (status, _) = cloud
        .send(post.clone(), &action, &token, Some(extend))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 12 << 30);

    // Only to a server of the volume's own project: not one that does not exist, nor
    // another project's.
    let other = cloud.auth("other", "other password", "other").await;
    let other = other.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let (_, theirs) = cloud
        .send(
            post.clone(),
            "/compute/v2.1/servers",
            &other,
            Some(server_req("theirs", None)),
        )
        .await;
    let theirs = theirs["server"]["id"].as_str().unwrap().to_string();
    for stranger in ["s1", theirs.as_str()] {
        let (status, body) = cloud
            .send(
                post.clone(),
                &action,
                &token,
                Some(json!({"os-attach": {"instance_uuid": stranger, "mountpoint": "/dev/vdb"}})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{stranger}: {body}");
        let (_, shown) = cloud.get(&format!("{base}/{id}"), Some(&token)).await;
        assert_eq!(shown["volume"]["status"], "available");
    }
    // In use: cannot be deleted; detached: can, and the file goes.
    let (_, mine) = cloud
        .send(
            post.clone(),
            "/compute/v2.1/servers",
            &token,
            Some(server_req("mine", None)),
        )
        .await;
    let mine = mine["server"]["id"].as_str().unwrap().to_string();
    let (status, _) = cloud
        .send(
            post.clone(),
            &action,
            &token,
            Some(json!({"os-attach": {"instance_uuid": mine, "mountpoint": "/dev/vdb"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, shown) = cloud.get(&format!("{base}/{id}"), Some(&token)).await;
    assert_eq!(shown["volume"]["status"], "in-use");
    let (status, refused) = cloud
        .send(
            reqwest::Method::DELETE,
            &format!("{base}/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["badRequest"]["code"], 400);
    assert!(file.exists());
    let (status, _) = cloud
        .send(
            post.clone(),
            &action,
            &token,
            Some(json!({"os-detach": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = cloud
        .send(
            reqwest::Method::DELETE,
            &format!("{base}/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(!file.exists());
    let (status, gone) = cloud.get(&format!("{base}/{id}"), Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(gone["itemNotFound"]["code"], 404);

    // Bad sizes, names, types and bodies: 4xx, nothing created.
    for body in [
        json!({"volume": {"size": 0}}),
        json!({"volume": {"size": -5}}),
        json!({"volume": {"size": 100000}}),
        json!({"volume": {"size": "ten"}}),
        json!({"volume": {"size": 1, "name": "n".repeat(256)}}),
        json!({"volume": {"size": 1, "volume_type": "gold"}}),
        json!({"size": 1}),
    ] {
        let (status, answer) = cloud
            .send(post.clone(), &base, &token, Some(body.clone()))
            .await;
        assert!(status.is_client_error(), "{body}: {status}");
        assert!(answer.as_object().is_some_and(|o| o.len() == 1), "{answer}");
    }
    let (_, list) = cloud.get(&base, Some(&token)).await;
    assert_eq!(list["volumes"].as_array().unwrap().len(), 0);
    // Another project's URL is refused.
    let (status, _) = cloud
        .get("/volume/v3/someone-else/volumes", Some(&token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    cloud.running.stop();
}

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

#[tokio::test]
async fn nova_attaches_cinder_volumes() {
    let cloud = Cloud::start_with(|c| {
        c.server_build_delay = std::time::Duration::ZERO;
        c.volume_delay = std::time::Duration::ZERO;
    })
    .await;
    let token = cloud.token().await;
    let project = cloud.project_id().await;
    let post = reqwest::Method::POST;
    let (_, server) = cloud
        .send(
            post.clone(),
            "/compute/v2.1/servers",
            &token,
            Some(server_req("m0", None)),
        )
        .await;
    let sid = server["server"]["id"].as_str().unwrap().to_string();
    let (_, volume) = cloud
        .send(
            post.clone(),
            &format!("/volume/v3/{project}/volumes"),
            &token,
            Some(json!({"volume": {"size": 1}})),
        )
        .await;
    let vid = volume["volume"]["id"].as_str().unwrap().to_string();

    let mut req = sample("nova/attach-volume-to-server-req.json");
    req["volumeAttachment"]["volumeId"] = json!(vid);
    let attachments = format!("/compute/v2.1/servers/{sid}/os-volume_attachments");
    let (status, attached) = cloud
        .send(post.clone(), &attachments, &token, Some(req.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{attached}");
    assert_shape(
        &sample("nova/attach-volume-to-server-resp.json"),
        &attached,
        "",
    );
    assert_eq!(attached["volumeAttachment"]["device"], "/dev/vdb");
    let (_, vol) = cloud
        .get(&format!("/volume/v3/{project}/volumes/{vid}"), Some(&token))
        .await;
    assert_eq!(vol["volume"]["status"], "in-use");
    assert_eq!(vol["volume"]["attachments"][0]["server_id"], sid.as_str());
    let (_, srv) = cloud
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    assert_eq!(
        srv["server"]["os-extended-volumes:volumes_attached"][0]["id"],
        vid.as_str()
    );
    // Twice is refused: the volume is in use.
    let (status, _) = cloud
        .send(post.clone(), &attachments, &token, Some(req.clone()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, list) = cloud.get(&attachments, Some(&token)).await;
    assert_eq!(list["volumeAttachments"].as_array().unwrap().len(), 1);

    let (status, _) = cloud
        .send(
            reqwest::Method::DELETE,
            &format!("{attachments}/{vid}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = cloud
        .send(
            reqwest::Method::DELETE,
            &format!("{attachments}/{vid}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, vol) = cloud
        .get(&format!("/volume/v3/{project}/volumes/{vid}"), Some(&token))
        .await;
    assert_eq!(vol["volume"]["status"], "available");

    // Deleting the server detaches what it had.
    let (status, _) = cloud
        .send(post.clone(), &attachments, &token, Some(req))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = cloud
        .send(
            reqwest::Method::DELETE,
            &format!("/compute/v2.1/servers/{sid}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, vol) = cloud
        .get(&format!("/volume/v3/{project}/volumes/{vid}"), Some(&token))
        .await;
    assert_eq!(vol["volume"]["status"], "available");
    let (status, _) = cloud
        .send(
            post,
            "/compute/v2.1/servers/nope/os-volume_attachments",
            &token,
            Some(json!({"volumeAttachment": {"volumeId": vid}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    cloud.running.stop();
}

#[tokio::test]
async fn the_private_network_in_neutrons_shape() {
    let cloud = Cloud::start_with(|c| c.server_build_delay = std::time::Duration::ZERO).await;
    let token = cloud.token().await;
    let (status, nets) = cloud.get("/network/v2.0/networks", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_shape(&sample("neutron/networks-list-response.json"), &nets, "");
    let net = nets["networks"][0]["id"].as_str().unwrap().to_string();
    let (_, subnets) = cloud
        .get(
            &format!("/network/v2.0/subnets?network_id={net}"),
            Some(&token),
        )
        .await;
    assert_shape(&sample("neutron/subnets-list-response.json"), &subnets, "");
    let (_, none) = cloud
        .get("/network/v2.0/networks?name=public", Some(&token))
        .await;
    assert_eq!(none["networks"].as_array().unwrap().len(), 0);
    let (status, missing) = cloud.get("/network/v2.0/networks/nope", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["NeutronError"]["type"], "NetworkNotFound");
    // Servers take the network by id, and nothing else.
    let mut req = server_req("n0", None);
    req["server"]["networks"] = json!([{"uuid": net}]);
    let (status, _) = cloud
        .send(
            reqwest::Method::POST,
            "/compute/v2.1/servers",
            &token,
            Some(req.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    req["server"]["networks"] = json!([{"uuid": "not-a-network"}]);
    let (status, _) = cloud
        .send(
            reqwest::Method::POST,
            "/compute/v2.1/servers",
            &token,
            Some(req),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    cloud.running.stop();
}
