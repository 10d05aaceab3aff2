//! Kubeconfigs, node groups, services and volumes through the REST API.

use provision::testdb::TempDir;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;

use crate::common::{delete_when_idle, wait_listed, wait_operation, App};

/// Kubeconfigs, node groups, services and volumes through the API; another user gets
/// 404 on every one of those routes.
async fn api_kubeconfigs_node_groups_services_volumes(app: &App) {
    use reqwest::Method;
    let mut c = app.signed_up("api-more@example.com").await;
    let token = c.token("more").await;
    let t = Some(token.as_str());
    let body = serde_json::json!({ "name": "more", "master_count": 1,
        "node_groups": [ { "name": "default-worker", "flavor": "m1.small", "node_count": 1 } ] });
    let r = c.api(Method::POST, "/api/v1/clusters", t, Some(body)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");

    // What the cluster itself says, read through its API: answering, its one worker
    // registered and Ready with the cluster's version.
    let mut seen = serde_json::Value::Null;
    for _ in 0..60 {
        let r = c
            .api(
                Method::GET,
                &format!("/api/v1/clusters/{id}/kubernetes"),
                t,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        seen = r.json();
        if seen["nodes"]
            .as_array()
            .is_some_and(|n| n.len() == 1 && n[0]["ready"] == "True")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(seen["api"]["reachable"], true, "{seen}");
    assert!(
        seen["api"]["version"].as_str().unwrap().starts_with("v1."),
        "{seen}"
    );
    assert_eq!(seen["nodes"][0]["ready"], "True", "{seen}");
    assert_eq!(seen["nodes"][0]["simulated"], true, "{seen}");

    // A kubeconfig as a download: YAML, a file name, its serial and expiry.
    let r = c
        .send(
            Method::POST,
            &format!("/api/v1/clusters/{id}/kubeconfig"),
            None,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.headers[CONTENT_TYPE], "application/yaml");
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=\"more.kubeconfig.yaml\""
    );
    assert!(r.headers.contains_key("x-shipyard-kubeconfig-expires"));
    let dir = TempDir::new(&format!("shipyard-http-kc-{}", &provision::new_id()[..8])).unwrap();
    let file = dir.0.join("more.kubeconfig.yaml");
    std::fs::write(&file, &r.body).unwrap();
    let view = std::process::Command::new("kubectl")
        .args(["config", "view", "--kubeconfig"])
        .arg(&file)
        .args(["-o", "jsonpath={.users[0].name}"])
        .env("KUBECONFIG", "/dev/null")
        .output()
        .unwrap();
    assert!(
        view.status.success(),
        "{}",
        String::from_utf8_lossy(&view.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&view.stdout),
        "api-more@example.com@more"
    );
    // As JSON, with a validity; bad validity is a 400.
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/kubeconfig"),
            t,
            Some(serde_json::json!({"validity_hours": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.json()["kubeconfig"]["yaml"]
        .as_str()
        .unwrap()
        .contains("client-certificate-data"));
    // It carries a key: no cache may keep it.
    assert_eq!(r.headers[reqwest::header::CACHE_CONTROL], "no-store");
    for bad in [
        serde_json::json!({"validity_hours": 0}),
        serde_json::json!({"validity_hours": 9999}),
        serde_json::json!({"valid": 1}),
    ] {
        let r = c
            .api(
                Method::POST,
                &format!("/api/v1/clusters/{id}/kubeconfig"),
                t,
                Some(bad),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }

    // A second node group, then remove it; the last one stays.
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/nodegroups"),
            t,
            Some(serde_json::json!({"name": "batch", "flavor": "m1.small", "node_count": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let r = c
        .api(
            Method::DELETE,
            &format!("/api/v1/clusters/{id}/nodegroups/batch"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let r = c
        .api(
            Method::DELETE,
            &format!("/api/v1/clusters/{id}/nodegroups/default-worker"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    // Autoscaling on: the group says so, and a resize by hand is refused with why.
    let group = format!("/api/v1/clusters/{id}/nodegroups/default-worker");
    let autoscaling = format!("{group}/autoscaling");
    let on = serde_json::json!({"enabled": true, "min_node_count": 1, "max_node_count": 4});
    let r = c.api(Method::PUT, &autoscaling, t, Some(on)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ng = r.json()["node_group"].clone();
    assert_eq!(
        (ng["autoscale"].as_bool(), ng["max_node_count"].as_i64()),
        (Some(true), Some(4)),
        "{ng}"
    );
    let r = c
        .api(
            Method::PATCH,
            &group,
            t,
            Some(serde_json::json!({"node_count": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body.contains(provision::clusters::RESIZE_REFUSED),
        "{}",
        r.body
    );
    let r = c
        .api(
            Method::PUT,
            &autoscaling,
            t,
            Some(serde_json::json!({"enabled": false, "extra": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = c
        .api(
            Method::PUT,
            &autoscaling,
            t,
            Some(serde_json::json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["node_group"]["autoscale"], false, "{}", r.body);

    // A service and a volume: Kubernetes objects in the cluster (PENDING), which the
    // controllers give a load balancer and a volume (ACTIVE).
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/services"),
            t,
            Some(serde_json::json!({"name": "web", "ports": [{"port": 80}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.json()["service"]["status"], "PENDING", "{}", r.body);
    let node_port = r.json()["service"]["ports"][0]["node_port"]
        .as_u64()
        .unwrap();
    assert!((30000..=32767).contains(&node_port), "{}", r.body);
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/volumes"),
            t,
            Some(serde_json::json!({"name": "data", "size_gib": 3})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let services = wait_listed(
        &mut c,
        &token,
        &format!("/api/v1/clusters/{id}/services"),
        "services",
        "web",
        "ACTIVE",
    )
    .await;
    assert_eq!(services["services"][0]["ports"][0]["node_port"], node_port);
    let volumes = wait_listed(
        &mut c,
        &token,
        &format!("/api/v1/clusters/{id}/volumes"),
        "volumes",
        "data",
        "ACTIVE",
    )
    .await;
    assert_eq!(volumes["volumes"][0]["size_gib"], 3, "{volumes}");
    // The console's "Services and volumes" page reads the same, and nothing runs.
    // (the last operation may still be recording its end)
    let mut w = serde_json::Value::Null;
    for _ in 0..100 {
        let r = c.call("cluster_workloads", &[("id", id.as_str())]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        w = r.json();
        if w["busy"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(w["services"][0]["ports"], format!("80→{node_port}"), "{w}");
    assert_eq!(w["services"][0]["status"], "ACTIVE", "{w}");
    assert_eq!(w["persistent_volumes"][0]["size_gib"], 3, "{w}");
    assert_eq!(w["busy"], false, "{w}");
    assert_eq!(w["can_edit"], true, "{w}");
    let page = c
        .send(
            Method::GET,
            &format!("/clusters/{id}/workloads"),
            None,
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-service=\"web\""), "{}", page.body);
    assert!(page.body.contains("id=\"volume-form\""), "{}", page.body);
    // The cluster's page comes drawn: the same HTML from its function as in the page.
    let r = c.call("cluster", &[("id", id.as_str())]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = r.json();
    assert_eq!(p["id"], id.as_str(), "{p}");
    assert_eq!(p["busy"], false, "{p}");
    let html = p["html"].as_str().unwrap();
    for part in [
        "id=\"masters\"",
        "id=\"load-balancers\"",
        "id=\"download-kubeconfig\"",
        "data-node-group=\"default-worker\"",
    ] {
        assert!(html.contains(part), "{part} in {html}");
    }
    let page = c
        .send(
            Method::GET,
            &format!("/clusters/{id}"),
            None,
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"cluster-page\""), "{}", page.body);
    assert!(page.body.contains("id=\"masters\""), "{}", page.body);
    for (path, bad) in [
        (
            "services",
            serde_json::json!({"name": "x", "ports": [{"port": 80, "node_port": 1}]}),
        ),
        ("services", serde_json::json!({"name": "x"})),
        ("volumes", serde_json::json!({"name": "x", "size_gib": 0})),
        (
            "volumes",
            serde_json::json!({"name": "x", "size_gib": "big"}),
        ),
    ] {
        let r = c
            .api(
                Method::POST,
                &format!("/api/v1/clusters/{id}/{path}"),
                t,
                Some(bad),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }

    // Another user: 404 everywhere.
    let mut other = app.signed_up("api-more-other@example.com").await;
    let ot = other.token("o").await;
    for (m, path, body) in [
        (
            Method::POST,
            format!("/api/v1/clusters/{id}/kubeconfig"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/clusters/{id}/rotate-ca"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/clusters/{id}/nodegroups"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/clusters/{id}/nodegroups"),
            Some(serde_json::json!({"name": "x", "node_count": 1})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/clusters/{id}/nodegroups/default-worker"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/clusters/{id}/nodegroups/default-worker/autoscaling"),
            Some(serde_json::json!({"enabled": true})),
        ),
        (Method::GET, format!("/api/v1/clusters/{id}/services"), None),
        (
            Method::POST,
            format!("/api/v1/clusters/{id}/services"),
            Some(serde_json::json!({"name": "x", "ports": [{"port": 80}]})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/clusters/{id}/services/web"),
            None,
        ),
        (Method::GET, format!("/api/v1/clusters/{id}/volumes"), None),
        (
            Method::POST,
            format!("/api/v1/clusters/{id}/volumes"),
            Some(serde_json::json!({"name": "x", "size_gib": 1})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/clusters/{id}/volumes/data"),
            None,
        ),
    ] {
        let r = other.api(m, &path, Some(&ot), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let r = other
        .call("cluster_workloads", &[("id", id.as_str())])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(!r.body.contains("web"), "{}", r.body);
    let page = other
        .send(
            Method::GET,
            &format!("/clusters/{id}/workloads"),
            None,
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("data-service"), "{}", page.body);
    let r = other.call("cluster", &[("id", id.as_str())]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(!r.body.contains("masters"), "{}", r.body);

    // CA rotation by the owner.
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/rotate-ca"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.json()["ca"]["generation"], 2);
    assert_eq!(r.json()["ca"]["invalidated_kubeconfigs"], 2);
    // The servers boot again with certificates of the new CA.
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");

    // Delete a volume, then the cluster: the service goes with it.
    let r = c
        .api(
            Method::DELETE,
            &format!("/api/v1/clusters/{id}/volumes/data"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.json()["name"], "data", "{}", r.body);
    for _ in 0..600 {
        let v = c
            .api(
                Method::GET,
                &format!("/api/v1/clusters/{id}/volumes"),
                t,
                None,
            )
            .await
            .json();
        if v["volumes"].as_array().is_some_and(|v| v.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // (The cluster's delete waits its turn while the volume's removal finishes.)
    let r = delete_when_idle(&mut c, t, &format!("/api/v1/clusters/{id}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let lc = app.cloud.as_ref().unwrap();
    assert_eq!(
        lc.cloud
            .compute
            .servers
            .usage()
            .iter()
            .map(|h| h.vcpus_used)
            .sum::<u64>(),
        0
    );
}
both!(api_kubeconfigs_node_groups_services_volumes);
