//! Projects, members and roles, the per-user project limit, and tenant isolation.

use reqwest::header::LOCATION;
use reqwest::StatusCode;

use crate::common::{wait_listed, wait_nodes_ready, wait_operation, App};

// A user owns at most the admin-set number of projects (their personal one included),
// also when they ask for many at once: the count and the insert are one transaction.
async fn projects_per_user_are_limited(app: &App) {
    let c = app.signed_up("hoarder@example.com").await;
    let cookie = c.cookie.clone();
    let tries = (0..20).map(|i| {
        let mut c = app.client();
        c.cookie = cookie.clone();
        async move {
            c.call("project_create", &[("name", &format!("p{i}"))])
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(tries).await;
    let made = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    let limit = provision::projects::DEFAULT_PROJECT_LIMIT as usize;
    assert_eq!((made, refused), (limit - 1, 21 - limit), "{statuses:?}");
    let user = app
        .store
        .user_by_email("hoarder@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        app.store
            .project_list_for_user(&user.id)
            .await
            .unwrap()
            .len(),
        limit
    );
    // Only an admin sets the limit, within bounds; raised, it admits one more.
    let mut c = app.client();
    c.cookie = cookie;
    let r = c.call("admin_project_limit", &[("limit", "50")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let mut admin = app.admin().await;
    for bad in ["0", "-3", "1001", "many"] {
        let r = admin.call("admin_project_limit", &[("limit", bad)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
    let r = admin
        .call(
            "admin_project_limit",
            &[("limit", &(limit + 1).to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        admin.call("admin_users", &[]).await.json()["project_limit"],
        limit + 1
    );
    let r = c.call("project_create", &[("name", "one more")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = c.call("project_create", &[("name", "and another")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("administrator"), "{}", r.body);
}
both!(projects_per_user_are_limited);

async fn roles_viewer_member_owner(app: &App) {
    let mut owner = app.signed_up("owner@example.com").await;
    let mut viewer = app.signed_up("viewer@example.com").await;
    let mut member = app.signed_up("member@example.com").await;
    let project = owner.session().await["current"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Adding someone invites their email: the answer is the same whether or not an
    // account uses it, so the form tells nobody who has one.
    let mut answers = Vec::new();
    for (email, role) in [
        ("viewer@example.com", "viewer"),
        ("member@example.com", "member"),
        ("nobody-here@example.com", "member"),
    ] {
        let r = owner
            .call(
                "member_set",
                &[("project_id", &project), ("email", email), ("role", role)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        answers.push((r.status, r.body, r.headers.get(LOCATION).cloned()));
    }
    assert_eq!(answers[1], answers[2], "an account and none look the same");
    let details = owner
        .call("project", &[("project_id", &project)])
        .await
        .json();
    assert_eq!(details["members"].as_array().unwrap().len(), 1, "{details}");
    let invited: Vec<&str> = details["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        invited,
        [
            "member@example.com",
            "nobody-here@example.com",
            "viewer@example.com"
        ]
    );
    // Not a member until they accept; then with the role they were invited with.
    let r = viewer.call("project", &[("project_id", &project)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let mine = viewer.call("my_invitations", &[]).await.json();
    assert_eq!(mine[0]["project_id"], project.as_str(), "{mine}");
    assert_eq!(mine[0]["role"], "viewer", "{mine}");
    for c in [&mut viewer, &mut member] {
        let r = c
            .call("invitation_accept", &[("project_id", &project)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(c.session().await["current"]["id"], project.as_str());
        let r = c
            .call("invitation_accept", &[("project_id", &project)])
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "used once: {}", r.body);
    }
    // The invitation nobody took is withdrawn.
    let r = owner
        .call(
            "invitation_revoke",
            &[
                ("project_id", &project),
                ("email", "nobody-here@example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let details = owner
        .call("project", &[("project_id", &project)])
        .await
        .json();
    assert_eq!(details["members"].as_array().unwrap().len(), 3, "{details}");
    assert_eq!(details["invitations"], serde_json::json!([]), "{details}");
    // A viewer can read but not change.
    let r = viewer.call("project", &[("project_id", &project)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["can_edit"], false);
    let r = viewer
        .call(
            "project_update",
            &[("project_id", &project), ("description", "viewer was here")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("viewer"), "{}", r.body);
    // A member can change, but not manage members.
    let r = member
        .call(
            "project_update",
            &[("project_id", &project), ("description", "member was here")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = member
        .call(
            "member_set",
            &[
                ("project_id", &project),
                ("email", "member@example.com"),
                ("role", "owner"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = owner.call("project", &[("project_id", &project)]).await;
    assert_eq!(r.json()["project"]["description"], "member was here");
    // The last owner stays.
    let owner_id = owner.session().await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = owner
        .call(
            "member_remove",
            &[("project_id", &project), ("user_id", &owner_id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    // Denials are audited.
    let denied = app
        .store
        .audit_list(&provision::domain::AuditFilter {
            outcome: Some("denied".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(denied
        .iter()
        .any(|a| a.actor_email == "viewer@example.com" && a.action == "project.update"));
}
both!(roles_viewer_member_owner);

async fn tenants_are_isolated(app: &App) {
    let mut erin = app.signed_up("erin@example.com").await;
    let mut frank = app.signed_up("frank@example.com").await;
    let erins = erin.session().await["current"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (endpoint, form) in [
        ("project", vec![("project_id", erins.as_str())]),
        ("switch_project", vec![("project_id", erins.as_str())]),
        (
            "project_update",
            vec![("project_id", erins.as_str()), ("description", "x")],
        ),
        (
            "member_set",
            vec![
                ("project_id", erins.as_str()),
                ("email", "frank@example.com"),
                ("role", "owner"),
            ],
        ),
        (
            "invitation_revoke",
            vec![
                ("project_id", erins.as_str()),
                ("email", "erin@example.com"),
            ],
        ),
        ("invitation_accept", vec![("project_id", erins.as_str())]),
    ] {
        let r = frank.call(endpoint, &form).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{endpoint}: {}", r.body);
        assert!(!r.body.contains("erin"), "{endpoint} leaks: {}", r.body);
    }
    let r = frank
        .call("project", &[("project_id", "no-such-project")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(frank.session().await["projects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["id"] != erins.as_str()));
    // Signed out: 401, not data.
    let r = app
        .client()
        .call("project", &[("project_id", &erins)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Admin pages and functions are for admins only.
    for function in [
        "admin_overview",
        "admin_clusters",
        "admin_users",
        "admin_quota_table",
        "admin_offer",
        "admin_audit",
    ] {
        let r = frank.call(function, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{function}: {}", r.body);
    }
    let r = frank.call("admin_signup", &[("open", "false")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for path in [
        "/admin",
        "/admin/clusters",
        "/admin/users",
        "/admin/quotas",
        "/admin/offer",
        "/admin/audit",
    ] {
        let page = frank
            .send(reqwest::Method::GET, path, None, &[("accept", "text/html")])
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            !page.body.contains("frank@example.com</td>"),
            "{path}: user list leaked"
        );
        assert!(
            !page.body.contains("class=\"tabs\""),
            "{path}: the admin tabs showed"
        );
    }
}
both!(tenants_are_isolated);

/// Every route of the OpenAPI document that names an object, tried by another tenant on
/// the first tenant's objects: 404 (admin routes: 403), and nothing changes. The routes
/// come from the document, so a new one is covered without editing this test; a new
/// kind of path parameter fails here until it is given a value below.
async fn cross_tenant_sweep_of_every_route_with_an_id(app: &App) {
    use reqwest::Method;
    let mut a = app.signed_up("sweep-owner@example.com").await;
    let mut b = app.signed_up("sweep-other@example.com").await;
    let ta = a.token("sweep").await;
    let tb = b.token("sweep").await;
    let body = serde_json::json!({ "name": "swept", "master_count": 1,
        "node_groups": [ { "name": "default-worker", "flavor": "m1.small", "node_count": 1 } ] });
    let r = a
        .api(Method::POST, "/api/v1/clusters", Some(&ta), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let cluster = r.json()["cluster"]["id"].as_str().unwrap().to_string();
    let op = r.json()["operation"]["id"].as_str().unwrap().to_string();
    assert_eq!(wait_operation(&mut a, &ta, &op).await["state"], "succeeded");
    // The load balancer is made once, with its member, so the cluster settles.
    wait_nodes_ready(&mut a, &ta, &cluster, 1).await;
    for (path, body) in [
        (
            "services",
            serde_json::json!({"name": "web", "ports": [{"port": 80}]}),
        ),
        (
            "volumes",
            serde_json::json!({"name": "data", "size_gib": 1}),
        ),
    ] {
        let r = a
            .api(
                Method::POST,
                &format!("/api/v1/clusters/{cluster}/{path}"),
                Some(&ta),
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{path}: {}", r.body);
    }
    for (path, name) in [("services", "web"), ("volumes", "data")] {
        let url = format!("/api/v1/clusters/{cluster}/{path}");
        wait_listed(&mut a, &ta, &url, path, name, "ACTIVE").await;
    }
    let tokens = a
        .api(Method::GET, "/api/v1/tokens", Some(&ta), None)
        .await
        .json();
    let token_id = tokens["tokens"][0]["id"].as_str().unwrap().to_string();
    let project = a.session().await["current"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let owner_id = a
        .api(
            Method::GET,
            &format!("/api/v1/projects/{project}/members"),
            Some(&ta),
            None,
        )
        .await
        .json()["members"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The cluster as it settles (the controllers' last operation recorded).
    let mut before = String::new();
    for _ in 0..100 {
        let now = a
            .api(
                Method::GET,
                &format!("/api/v1/clusters/{cluster}"),
                Some(&ta),
                None,
            )
            .await
            .body;
        let idle = !["pending", "running", "unwinding"]
            .iter()
            .any(|s| now.contains(&format!("\"state\":\"{s}\"")));
        if now == before && idle {
            break;
        }
        before = now;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    let doc = a
        .api(Method::GET, "/api/v1/openapi.json", Some(&ta), None)
        .await
        .json();
    let mut tried = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        let admin = path.starts_with("/api/v1/admin/");
        let concrete = path
            .replace(
                "{id}",
                if path.starts_with("/api/v1/clusters/") {
                    &cluster
                } else if path.starts_with("/api/v1/operations/") {
                    &op
                } else if path.starts_with("/api/v1/tokens/") {
                    &token_id
                } else if path.starts_with("/api/v1/admin/projects/")
                    || path.starts_with("/api/v1/projects/")
                {
                    &project
                } else if path.contains("{id}") {
                    panic!("{path}: which object does {{id}} name here? Add it to the sweep.")
                } else {
                    ""
                },
            )
            .replace("{ng}", "default-worker")
            .replace(
                "{name}",
                if path.contains("/volumes/") {
                    "data"
                } else if path.contains("/services/") {
                    "web"
                } else {
                    "m1.small"
                },
            )
            .replace("{version}", "v1.31.12")
            .replace("{user_id}", &owner_id);
        assert!(
            !concrete.contains('{'),
            "{path}: a path parameter the sweep does not know"
        );
        for method in ops.as_object().unwrap().keys() {
            let m: Method = method.to_uppercase().parse().unwrap();
            let body = matches!(m, Method::POST | Method::PUT | Method::PATCH)
                .then(|| serde_json::json!({}));
            let r = b.api(m.clone(), &concrete, Some(&tb), body).await;
            let want = if admin {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(
                r.status, want,
                "{method} {concrete} by another tenant: {}",
                r.body
            );
            assert!(
                !r.body.contains("swept"),
                "{method} {concrete} leaks: {}",
                r.body
            );
            tried += 1;
        }
    }
    assert!(tried >= 20, "only {tried} routes with an id");
    // Nothing changed: the cluster is as it was, the token still works.
    let after = a
        .api(
            Method::GET,
            &format!("/api/v1/clusters/{cluster}"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.body);
    assert_eq!(after.body, before);
}
both!(cross_tenant_sweep_of_every_route_with_an_id);

/// Projects and members through the REST API: create, list, invite, change a role,
/// remove; each refused to someone who is not an owner.
async fn api_projects_and_members(app: &App) {
    use reqwest::Method;
    let mut a = app.signed_up("proj-owner@example.com").await;
    let mut b = app.signed_up("proj-other@example.com").await;
    let ta = a.token("p").await;
    let tb = b.token("p").await;
    let r = a
        .api(
            Method::POST,
            "/api/v1/projects",
            Some(&ta),
            Some(serde_json::json!({"name": "team"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["role"], "owner");
    let project = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .api(Method::GET, "/api/v1/projects", Some(&ta), None)
        .await;
    assert!(
        r.json()["projects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == project),
        "{}",
        r.body
    );
    let members = format!("/api/v1/projects/{project}/members");
    // The other user is invited, accepts in the console (here: the store), and shows up.
    let r = a
        .api(
            Method::PUT,
            &members,
            Some(&ta),
            Some(serde_json::json!({"email": "proj-other@example.com", "role": "viewer"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["result"], "invited");
    // Not a member yet: the other user cannot see the members.
    let r = b.api(Method::GET, &members, Some(&tb), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let other = b.session().await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.store
        .invitation_accept(
            &project,
            "proj-other@example.com",
            &other,
            provision::domain::Role::Viewer,
        )
        .await
        .unwrap();
    let r = b.api(Method::GET, &members, Some(&tb), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let list = r.json()["members"].as_array().unwrap().clone();
    assert!(
        list.iter()
            .any(|m| m["email"] == "proj-other@example.com" && m["role"] == "viewer"),
        "{list:?}"
    );
    // A viewer cannot manage members.
    let r = b
        .api(
            Method::PUT,
            &members,
            Some(&tb),
            Some(serde_json::json!({"email": "proj-other@example.com", "role": "owner"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // The owner changes the role, then removes them.
    let r = a
        .api(
            Method::PUT,
            &members,
            Some(&ta),
            Some(serde_json::json!({"email": "proj-other@example.com", "role": "member"})),
        )
        .await;
    assert_eq!(r.json()["result"], "role_changed", "{}", r.body);
    let r = a
        .api(
            Method::PUT,
            &members,
            Some(&ta),
            Some(serde_json::json!({"email": "x@example.com", "role": "captain"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = a
        .api(
            Method::DELETE,
            &format!("{members}/{other}"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = b.api(Method::GET, &members, Some(&tb), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}
both!(api_projects_and_members);
