//! What only admins may do: sign-up, users, versions, flavors, quotas and the audit log.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{wait_operation, App, ADMIN_EMAIL};

async fn admin_closes_signup_and_disables_users(app: &App) {
    let mut admin = app.admin().await;
    let mut gina = app.signed_up("gina@example.com").await;
    let r = admin.call("admin_signup", &[("open", "false")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .client()
        .call(
            "sign_up",
            &[
                ("email", "hank@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("Sign-up is closed"));
    let users = admin.call("admin_users", &[]).await.json();
    assert_eq!(users["signup_open"], false);
    let gina_id = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "gina@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin
        .call(
            "admin_user",
            &[("user_id", &gina_id), ("change", "disable")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Her live session stops working at once.
    assert_eq!(gina.email().await, None);
    let r = app
        .client()
        .call(
            "sign_in",
            &[
                ("email", "gina@example.com"),
                ("password", "a long password!"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Audit entries for all of it.
    let audit = admin.call("admin_audit", &[]).await.json();
    let actions: Vec<String> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.contains(&"settings.signup".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"user.sign_in".to_string()), "{actions:?}");
}
both!(admin_closes_signup_and_disables_users);

/// The versions on offer are the admins' to manage: a disabled version takes no new
/// clusters (the API says which are on offer), a new one is offered at once.
async fn api_versions_are_admin_managed(app: &App) {
    use reqwest::Method;
    let mut c = app.signed_up("api-versions@example.com").await;
    let token = c.token("v").await;
    let t = Some(token.as_str());
    let list = c.api(Method::GET, "/api/v1/versions", t, None).await.json();
    let versions: Vec<&str> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v1.30.14", "v1.31.12", "v1.32.8", "v1.33.4"]);
    let r = c
        .api(
            Method::PUT,
            "/api/v1/admin/versions/v1.30.14",
            t,
            Some(serde_json::json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    let mut admin = app.admin().await;
    let admin_token = admin.token("admin").await;
    let a = Some(admin_token.as_str());
    let r = admin
        .api(
            Method::PUT,
            "/api/v1/admin/versions/v1.30.14",
            a,
            Some(serde_json::json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = admin
        .api(
            Method::PUT,
            "/api/v1/admin/versions/v1.34.1",
            a,
            Some(serde_json::json!({"enabled": true, "image": "ubuntu-24.04-k8s-v1.34"})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "the cloud has no such image: {}",
        r.body
    );
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no image"));
    let r = admin
        .api(
            Method::PUT,
            "/api/v1/admin/versions/v1.33.5",
            a,
            Some(serde_json::json!({"enabled": true, "image": "ubuntu-22.04-k8s-v1.33"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for (path, body) in [
        ("v1.35.0", serde_json::json!({"enabled": true})),
        ("1.35", serde_json::json!({"enabled": true, "image": "x"})),
        ("v1.35.0", serde_json::json!({"enabled": "yes"})),
    ] {
        let r = admin
            .api(
                Method::PUT,
                &format!("/api/v1/admin/versions/{path}"),
                a,
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
    }
    let all = admin
        .api(Method::GET, "/api/v1/versions", a, None)
        .await
        .json();
    assert_eq!(
        all["versions"].as_array().unwrap().len(),
        5,
        "admins see the disabled one"
    );

    let list = c.api(Method::GET, "/api/v1/versions", t, None).await.json();
    let versions: Vec<&str> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v1.31.12", "v1.32.8", "v1.33.4", "v1.33.5"]);
    let old = serde_json::json!({"name": "old", "kubernetes_version": "v1.30.14", "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}]});
    let r = c.api(Method::POST, "/api/v1/clusters", t, Some(old)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "kubernetes_version");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("v1.33.5"));
    // No version: the newest on offer, booting its image.
    let new = serde_json::json!({"name": "new", "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}]});
    let r = c.api(Method::POST, "/api/v1/clusters", t, Some(new)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.json()["cluster"]["kubernetes_version"], "v1.33.5");
    let op = wait_operation(
        &mut c,
        &token,
        r.json()["operation"]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    // Disabling the version does not stop its clusters from scaling.
    admin
        .api(
            Method::PUT,
            "/api/v1/admin/versions/v1.33.5",
            a,
            Some(serde_json::json!({"enabled": false})),
        )
        .await;
    let id = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let r = c
        .api(
            Method::PATCH,
            &format!("/api/v1/clusters/{id}/nodegroups/w"),
            t,
            Some(serde_json::json!({"node_count": 2, "max_node_count": 3})),
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
both!(api_versions_are_admin_managed);

/// Admins choose the flavors on offer, set quotas and read the audit log filtered;
/// tenants get 403 for all of it, and bad input changes nothing.
async fn api_flavors_quotas_and_audit(app: &App) {
    use reqwest::Method;
    let mut c = app.signed_up("api-offers@example.com").await;
    let token = c.token("o").await;
    let t = Some(token.as_str());
    let names = |v: &Value| -> Vec<String> {
        v["flavors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    };
    let offered = names(&c.api(Method::GET, "/api/v1/flavors", t, None).await.json());
    assert!(offered.contains(&"m1.large".to_string()), "{offered:?}");
    for (method, path, body) in [
        (
            Method::PUT,
            "/api/v1/admin/flavors/m1.large",
            Some(serde_json::json!({"enabled": false})),
        ),
        (Method::GET, "/api/v1/admin/quotas", None),
        (Method::GET, "/api/v1/admin/audit", None),
    ] {
        let r = c.api(method, path, t, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }

    let mut admin = app.admin().await;
    let admin_token = admin.token("admin").await;
    let a = Some(admin_token.as_str());
    let r = admin
        .api(
            Method::PUT,
            "/api/v1/admin/flavors/m1.large",
            a,
            Some(serde_json::json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["flavor"]["enabled"], false);
    for (path, body, want) in [
        (
            "m9.huge",
            serde_json::json!({"enabled": true}),
            StatusCode::NOT_FOUND,
        ),
        (
            "m1.large",
            serde_json::json!({"enabled": "no"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "m1.large",
            serde_json::json!({"enabled": true, "x": 1}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = admin
            .api(
                Method::PUT,
                &format!("/api/v1/admin/flavors/{path}"),
                a,
                Some(body),
            )
            .await;
        assert_eq!(r.status, want, "{path}: {}", r.body);
    }
    // Tenants no longer see it, and a cluster or node group on it is refused by name;
    // admins still see it, disabled.
    let offered = names(&c.api(Method::GET, "/api/v1/flavors", t, None).await.json());
    assert!(!offered.contains(&"m1.large".to_string()), "{offered:?}");
    let all = admin
        .api(Method::GET, "/api/v1/flavors", a, None)
        .await
        .json();
    assert!(all["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "m1.large" && f["enabled"] == false));
    let big = serde_json::json!({"name": "big", "node_groups": [{"name": "w", "flavor": "m1.large", "node_count": 1}]});
    let r = c
        .api(
            Method::POST,
            "/api/v1/clusters?dry_run=true",
            t,
            Some(big.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not on offer"));
    admin
        .api(
            Method::PUT,
            "/api/v1/admin/flavors/m1.large",
            a,
            Some(serde_json::json!({"enabled": true})),
        )
        .await;
    let r = c
        .api(Method::POST, "/api/v1/clusters?dry_run=true", t, Some(big))
        .await;
    assert_eq!(r.status, StatusCode::OK, "on offer again: {}", r.body);

    // Quotas: every project listed with its use; a limit of 0 clusters refuses the next.
    let quotas = admin
        .api(Method::GET, "/api/v1/admin/quotas", a, None)
        .await
        .json();
    let mine = quotas["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["personal_of"] == "api-offers@example.com")
        .cloned()
        .expect("the tenant's project is listed");
    let pid = mine["project_id"].as_str().unwrap().to_string();
    assert_eq!(mine["usage"]["clusters"], 0);
    let zero = serde_json::json!({"clusters": 0, "vcpus": 8, "ram_mib": 16384, "volume_gib": 100, "load_balancers": 2});
    for (path, body, want) in [
        (
            format!("/api/v1/admin/projects/{pid}/quota"),
            serde_json::json!({"clusters": -1, "vcpus": 8, "ram_mib": 1, "volume_gib": 1, "load_balancers": 1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/admin/projects/{pid}/quota"),
            serde_json::json!({"clusters": 1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/admin/projects/no-such-project/quota".to_string(),
            zero.clone(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = admin.api(Method::PUT, &path, a, Some(body)).await;
        assert_eq!(r.status, want, "{path}: {}", r.body);
    }
    let after = admin
        .api(Method::GET, "/api/v1/admin/quotas", a, None)
        .await
        .json();
    assert_eq!(after, quotas, "refused changes change nothing");
    let r = admin
        .api(
            Method::PUT,
            &format!("/api/v1/admin/projects/{pid}/quota"),
            a,
            Some(zero),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let small = serde_json::json!({"name": "small", "node_groups": [{"name": "w", "flavor": "m1.small", "node_count": 1}]});
    let r = c
        .api(Method::POST, "/api/v1/clusters", t, Some(small))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("clusters"),
        "{}",
        r.body
    );
    // Set again (an update of the same row): the listing shows the new limits.
    let more = serde_json::json!({"clusters": 3, "vcpus": 8, "ram_mib": 16384, "volume_gib": 100, "load_balancers": 2});
    let r = admin
        .api(
            Method::PUT,
            &format!("/api/v1/admin/projects/{pid}/quota"),
            a,
            Some(more),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let listed = admin
        .api(Method::GET, "/api/v1/admin/quotas", a, None)
        .await
        .json();
    let q = listed["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["project_id"] == pid.as_str())
        .unwrap()["quota"]
        .clone();
    assert_eq!(q["clusters"], 3, "{q}");

    // The audit log, filtered.
    let audit = |q: &str| format!("/api/v1/admin/audit{q}");
    let r = admin
        .api(Method::GET, &audit("?action=flavor.set"), a, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let entries = r.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries
        .iter()
        .all(|e| e["action"] == "flavor.set" && e["actor_email"] == ADMIN_EMAIL));
    // Made through the REST API with a token: recorded with the client's real address.
    assert!(
        entries.iter().all(|e| e["client_addr"] == "127.0.0.1"),
        "{entries:?}"
    );
    let r = admin
        .api(
            Method::GET,
            &audit(&format!("?project={pid}&action=quota.set")),
            a,
            None,
        )
        .await;
    assert_eq!(
        r.json()["entries"].as_array().unwrap().len(),
        2,
        "{}",
        r.body
    );
    let r = admin
        .api(
            Method::GET,
            &audit("?actor=API-OFFERS@example.com&outcome=success"),
            a,
            None,
        )
        .await;
    let entries = r.json()["entries"].as_array().unwrap().clone();
    assert!(!entries.is_empty());
    assert!(entries
        .iter()
        .all(|e| e["actor_email"] == "api-offers@example.com" && e["outcome"] == "success"));
    let r = admin
        .api(
            Method::GET,
            &audit("?since=2000-01-01&until=2000-12-31"),
            a,
            None,
        )
        .await;
    assert_eq!(
        r.json()["entries"].as_array().unwrap().len(),
        0,
        "{}",
        r.body
    );
    let r = admin
        .api(Method::GET, &audit("?since=2000-01-01T00:00"), a, None)
        .await;
    assert!(!r.json()["entries"].as_array().unwrap().is_empty());
    for q in [
        "?since=yesterday",
        "?outcome=maybe",
        "?since=2026-02-01&until=2026-01-01",
        "?limit=lots",
        "?colour=red",
    ] {
        let r = admin.api(Method::GET, &audit(q), a, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.body);
    }
}
both!(api_flavors_quotas_and_audit);
