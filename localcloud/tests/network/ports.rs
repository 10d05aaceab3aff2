//! Ports of servers and of load balancer VIPs, on any network.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::{create_server, delete, error_type, get, id, ids, network_with_subnet, post, NET};

#[tokio::test]
async fn servers_get_ports_on_any_network_and_take_them_away() {
    let cloud = Cloud::start_with(|c| c.server_build_delay = Duration::ZERO).await;
    let token = cloud.token().await;
    let (net, sub) = network_with_subnet(&cloud, &token, "k8s", "127.172.0.0/24").await;
    let (status, created) = create_server(&cloud, &token, "node-0", json!([{"uuid": net}])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let sid = created["server"]["id"].as_str().unwrap().to_string();
    let (_, server) = cloud
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    let addr = &server["server"]["addresses"]["k8s"][0];
    assert_eq!(addr["addr"], "127.172.0.2", "{server}");
    let (_, ports) = get(&cloud, &token, &format!("/ports?device_id={sid}")).await;
    let ports = ports["ports"].as_array().unwrap().clone();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["device_owner"], "compute:nova");
    assert_eq!(ports[0]["network_id"], net.as_str());
    assert_eq!(ports[0]["status"], "ACTIVE");
    assert_eq!(
        ports[0]["fixed_ips"],
        json!([{"subnet_id": sub, "ip_address": "127.172.0.2"}])
    );
    assert_eq!(addr["OS-EXT-IPS-MAC:mac_addr"], ports[0]["mac_address"]);
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

    // `auto` is the private network, with a port there too.
    let (_, auto) = create_server(&cloud, &token, "auto", json!("auto")).await;
    let auto_id = auto["server"]["id"].as_str().unwrap().to_string();
    let (_, shown) = cloud
        .get(&format!("/compute/v2.1/servers/{auto_id}"), Some(&token))
        .await;
    let private_addr = shown["server"]["addresses"]["private"][0]["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let subnet = cloud.running.cloud.config.subnet;
    assert!(
        subnet.contains(private_addr.parse().unwrap()) && private_addr.starts_with("127."),
        "{private_addr} is not in {subnet}: {shown}"
    );
    let (_, ports) = get(&cloud, &token, &format!("/ports?device_id={auto_id}")).await;
    assert_eq!(
        ports["ports"][0]["fixed_ips"][0]["ip_address"],
        private_addr.as_str()
    );
    // `none`: no port, no address.
    let (_, none) = create_server(&cloud, &token, "none", json!("none")).await;
    let none_id = none["server"]["id"].as_str().unwrap().to_string();
    let (_, shown) = cloud
        .get(&format!("/compute/v2.1/servers/{none_id}"), Some(&token))
        .await;
    assert_eq!(shown["server"]["addresses"], json!({}));

    // A port made first, handed to Nova: bound to the server, unbound when it goes.
    let (_, port) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "127.172.0.10"}]}}),
    )
    .await;
    let pid = id(&port, "port");
    let (status, with_port) = create_server(&cloud, &token, "node-1", json!([{"port": pid}])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{with_port}");
    let sid1 = with_port["server"]["id"].as_str().unwrap().to_string();
    let (_, shown) = cloud
        .get(&format!("/compute/v2.1/servers/{sid1}"), Some(&token))
        .await;
    assert_eq!(
        shown["server"]["addresses"]["k8s"][0]["addr"],
        "127.172.0.10"
    );
    let (_, port) = get(&cloud, &token, &format!("/ports/{pid}")).await;
    assert_eq!(port["port"]["device_id"], sid1.as_str());
    // A bound port cannot be handed to another server; unknown networks are Nova's 400.
    let (status, _) = create_server(&cloud, &token, "node-2", json!([{"port": pid}])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = create_server(&cloud, &token, "node-3", json!([{"uuid": "nope"}])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A fixed IP asked for.
    let (status, fixed) = create_server(
        &cloud,
        &token,
        "node-4",
        json!([{"uuid": net, "fixed_ip": "127.172.0.20"}]),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let sid4 = fixed["server"]["id"].as_str().unwrap().to_string();
    let (_, shown) = cloud
        .get(&format!("/compute/v2.1/servers/{sid4}"), Some(&token))
        .await;
    assert_eq!(
        shown["server"]["addresses"]["k8s"][0]["addr"],
        "127.172.0.20"
    );

    for s in [&sid, &sid1, &sid4, &auto_id, &none_id] {
        let (status, _) = cloud
            .send(
                Method::DELETE,
                &format!("/compute/v2.1/servers/{s}"),
                &token,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    // Nova's ports went with their servers; the user's port stays, unbound.
    let (_, left) = get(&cloud, &token, &format!("/ports?network_id={net}")).await;
    assert_eq!(ids(&left, "ports"), vec![pid.clone()]);
    assert_eq!(left["ports"][0]["device_id"], "");
    let (_, left) = get(&cloud, &token, "/ports?device_owner=compute%3Anova").await;
    assert_eq!(ids(&left, "ports"), Vec::<String>::new());
    assert_eq!(
        delete(&cloud, &token, &format!("/ports/{pid}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(&cloud, &token, &format!("/networks/{net}")).await,
        StatusCode::NO_CONTENT
    );
    cloud.running.stop();
}

#[tokio::test]
async fn load_balancer_vips_own_a_port_on_any_network() {
    let cloud = Cloud::start_with(|c| c.lb_delay = Duration::ZERO).await;
    let token = cloud.token().await;
    let (net, sub) = network_with_subnet(&cloud, &token, "api", "127.20.0.0/24").await;
    let (status, lb) = cloud
        .send(
            Method::POST,
            "/load-balancer/v2/lbaas/loadbalancers",
            &token,
            Some(json!({"loadbalancer": {"name": "api", "vip_network_id": net}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{lb}");
    let lb = &lb["loadbalancer"];
    assert_eq!(lb["vip_subnet_id"], sub.as_str());
    let lb_id = lb["id"].as_str().unwrap().to_string();
    let (_, port) = get(
        &cloud,
        &token,
        &format!("/ports/{}", lb["vip_port_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(port["port"]["device_owner"], "Octavia");
    assert_eq!(port["port"]["device_id"], lb_id.as_str());
    assert_eq!(port["port"]["network_id"], net.as_str());
    assert_eq!(
        port["port"]["fixed_ips"][0]["ip_address"],
        lb["vip_address"]
    );
    let (status, _) = cloud
        .send(
            Method::DELETE,
            &format!("{NET}/networks/{net}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A subnet on another network than the one named, or one unknown: 400.
    for body in [
        json!({"loadbalancer": {"vip_network_id": net, "vip_subnet_id": localcloud::network::subnet_id()}}),
        json!({"loadbalancer": {"vip_network_id": "nope"}}),
    ] {
        let (status, _) = cloud
            .send(
                Method::POST,
                "/load-balancer/v2/lbaas/loadbalancers",
                &token,
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, _) = cloud
        .send(
            Method::DELETE,
            &format!("/load-balancer/v2/lbaas/loadbalancers/{lb_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Once the load balancer is gone, so is its port, and the network can go.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, lbs) = cloud
            .get("/load-balancer/v2/lbaas/loadbalancers", Some(&token))
            .await;
        if lbs["loadbalancers"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "load balancer never went"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, ports) = get(&cloud, &token, "/ports?device_owner=Octavia").await;
    assert_eq!(ids(&ports, "ports"), Vec::<String>::new());
    assert_eq!(
        delete(&cloud, &token, &format!("/networks/{net}")).await,
        StatusCode::NO_CONTENT
    );
    cloud.running.stop();
}
