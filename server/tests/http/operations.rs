//! Plans before apply, world changes, abort and retry, and admin operation lists.

use reqwest::StatusCode;

use crate::common::{delete_when_idle, wait_listed, wait_operation, wait_state, App};

/// Plans before apply for every change, and "the world changed" instead of surprises.
async fn api_plans_and_world_changes(app: &App) {
    use reqwest::Method;
    let mut c = app.signed_up("api-plans@example.com").await;
    let token = c.token("plans").await;
    let t = Some(token.as_str());
    let body = serde_json::json!({ "name": "planned", "master_count": 1,
        "node_groups": [ { "name": "default-worker", "flavor": "m1.small", "node_count": 1, "max_node_count": 4 } ] });
    let plan = c
        .api(
            Method::POST,
            "/api/v1/clusters?dry_run=true",
            t,
            Some(body.clone()),
        )
        .await
        .json()["plan"]
        .clone();
    let plan_id = plan["plan_id"].as_str().unwrap().to_string();
    assert!(
        plan["quota"]["left_after"]["vcpus"].as_i64().is_some(),
        "{plan}"
    );
    let r = c
        .api(
            Method::POST,
            "/api/v1/clusters?plan_id=0000",
            t,
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("world changed"));
    assert_eq!(
        c.api(Method::GET, "/api/v1/clusters", t, None).await.json()["clusters"],
        serde_json::json!([])
    );
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters?plan_id={plan_id}"),
            t,
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");

    // Scale plan: exactly which node is added.
    let ng = format!("/api/v1/clusters/{id}/nodegroups/default-worker");
    let r = c
        .api(
            Method::PATCH,
            &format!("{ng}?dry_run=true"),
            t,
            Some(serde_json::json!({"node_count": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let scale = r.json()["plan"].clone();
    assert_eq!(scale["resources"][0]["action"], "create");
    assert!(
        scale["resources"][0]["name"]
            .as_str()
            .unwrap()
            .ends_with("-default-worker-1"),
        "{scale}"
    );
    assert_eq!(scale["totals"]["servers_added"], 1);
    let scale_id = scale["plan_id"].as_str().unwrap().to_string();
    // Someone else scales first: the plan no longer holds.
    let r = c
        .api(
            Method::PATCH,
            &ng,
            t,
            Some(serde_json::json!({"node_count": 2})),
        )
        .await;
    wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    let r = c
        .api(
            Method::PATCH,
            &format!("{ng}?plan_id={scale_id}"),
            t,
            Some(serde_json::json!({"node_count": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    // Shrink plan names the newest node.
    let shrink = c
        .api(
            Method::PATCH,
            &format!("{ng}?dry_run=true"),
            t,
            Some(serde_json::json!({"node_count": 1})),
        )
        .await
        .json()["plan"]
        .clone();
    assert_eq!(shrink["resources"][0]["action"], "delete");
    assert!(
        shrink["resources"][0]["name"]
            .as_str()
            .unwrap()
            .ends_with("-default-worker-1"),
        "{shrink}"
    );

    // Node group plans.
    let p = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/nodegroups?dry_run=true"),
            t,
            Some(serde_json::json!({"name": "batch", "flavor": "m1.small", "node_count": 2})),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.json()["plan"]["resources"].as_array().unwrap().len(), 2);
    let p = c
        .api(Method::GET, &format!("{ng}/plan-delete"), t, None)
        .await
        .json()["plan"]
        .clone();
    assert_eq!(p["resources"].as_array().unwrap().len(), 2, "{p}");
    assert!(p["resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["action"] == "delete"));

    // Delete plan: everything the cloud holds of the cluster; a service exposed since
    // changes it, and the stale plan is refused.
    let before = c
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{id}/plan-delete"),
            t,
            None,
        )
        .await
        .json()["plan"]
        .clone();
    assert_eq!(before["totals"]["servers"], 3, "{before}");
    assert_eq!(before["totals"]["load_balancers"], 1);
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/clusters/{id}/services"),
            t,
            Some(serde_json::json!({"name": "web", "ports": [{"port": 80}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    wait_listed(
        &mut c,
        &token,
        &format!("/api/v1/clusters/{id}/services"),
        "services",
        "web",
        "ACTIVE",
    )
    .await;
    let r = c
        .api(
            Method::DELETE,
            &format!(
                "/api/v1/clusters/{id}?plan_id={}",
                before["plan_id"].as_str().unwrap()
            ),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kube_service_"),
        "{}",
        r.body
    );
    let after = c
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{id}/plan-delete"),
            t,
            None,
        )
        .await
        .json()["plan"]
        .clone();
    assert_eq!(after["totals"]["load_balancers"], 2);
    assert!(after["resources"]
        .to_string()
        .contains("service load balancer"));
    let r = delete_when_idle(
        &mut c,
        t,
        &format!(
            "/api/v1/clusters/{id}?plan_id={}",
            after["plan_id"].as_str().unwrap()
        ),
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
}
both!(api_plans_and_world_changes);

/// Abort a running create (it unwinds), abort a running delete (it stops failed), retry
/// it (it finishes); admins list every project's operations.
async fn api_abort_retry_and_admin_operations(app: &App) {
    use reqwest::Method;
    let lc = app.cloud.as_ref().unwrap().cloud.clone();
    let mut c = app.signed_up("api-abort@example.com").await;
    let token = c.token("abort").await;
    let t = Some(token.as_str());
    let normal = lc.behaviour();
    let mut slow = normal.clone();
    slow.server_build_seconds = 60.0;
    lc.set_behaviour(slow);
    let body = serde_json::json!({"name": "slow", "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}]});
    let r = c.api(Method::POST, "/api/v1/clusters", t, Some(body)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let create = r.json()["operation"]["id"].as_str().unwrap().to_string();
    wait_state(&mut c, &token, &create, "running").await;

    // Not someone else's to abort or retry.
    let mut other = app.signed_up("api-abort-other@example.com").await;
    let ot = other.token("o").await;
    for action in ["abort", "retry"] {
        let r = other
            .api(
                Method::POST,
                &format!("/api/v1/operations/{create}/{action}"),
                Some(&ot),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/operations/{create}/abort"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(&mut c, &token, &create).await;
    assert_eq!(op["state"], "unwound", "{op}");
    let cluster = c
        .api(Method::GET, &format!("/api/v1/clusters/{id}"), t, None)
        .await
        .json()["cluster"]
        .clone();
    assert_eq!(cluster["status"], "FAILED");
    assert!(
        cluster["status_reason"]
            .as_str()
            .unwrap()
            .contains("Aborted"),
        "{cluster}"
    );
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/operations/{create}/retry"),
            t,
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "an unwound create is not retried: {}",
        r.body
    );

    // A slow delete, aborted: it stops failed (a delete never puts things back); a
    // retry finishes it.
    let mut very_slow = normal.clone();
    very_slow.api_latency_ms = 1500;
    lc.set_behaviour(very_slow);
    let r = c
        .api(Method::DELETE, &format!("/api/v1/clusters/{id}"), t, None)
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let delete = r.json()["operation"]["id"].as_str().unwrap().to_string();
    wait_state(&mut c, &token, &delete, "running").await;
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/operations/{delete}/abort"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(&mut c, &token, &delete).await;
    assert_eq!(op["state"], "failed", "{op}");
    lc.set_behaviour(normal);
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/operations/{delete}/retry"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let op = wait_operation(&mut c, &token, &delete).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let r = c
        .api(Method::GET, &format!("/api/v1/clusters/{id}"), t, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Admins see every project's operations; others may not.
    let r = c
        .api(Method::GET, "/api/v1/admin/operations", t, None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let mut admin = app.admin().await;
    let r = admin
        .api(
            Method::GET,
            "/api/v1/admin/operations?state=unwound,succeeded",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ids: Vec<&str> = r.json()["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|s| s.to_string())
        .collect::<Vec<String>>()
        .leak()
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert!(
        ids.contains(&create.as_str()) && ids.contains(&delete.as_str()),
        "{ids:?}"
    );
    let r = admin
        .api(
            Method::GET,
            "/api/v1/admin/operations?state=bogus",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // The audit log has both.
    let audit = app
        .store
        .audit_list(&provision::domain::AuditFilter {
            actor_email: Some("api-abort@example.com".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    for action in ["operation.abort", "operation.retry"] {
        assert!(audit.iter().any(|a| a.action == action), "{action} audited");
    }
}
both!(api_abort_retry_and_admin_operations);
