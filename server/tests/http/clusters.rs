//! Clusters through the REST API: create, plan, delete, and their live streams.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{ends_within, open_stream, wait_operation, App};

async fn api_creates_plans_and_deletes_clusters(app: &App) {
    use reqwest::Method;
    let mut c = app.signed_up("api-user@example.com").await;
    let token = c.token("ci").await;
    assert!(token.starts_with("sy_"));
    let body = serde_json::json!({ "name": "demo", "kubernetes_version": "v1.31.12", "master_count": 3, "master_flavor": "m1.medium",
        "node_groups": [ { "name": "default-worker", "flavor": "m1.medium", "node_count": 2, "min_node_count": 1, "max_node_count": 5 } ] });

    let plan = c
        .api(
            Method::POST,
            "/api/v1/clusters?dry_run=true",
            Some(&token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    let plan = plan.json()["plan"].clone();
    assert_eq!(plan["totals"]["servers"], 5);
    assert_eq!(plan["capacity"]["fits"], true);
    assert!(plan["expected_seconds"].as_f64().unwrap() > 0.0);
    let r = c
        .api(Method::GET, "/api/v1/clusters", Some(&token), None)
        .await;
    assert_eq!(
        r.json()["clusters"],
        serde_json::json!([]),
        "a plan changes nothing"
    );

    let r = c
        .api(
            Method::POST,
            "/api/v1/clusters",
            Some(&token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let created = r.json();
    let id = created["cluster"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["cluster"]["status"], "CREATING");
    let op = wait_operation(&mut c, &token, created["operation"]["id"].as_str().unwrap()).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(op["progress"]["done"], op["progress"]["total"]);
    assert!(op["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["state"] == "succeeded"));
    let r = c
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{id}"),
            Some(&token),
            None,
        )
        .await;
    let cluster = r.json()["cluster"].clone();
    assert_eq!(cluster["status"], "ACTIVE", "{cluster}");
    assert!(cluster["api_address"].as_str().unwrap().ends_with(":6443"));
    assert_eq!(cluster["node_groups"][0]["node_count"], 2);

    // Scale the node group up, then down, through the API.
    let r = c
        .api(
            Method::PATCH,
            &format!("/api/v1/clusters/{id}/nodegroups/default-worker"),
            Some(&token),
            Some(serde_json::json!({"node_count": 3})),
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
            Method::GET,
            &format!("/api/v1/clusters/{id}/nodegroups"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.json()["node_groups"][0]["node_count"], 3);
    let r = c
        .api(
            Method::PATCH,
            &format!("/api/v1/clusters/{id}/nodegroups/default-worker"),
            Some(&token),
            Some(serde_json::json!({"node_count": 7})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "above the maximum: {}",
        r.body
    );
    let r = c
        .api(
            Method::PATCH,
            &format!("/api/v1/clusters/{id}/nodegroups/default-worker"),
            Some(&token),
            Some(serde_json::json!({"node_count": 2})),
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

    // The cloud's own inventory carries the cluster's mark.
    let cloud = app.cloud.as_ref().unwrap();
    let tagged = cloud
        .cloud
        .compute
        .servers
        .usage()
        .iter()
        .map(|h| h.vcpus_used)
        .sum::<u64>();
    assert_eq!(tagged, 5 * 2, "five m1.medium servers");

    // Another user sees nothing of it, through every route.
    let mut other = app.signed_up("api-other@example.com").await;
    let other_token = other.token("theirs").await;
    for (m, path) in [
        (Method::GET, format!("/api/v1/clusters/{id}")),
        (Method::DELETE, format!("/api/v1/clusters/{id}")),
        (
            Method::GET,
            format!(
                "/api/v1/operations/{}",
                created["operation"]["id"].as_str().unwrap()
            ),
        ),
    ] {
        let r = other.api(m, &path, Some(&other_token), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "not_found");
    }
    let r = other
        .api(Method::GET, "/api/v1/clusters", Some(&other_token), None)
        .await;
    assert_eq!(r.json()["clusters"], serde_json::json!([]));

    // Bad input: a clear error, nothing changes.
    for (bad, field) in [
        (
            serde_json::json!({"name": "Demo!", "node_groups": [{"name": "w", "node_count": 1}]}),
            "name",
        ),
        (
            serde_json::json!({"name": "x", "master_count": 2, "node_groups": [{"name": "w", "node_count": 1}]}),
            "master_count",
        ),
        (
            serde_json::json!({"name": "x", "pod_cidr": "10.96.0.0/16", "node_groups": [{"name": "w", "node_count": 1}]}),
            "service_cidr",
        ),
        (
            serde_json::json!({"name": "x", "node_groups": []}),
            "node_groups",
        ),
    ] {
        let r = c
            .api(Method::POST, "/api/v1/clusters", Some(&token), Some(bad))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(r.json()["error"]["field"], field, "{}", r.body);
        assert_eq!(r.json()["error"]["retryable"], false);
    }
    let r = c
        .send(
            Method::POST,
            "/api/v1/clusters",
            Some(b"{nope".to_vec()),
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["code"], "invalid");
    let r = c
        .api(
            Method::POST,
            "/api/v1/clusters",
            Some(&token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "same name: {}", r.body);
    let r = c
        .api(
            Method::GET,
            "/api/v1/clusters",
            Some("sy_not-a-token"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .client()
        .api(Method::GET, "/api/v1/clusters", None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"]["code"], "unauthenticated");
    let r = c
        .api(Method::GET, "/api/v1/nothing-here", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        c.api(Method::GET, "/api/v1/clusters", Some(&token), None)
            .await
            .json()["clusters"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Delete: DELETING, then gone (404) and nothing left in the cloud. The cluster page's
    // live stream, opened before, tells the end and then ends itself.
    let events = c
        .http
        .get(format!("{}/clusters/{id}/events", c.base))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let r = c
        .api(
            Method::DELETE,
            &format!("/api/v1/clusters/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.json()["cluster"]["status"], "DELETING");
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let stream = tokio::time::timeout(Duration::from_secs(20), events.text())
        .await
        .expect("the stream ends once the cluster is deleted")
        .unwrap();
    let last = stream
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .expect("at least one event");
    assert_eq!(last["status"], "DELETED", "{stream}");
    let r = c
        .send(
            Method::GET,
            &format!("/clusters/{id}/events"),
            None,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "a deleted cluster has no stream"
    );
    let r = c
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        cloud
            .cloud
            .compute
            .servers
            .usage()
            .iter()
            .map(|h| h.vcpus_used)
            .sum::<u64>(),
        0
    );

    // Tokens: listed without secrets; a revoked token stops working at once.
    let r = c
        .api(Method::GET, "/api/v1/tokens", Some(&token), None)
        .await;
    let tokens = r.json()["tokens"].clone();
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    assert!(!r.body.contains(&token), "secrets are never listed");
    let tid = tokens[0]["id"].as_str().unwrap().to_string();
    let r = other
        .api(
            Method::DELETE,
            &format!("/api/v1/tokens/{tid}"),
            Some(&other_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "not someone else's");
    let r = c
        .api(
            Method::DELETE,
            &format!("/api/v1/tokens/{tid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = c
        .api(Method::GET, "/api/v1/clusters", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = c.api(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/api/v1/clusters",
        "/api/v1/clusters/{id}",
        "/api/v1/clusters/{id}/plan-delete",
        "/api/v1/clusters/{id}/kubeconfig",
        "/api/v1/clusters/{id}/rotate-ca",
        "/api/v1/clusters/{id}/kubernetes",
        "/api/v1/projects",
        "/api/v1/projects/{id}/members",
        "/api/v1/projects/{id}/members/{user_id}",
        "/api/v1/clusters/{id}/nodegroups",
        "/api/v1/clusters/{id}/nodegroups/{ng}",
        "/api/v1/clusters/{id}/nodegroups/{ng}/plan-delete",
        "/api/v1/clusters/{id}/services",
        "/api/v1/clusters/{id}/services/{name}",
        "/api/v1/clusters/{id}/volumes",
        "/api/v1/clusters/{id}/volumes/{name}",
        "/api/v1/operations/{id}",
        "/api/v1/operations/{id}/retry",
        "/api/v1/operations/{id}/abort",
        "/api/v1/admin/operations",
        "/api/v1/versions",
        "/api/v1/admin/versions/{version}",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} documented");
    }
}
both!(api_creates_plans_and_deletes_clusters);

async fn live_streams_are_capped_and_end_with_access(app: &App) {
    use reqwest::Method;
    let mut a = app.signed_up("streams@example.com").await;
    let mut b = app.signed_up("streams-viewer@example.com").await;
    let token = a.token("streams").await;
    let body = serde_json::json!({ "name": "live", "master_count": 1,
        "node_groups": [ { "name": "default-worker", "flavor": "m1.small", "node_count": 1 } ] });
    let r = a
        .api(Method::POST, "/api/v1/clusters", Some(&token), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let op = r.json()["operation"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        wait_operation(&mut a, &token, &op).await["state"],
        "succeeded"
    );

    // Eight at once per user (the default); the ninth is refused with 429 and words.
    let mut open = Vec::new();
    for _ in 0..server::live_streams::PER_USER {
        let s = open_stream(&a, &id, None).await;
        assert_eq!(s.status(), StatusCode::OK);
        open.push(s);
    }
    let r = a
        .send(Method::GET, &format!("/clusters/{id}/events"), None, &[])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("live views open"), "{}", r.body);
    // A stream the client closed gives its place back (noticed at the next keep-alive).
    drop(open.pop());
    let mut reopened = None;
    for _ in 0..200 {
        let s = open_stream(&a, &id, None).await;
        if s.status() == StatusCode::OK {
            reopened = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    open.push(reopened.expect("a closed stream's place comes back"));
    drop(open);

    // Access is asked again while a stream runs. A revoked token's stream ends.
    let second = a.token("second").await;
    let by_token = open_stream(&a, &id, Some(&second)).await;
    assert_eq!(by_token.status(), StatusCode::OK);
    let tokens = a
        .api(Method::GET, "/api/v1/tokens", Some(&token), None)
        .await
        .json();
    let second_id = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "second")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a
        .api(
            Method::DELETE,
            &format!("/api/v1/tokens/{second_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    ends_within(by_token, Duration::from_secs(20), "token revoked").await;

    // A member removed from the project: their stream ends.
    let project = a.session().await["current"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a
        .call(
            "member_set",
            &[
                ("project_id", &project),
                ("email", "streams-viewer@example.com"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = b
        .call("invitation_accept", &[("project_id", &project)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let viewing = open_stream(&b, &id, None).await;
    assert_eq!(viewing.status(), StatusCode::OK);
    let b_id = b.session().await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a
        .call(
            "member_remove",
            &[("project_id", &project), ("user_id", &b_id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    ends_within(viewing, Duration::from_secs(20), "member removed").await;

    // A signed-out session's stream ends, and so does a disabled user's.
    let mut other = app.client();
    let r = other
        .call(
            "sign_in",
            &[
                ("email", "streams@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let signed_in_elsewhere = open_stream(&other, &id, None).await;
    assert_eq!(signed_in_elsewhere.status(), StatusCode::OK);
    let r = other.call("sign_out", &[]).await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.body
    );
    ends_within(signed_in_elsewhere, Duration::from_secs(20), "signed out").await;
    let mine = open_stream(&a, &id, None).await;
    assert_eq!(mine.status(), StatusCode::OK);
    let mut admin = app.admin().await;
    let users = admin.call("admin_users", &[]).await.json();
    let a_id = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "streams@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin
        .call("admin_user", &[("user_id", &a_id), ("change", "disable")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    ends_within(mine, Duration::from_secs(20), "user disabled").await;
}
both!(live_streams_are_capped_and_end_with_access);
