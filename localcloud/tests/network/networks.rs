//! Networks and subnets: address allocation, in-use deletes refused, subnets on loopback only.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::{delete, error_type, get, id, ids, network_with_subnet, post, NET};

#[tokio::test]
async fn networks_subnets_and_ports_allocate_addresses() {
    let cloud = Cloud::start().await;
    let token = cloud.token().await;
    let (status, net) = post(
        &cloud,
        &token,
        "/networks",
        json!({"network": {"name": "cluster", "tags": ["shipyard", "cluster=c1"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let net = id(&net, "network");
    // Filters: name, id, project, tags (all) and tags-any.
    let project = cloud.project_id().await;
    for (query, expect) in [
        ("name=cluster", true),
        ("name=other", false),
        (&format!("id={net}") as &str, true),
        (&format!("project_id={project}"), true),
        (&format!("tenant_id={project}"), true),
        ("tags=shipyard,cluster%3Dc1", true),
        ("tags=shipyard,nope", false),
        ("tags-any=nope,shipyard", true),
        ("tags-any=nope", false),
    ] {
        let (_, list) = get(&cloud, &token, &format!("/networks?{query}")).await;
        assert_eq!(
            ids(&list, "networks").contains(&net),
            expect,
            "{query}: {list}"
        );
    }
    let (_, only) = get(&cloud, &token, "/networks?tags=shipyard").await;
    assert_eq!(ids(&only, "networks"), vec![net.clone()]);

    let (status, sub) = post(
        &cloud,
        &token,
        "/subnets",
        json!({"subnet": {"network_id": net, "cidr": "127.168.10.0/24", "name": "nodes", "tags": ["a"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let sub = id(&sub, "subnet");
    let (_, shown) = get(&cloud, &token, &format!("/networks/{net}")).await;
    assert_eq!(shown["network"]["subnets"], json!([sub]));
    // Overlapping the network's other subnet, or not a CIDR at all: 400.
    for cidr in [
        "127.168.10.128/25",
        "127.168.0.0/16",
        "127.50.0.5/24",
        "nope",
        "127.50.0.0/33",
        "fd00::/64",
        "127.50.9.0/31",
    ] {
        let (status, body) = post(
            &cloud,
            &token,
            "/subnets",
            json!({"subnet": {"network_id": net, "cidr": cidr}}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{cidr}: {body}");
        assert!(!body["NeutronError"]["message"].as_str().unwrap().is_empty());
    }
    // The same CIDR on another network is fine.
    let (other_net, _) = network_with_subnet(&cloud, &token, "other", "127.168.10.0/24").await;
    for (query, expect) in [
        (format!("network_id={net}"), vec![sub.clone()]),
        ("name=nodes".to_string(), vec![sub.clone()]),
        ("tags=a".to_string(), vec![sub.clone()]),
    ] {
        let (_, list) = get(&cloud, &token, &format!("/subnets?{query}")).await;
        assert_eq!(ids(&list, "subnets"), expect, "{query}");
    }

    // Addresses: the first free one, a chosen one, never one taken or the gateway.
    let (status, p1) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": net, "name": "p1"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        p1["port"]["fixed_ips"],
        json!([{"subnet_id": sub, "ip_address": "127.168.10.2"}])
    );
    assert_eq!(p1["port"]["status"], "DOWN");
    assert_eq!(
        p1["port"]["security_groups"].as_array().unwrap().len(),
        1,
        "the default group"
    );
    let (status, p2) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": net, "name": "p2", "device_owner": "test", "device_id": "d2",
                        "fixed_ips": [{"subnet_id": sub, "ip_address": "127.168.10.50"}], "tags": ["x"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{p2}");
    assert_eq!(p2["port"]["fixed_ips"][0]["ip_address"], "127.168.10.50");
    let (status, p3) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": sub}]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(p3["port"]["fixed_ips"][0]["ip_address"], "127.168.10.3");
    for (ip, code, kind) in [
        (
            "127.168.10.50",
            StatusCode::CONFLICT,
            "IpAddressAlreadyAllocated",
        ),
        (
            "127.168.10.1",
            StatusCode::CONFLICT,
            "IpAddressAlreadyAllocated",
        ),
        ("127.168.11.5", StatusCode::BAD_REQUEST, "InvalidInput"),
        ("127.168.10.255", StatusCode::BAD_REQUEST, "InvalidInput"),
        ("not-an-ip", StatusCode::BAD_REQUEST, "InvalidInput"),
    ] {
        let (status, body) = post(
            &cloud,
            &token,
            "/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": ip}]}}),
        )
        .await;
        assert_eq!((status, error_type(&body)), (code, kind), "{ip}: {body}");
    }
    let (p1, p2, p3) = (id(&p1, "port"), id(&p2, "port"), id(&p3, "port"));
    for (query, expect) in [
        (format!("network_id={net}"), vec![&p1, &p2, &p3]),
        ("device_id=d2".to_string(), vec![&p2]),
        ("device_owner=test".to_string(), vec![&p2]),
        ("name=p1".to_string(), vec![&p1]),
        ("tags=x".to_string(), vec![&p2]),
        ("fixed_ips=ip_address%3D127.168.10.3".to_string(), vec![&p3]),
        (format!("network_id={other_net}"), vec![]),
    ] {
        let (_, list) = get(&cloud, &token, &format!("/ports?{query}")).await;
        let mut got = ids(&list, "ports");
        got.sort();
        let mut want: Vec<String> = expect.into_iter().cloned().collect();
        want.sort();
        assert_eq!(got, want, "{query}");
    }

    // In use: the subnet and the network stay while ports are on them.
    let (status, body) = cloud
        .send(
            Method::DELETE,
            &format!("{NET}/subnets/{sub}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::CONFLICT, "SubnetInUse")
    );
    let (status, body) = cloud
        .send(
            Method::DELETE,
            &format!("{NET}/networks/{net}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::CONFLICT, "NetworkInUse")
    );
    // A freed address is handed out again.
    assert_eq!(
        delete(&cloud, &token, &format!("/ports/{p1}")).await,
        StatusCode::NO_CONTENT
    );
    let (_, again) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": net}}),
    )
    .await;
    assert_eq!(again["port"]["fixed_ips"][0]["ip_address"], "127.168.10.2");
    for p in [id(&again, "port"), p2, p3] {
        assert_eq!(
            delete(&cloud, &token, &format!("/ports/{p}")).await,
            StatusCode::NO_CONTENT
        );
    }
    let (status, _) = get(&cloud, &token, &format!("/ports/{p1}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Neutron deletes a network's subnets with it.
    assert_eq!(
        delete(&cloud, &token, &format!("/networks/{net}")).await,
        StatusCode::NO_CONTENT
    );
    let (status, body) = get(&cloud, &token, &format!("/subnets/{sub}")).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::NOT_FOUND, "SubnetNotFound")
    );
    let (status, body) = get(&cloud, &token, &format!("/networks/{net}")).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::NOT_FOUND, "NetworkNotFound")
    );

    // A /30 has one address after the gateway.
    let (tiny, _) = network_with_subnet(&cloud, &token, "tiny", "127.99.0.0/30").await;
    let (status, _) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": tiny}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": tiny}}),
    )
    .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::CONFLICT, "IpAddressGenerationFailure")
    );
    // The shared private network stays.
    let private = localcloud::network::network_id();
    let (status, body) = cloud
        .send(
            Method::DELETE,
            &format!("{NET}/networks/{private}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::CONFLICT, "NetworkInUse")
    );
    cloud.running.stop();
}

/// localcloud's networks live on loopback: the private network's subnet is the
/// configured loopback range, and a subnet asked for anywhere else (the machine's own
/// networks, the host's 127.0.0.0/16, the VIP range) is Neutron's 400 naming the
/// allowed range; nothing is stored.
#[tokio::test]
async fn subnets_live_on_loopback_only() {
    let cloud = Cloud::start().await;
    let token = cloud.token().await;
    let (_, subs) = get(&cloud, &token, "/subnets").await;
    let private = &subs["subnets"][0];
    assert_eq!(
        private["cidr"],
        cloud.running.cloud.config.subnet.to_string(),
        "{subs}"
    );
    let (status, net) = post(
        &cloud,
        &token,
        "/networks",
        json!({"network": {"name": "lan"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let net = id(&net, "network");
    let (vip, len) = cloud.running.cloud.config.vip_range;
    let on_vips = format!("{}/24", std::net::Ipv4Addr::from(u32::from(vip) & !0xff));
    assert!(len <= 24);
    for cidr in [
        "10.0.0.0/16",
        "192.168.1.0/24",
        "172.16.0.0/12",
        "8.8.8.0/24",
        "127.0.0.0/24",
        "127.0.0.0/8",
        on_vips.as_str(),
    ] {
        let (status, body) = post(
            &cloud,
            &token,
            "/subnets",
            json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4}}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{cidr}: {body}");
        assert_eq!(error_type(&body), "InvalidInput", "{body}");
        let msg = body["NeutronError"]["message"].as_str().unwrap();
        assert!(msg.contains("127.0.0.0/8") && msg.contains(cidr), "{msg}");
    }
    let (_, subs) = get(&cloud, &token, &format!("/subnets?network_id={net}")).await;
    assert_eq!(subs["subnets"], json!([]));
    cloud.running.stop();
}
