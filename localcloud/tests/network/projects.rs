//! Projects see only their own networks, subnets, ports and security groups.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::{
    create_server, delete, error_type, get, id, ids, network_with_subnet, post, sg_rule_id, NET,
};

async fn token_of(cloud: &Cloud, user: &str, project: &str) -> String {
    let res = cloud.auth(user, user, project).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn projects_see_only_their_own() {
    let cloud = Cloud::start_with(|c| {
        c.users.push(localcloud::UserConfig {
            name: "alice".into(),
            password: Some("alice".into()),
            project: "other".into(),
            admin: false,
        })
    })
    .await;
    let admin = cloud.token().await;
    let alice = token_of(&cloud, "alice", "other").await;
    let (net, sub) = network_with_subnet(&cloud, &admin, "admins", "127.50.0.0/24").await;
    let (_, port) = post(
        &cloud,
        &admin,
        "/ports",
        json!({"port": {"network_id": net}}),
    )
    .await;
    let port = id(&port, "port");
    let (_, sg) = post(
        &cloud,
        &admin,
        "/security-groups",
        json!({"security_group": {"name": "mine"}}),
    )
    .await;
    let sg = id(&sg, "security_group");
    let rule = sg_rule_id(&cloud, &admin, &sg).await;

    // Alice sees the shared private network only, and none of the admin's objects.
    let (_, nets) = get(&cloud, &alice, "/networks").await;
    assert_eq!(
        ids(&nets, "networks"),
        vec![localcloud::network::network_id()]
    );
    for path in [
        format!("/networks/{net}"),
        format!("/subnets/{sub}"),
        format!("/ports/{port}"),
        format!("/security-groups/{sg}"),
        format!("/security-group-rules/{rule}"),
    ] {
        let (status, _) = get(&cloud, &alice, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            delete(&cloud, &alice, &path).await,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for (path, collection) in [
        ("/subnets", "subnets"),
        ("/ports", "ports"),
        ("/security-group-rules", "security_group_rules"),
    ] {
        let (_, list) = get(&cloud, &alice, path).await;
        let theirs = ids(&list, collection);
        assert!(
            !theirs.contains(&sub) && !theirs.contains(&port) && !theirs.contains(&rule),
            "{path}"
        );
    }
    let (status, _) = post(
        &cloud,
        &alice,
        "/subnets",
        json!({"subnet": {"network_id": net, "cidr": "127.51.0.0/24"}}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &cloud,
        &alice,
        "/ports",
        json!({"port": {"network_id": net}}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &cloud,
        &alice,
        "/ports",
        json!({"port": {"network_id": localcloud::network::network_id(), "security_groups": [sg]}}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &cloud,
        &alice,
        "/security-group-rules",
        json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress"}}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = create_server(&cloud, &alice, "x", json!([{"uuid": net}])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The shared network: usable, not hers to delete or to add subnets to.
    let private = localcloud::network::network_id();
    let (status, body) = cloud
        .send(
            Method::DELETE,
            &format!("{NET}/networks/{private}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = post(
        &cloud,
        &alice,
        "/subnets",
        json!({"subnet": {"network_id": private, "cidr": "127.60.0.0/24"}}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, hers) = post(
        &cloud,
        &alice,
        "/ports",
        json!({"port": {"network_id": private}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let alice_project = hers["port"]["project_id"].as_str().unwrap().to_string();
    assert_ne!(alice_project, cloud.project_id().await);
    // Her own default group: hers, and not hers to delete.
    let (_, groups) = get(&cloud, &alice, "/security-groups").await;
    assert_eq!(groups["security_groups"].as_array().unwrap().len(), 1);
    assert_eq!(
        groups["security_groups"][0]["project_id"],
        alice_project.as_str()
    );
    let default = groups["security_groups"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(hers["port"]["security_groups"], json!([default]));
    let (status, body) = cloud
        .send(
            Method::DELETE,
            &format!("{NET}/security-groups/{default}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::CONFLICT, "SecurityGroupCannotRemoveDefault")
    );
    // Nor may she create in another project.
    let (status, _) = post(
        &cloud,
        &alice,
        "/networks",
        json!({"network": {"name": "x", "project_id": "someone"}}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Her network; the admin sees everything.
    let (_, own) = post(
        &cloud,
        &alice,
        "/networks",
        json!({"network": {"name": "alices"}}),
    )
    .await;
    let own = id(&own, "network");
    let (_, all) = get(&cloud, &admin, "/networks").await;
    let all = ids(&all, "networks");
    assert!(all.contains(&own) && all.contains(&net));
    let (_, all) = get(
        &cloud,
        &admin,
        &format!("/ports?project_id={alice_project}"),
    )
    .await;
    assert_eq!(ids(&all, "ports"), vec![id(&hers, "port")]);
    cloud.running.stop();
}
