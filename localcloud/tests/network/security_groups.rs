//! Security groups and their rules.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;
use crate::{delete, error_type, get, id, ids, post, NET};

#[tokio::test]
async fn security_groups_and_rules() {
    let cloud = Cloud::start().await;
    let token = cloud.token().await;
    let (status, sg) = post(
        &cloud,
        &token,
        "/security-groups",
        json!({"security_group": {"name": "k8s-api", "description": "API", "tags": ["c1"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let rules = sg["security_group"]["security_group_rules"]
        .as_array()
        .unwrap();
    let mut kinds: Vec<(String, String)> = rules
        .iter()
        .map(|r| {
            (
                r["direction"].as_str().unwrap().into(),
                r["ethertype"].as_str().unwrap().into(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("egress".into(), "IPv4".into()),
            ("egress".into(), "IPv6".into())
        ]
    );
    let sg = id(&sg, "security_group");
    // The project's default group came with first use, with its four rules.
    let (_, list) = get(&cloud, &token, "/security-groups?name=default").await;
    let default = &list["security_groups"][0];
    assert_eq!(default["security_group_rules"].as_array().unwrap().len(), 4);
    let default_id = default["id"].as_str().unwrap().to_string();
    let (_, list) = get(&cloud, &token, "/security-groups?tags=c1").await;
    assert_eq!(ids(&list, "security_groups"), vec![sg.clone()]);
    let (status, body) = post(
        &cloud,
        &token,
        "/security-groups",
        json!({"security_group": {"name": "default"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let rule = |extra: Value| {
        let mut r = json!({"security_group_id": sg, "direction": "ingress", "protocol": "tcp",
                           "port_range_min": 6443, "port_range_max": 6443,
                           "remote_ip_prefix": "10.1.2.3/16"});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        json!({ "security_group_rule": r })
    };
    let (status, created) = post(&cloud, &token, "/security-group-rules", rule(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["security_group_rule"]["remote_ip_prefix"],
        "10.1.0.0/16"
    );
    assert_eq!(created["security_group_rule"]["ethertype"], "IPv4");
    let rule_id = id(&created, "security_group_rule");
    let (status, dup) = post(&cloud, &token, "/security-group-rules", rule(json!({}))).await;
    assert_eq!(
        (status, error_type(&dup)),
        (StatusCode::CONFLICT, "SecurityGroupRuleExists")
    );
    assert!(dup["NeutronError"]["message"]
        .as_str()
        .unwrap()
        .contains(&rule_id));
    for (extra, code) in [
        (
            json!({"port_range_min": 0, "port_range_max": 0}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"port_range_max": 70000}), StatusCode::BAD_REQUEST),
        (
            json!({"port_range_min": 100, "port_range_max": 99}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"port_range_min": "eighty"}), StatusCode::BAD_REQUEST),
        (json!({"protocol": null}), StatusCode::BAD_REQUEST),
        (json!({"protocol": "sctp"}), StatusCode::BAD_REQUEST),
        (json!({"direction": "sideways"}), StatusCode::BAD_REQUEST),
        (json!({"direction": null}), StatusCode::BAD_REQUEST),
        (json!({"ethertype": "IPv5"}), StatusCode::BAD_REQUEST),
        (
            json!({"remote_ip_prefix": "10.1.2.3/40"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"remote_ip_prefix": "fd00::/8"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"remote_group_id": sg}), StatusCode::BAD_REQUEST),
        (
            json!({"remote_ip_prefix": null, "remote_group_id": "nope"}),
            StatusCode::NOT_FOUND,
        ),
        (json!({"security_group_id": "nope"}), StatusCode::NOT_FOUND),
    ] {
        let (status, body) =
            post(&cloud, &token, "/security-group-rules", rule(extra.clone())).await;
        assert_eq!(status, code, "{extra}: {body}");
        assert!(body["NeutronError"]["message"].is_string());
    }
    // Other rules that differ are fine: another port, ICMP, IPv6, a remote group.
    for extra in [
        json!({"port_range_min": 22, "port_range_max": 22}),
        json!({"protocol": "icmp", "port_range_min": null, "port_range_max": null}),
        json!({"ethertype": "IPv6", "remote_ip_prefix": "fd00::1/64"}),
        json!({"remote_ip_prefix": null, "remote_group_id": default_id}),
        json!({"protocol": "udp", "port_range_min": 30000, "port_range_max": 32767}),
    ] {
        let (status, body) =
            post(&cloud, &token, "/security-group-rules", rule(extra.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{extra}: {body}");
    }
    let (_, rules) = get(
        &cloud,
        &token,
        &format!("/security-group-rules?security_group_id={sg}"),
    )
    .await;
    assert_eq!(
        rules["security_group_rules"].as_array().unwrap().len(),
        2 + 6
    );
    let (status, shown) = get(&cloud, &token, &format!("/security-group-rules/{rule_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["security_group_rule"]["port_range_max"], 6443);
    assert_eq!(
        delete(&cloud, &token, &format!("/security-group-rules/{rule_id}")).await,
        StatusCode::NO_CONTENT
    );
    let (status, _) = get(&cloud, &token, &format!("/security-group-rules/{rule_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A group a port uses stays.
    let private = localcloud::network::network_id();
    let (_, port) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": private, "security_groups": [sg]}}),
    )
    .await;
    assert_eq!(port["port"]["security_groups"], json!([sg]));
    let (status, body) = cloud
        .send(
            Method::DELETE,
            &format!("{NET}/security-groups/{sg}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::CONFLICT, "SecurityGroupInUse")
    );
    assert_eq!(
        delete(&cloud, &token, &format!("/ports/{}", id(&port, "port"))).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(&cloud, &token, &format!("/security-groups/{sg}")).await,
        StatusCode::NO_CONTENT
    );
    let (_, rules) = get(
        &cloud,
        &token,
        &format!("/security-group-rules?security_group_id={sg}"),
    )
    .await;
    assert_eq!(rules["security_group_rules"], json!([]));
    let (status, body) = get(&cloud, &token, &format!("/security-groups/{sg}")).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::NOT_FOUND, "SecurityGroupNotFound")
    );
    cloud.running.stop();
}
