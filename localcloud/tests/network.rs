//! Neutron in localcloud: networks, subnets with address allocation, ports (servers' and
//! load balancers' too), security groups and rules, in the published samples' shapes;
//! in-use deletes refused, projects kept apart, bad input refused without changing
//! anything, and everything kept across a restart.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

mod common;
use common::*;

const NET: &str = "/network/v2.0";

async fn post(cloud: &Cloud, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    cloud
        .send(Method::POST, &format!("{NET}{path}"), token, Some(body))
        .await
}

async fn get(cloud: &Cloud, token: &str, path: &str) -> (StatusCode, Value) {
    cloud
        .send(Method::GET, &format!("{NET}{path}"), token, None)
        .await
}

async fn delete(cloud: &Cloud, token: &str, path: &str) -> StatusCode {
    cloud
        .send(Method::DELETE, &format!("{NET}{path}"), token, None)
        .await
        .0
}

fn id(v: &Value, kind: &str) -> String {
    v[kind]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no {kind} id in {v}"))
        .to_string()
}

fn error_type(v: &Value) -> &str {
    v["NeutronError"]["type"].as_str().unwrap_or("")
}

fn ids(v: &Value, collection: &str) -> Vec<String> {
    v[collection]
        .as_array()
        .unwrap_or_else(|| panic!("no {collection} in {v}"))
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

/// A network with one subnet of `cidr`: `(network id, subnet id)`.
async fn network_with_subnet(
    cloud: &Cloud,
    token: &str,
    name: &str,
    cidr: &str,
) -> (String, String) {
    let (status, net) = post(
        cloud,
        token,
        "/networks",
        json!({"network": {"name": name}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{net}");
    let net = id(&net, "network");
    let (status, sub) = post(
        cloud,
        token,
        "/subnets",
        json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4, "name": format!("{name}-subnet")}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    (net, id(&sub, "subnet"))
}

async fn create_server(
    cloud: &Cloud,
    token: &str,
    name: &str,
    networks: Value,
) -> (StatusCode, Value) {
    let req = json!({"server": {
        "name": name, "flavorRef": "1", "imageRef": "ubuntu-22.04-k8s-v1.31", "networks": networks,
    }});
    cloud
        .send(Method::POST, "/compute/v2.1/servers", token, Some(req))
        .await
}

#[tokio::test]
async fn bodies_in_the_shape_of_neutrons_samples() {
    let cloud = Cloud::start().await;
    let token = cloud.token().await;
    let (status, net) = post(
        &cloud,
        &token,
        "/networks",
        json!({"network": {"name": "net1", "admin_state_up": true, "tags": ["tag1"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_shape(&sample("neutron/network-create-response.json"), &net, "");
    let net_id = id(&net, "network");
    let (_, shown) = get(&cloud, &token, &format!("/networks/{net_id}")).await;
    // Sample quirk: the show sample has `"pvlan": "false"` (a string) where the create
    // and list samples have a boolean.
    let mut show_sample = sample("neutron/network-show-response.json");
    show_sample["network"]["pvlan"] = json!(false);
    assert_shape(&show_sample, &shown, "");
    let (status, sub) = post(
        &cloud,
        &token,
        "/subnets",
        json!({"subnet": {"network_id": net_id, "ip_version": 4, "cidr": "127.168.199.0/24", "tags": ["t"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    assert_shape(&sample("neutron/subnet-create-response.json"), &sub, "");
    assert_eq!(sub["subnet"]["gateway_ip"], "127.168.199.1");
    assert_eq!(
        sub["subnet"]["allocation_pools"],
        json!([{"start": "127.168.199.2", "end": "127.168.199.254"}])
    );
    let (status, port) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": net_id, "name": "private-port", "admin_state_up": true, "tags": ["t"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{port}");
    assert_shape(&sample("neutron/port-create-response.json"), &port, "");
    let (status, sg) = post(
        &cloud,
        &token,
        "/security-groups",
        sample("neutron/security-group-create-request.json"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sg}");
    // Sample quirk: the first rule in the sample has a stray key `revisio[n_number`.
    let mut sg_sample = sample("neutron/security-group-create-response.json");
    sg_sample["security_group"]["security_group_rules"][0]
        .as_object_mut()
        .unwrap()
        .remove("revisio[n_number");
    assert_shape(&sg_sample, &sg, "");
    let sg_id = id(&sg, "security_group");
    let (status, rule) = post(
        &cloud,
        &token,
        "/security-group-rules",
        json!({"security_group_rule": {
            "direction": "ingress", "port_range_min": "80", "ethertype": "IPv4",
            "port_range_max": "80", "protocol": "tcp", "remote_group_id": sg_id,
            "security_group_id": sg_id,
        }}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    assert_shape(
        &sample("neutron/security-group-rule-create-response.json"),
        &rule,
        "",
    );
    assert_eq!(rule["security_group_rule"]["port_range_min"], 80);
    for (path, file) in [
        ("/networks", "networks-list-response.json"),
        ("/subnets", "subnets-list-response.json"),
        ("/ports", "ports-list-response.json"),
    ] {
        let (status, list) = get(&cloud, &token, path).await;
        assert_eq!(status, StatusCode::OK);
        assert_shape(&sample(&format!("neutron/{file}")), &list, "");
    }
    // Version discovery, with or without the trailing slash.
    for path in ["/network", "/network/"] {
        let (status, versions) = cloud.get(path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(versions["versions"][0]["id"], "v2.0");
    }
    cloud.running.stop();
}

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

async fn sg_rule_id(cloud: &Cloud, token: &str, sg: &str) -> String {
    let (status, rule) = post(
        cloud,
        token,
        "/security-group-rules",
        json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    id(&rule, "security_group_rule")
}

/// Every list, for comparing before and after.
async fn everything(cloud: &Cloud, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/networks",
        "/subnets",
        "/ports",
        "/security-groups",
        "/security-group-rules",
    ] {
        out.push(get(cloud, token, path).await.1);
    }
    out
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let cloud = Cloud::start().await;
    let token = cloud.token().await;
    let (net, sub) = network_with_subnet(&cloud, &token, "n", "127.168.5.0/24").await;
    let (_, sg) = post(
        &cloud,
        &token,
        "/security-groups",
        json!({"security_group": {"name": "g"}}),
    )
    .await;
    let sg = id(&sg, "security_group");
    let (_, port) = post(
        &cloud,
        &token,
        "/ports",
        json!({"port": {"network_id": net}}),
    )
    .await;
    let port = id(&port, "port");
    let before = everything(&cloud, &token).await;
    let long = "x".repeat(256);
    let requests: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"name": long}}),
        ),
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"name": 7}}),
        ),
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"tags": ["a,b"]}}),
        ),
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"tags": ["x".repeat(61)]}}),
        ),
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"admin_state_up": "yes"}}),
        ),
        (
            Method::POST,
            "/networks".into(),
            json!({"network": {"mtu": 10}}),
        ),
        (Method::POST, "/networks".into(), json!({"networks": {}})),
        (Method::POST, "/networks".into(), json!([1, 2])),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "127.168.6.0/24", "name": long}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "300.1.1.0/24"}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "127.168.5.0/25"}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "127.168.7.0/24", "ip_version": 6}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "127.168.7.0/24", "gateway_ip": "127.168.8.1"}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": net, "cidr": "127.168.7.0/24", "allocation_pools": [{"start": "127.168.7.9", "end": "127.168.7.3"}]}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"network_id": "nope", "cidr": "127.168.7.0/24"}}),
        ),
        (
            Method::POST,
            "/subnets".into(),
            json!({"subnet": {"cidr": "127.168.7.0/24"}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": "nope"}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": net, "name": long}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": "nope"}]}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": net, "fixed_ips": [{}]}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": net, "fixed_ips": "10.0.0.1"}}),
        ),
        (
            Method::POST,
            "/ports".into(),
            json!({"port": {"network_id": net, "security_groups": ["nope"]}}),
        ),
        (
            Method::POST,
            "/security-groups".into(),
            json!({"security_group": {"name": long}}),
        ),
        (
            Method::POST,
            "/security-groups".into(),
            json!({"security_group": {"description": long}}),
        ),
        (
            Method::POST,
            "/security-group-rules".into(),
            json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 1, "port_range_max": 65536}}),
        ),
        (
            Method::POST,
            "/security-group-rules".into(),
            json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 443, "port_range_max": 80}}),
        ),
        (
            Method::POST,
            "/security-group-rules".into(),
            json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "remote_ip_prefix": "nope"}}),
        ),
        (
            Method::PUT,
            format!("/networks/{net}"),
            json!({"network": {"name": long}}),
        ),
        (
            Method::PUT,
            format!("/subnets/{sub}"),
            json!({"subnet": {"name": 1}}),
        ),
        (
            Method::PUT,
            format!("/ports/{port}"),
            json!({"port": {"security_groups": ["nope"]}}),
        ),
        (
            Method::PUT,
            format!("/networks/{net}/tags"),
            json!({"tags": [""]}),
        ),
        (
            Method::PUT,
            format!("/networks/{net}/tags"),
            json!({"tags": "a"}),
        ),
        (Method::GET, "/networks/nope".into(), Value::Null),
        (Method::GET, "/ports?marker=nope".into(), Value::Null),
        (Method::DELETE, "/ports/nope".into(), Value::Null),
    ];
    for (method, path, body) in requests {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = cloud
            .send(
                method.clone(),
                &format!("{NET}{path}"),
                &token,
                body.clone(),
            )
            .await;
        assert!(
            status.is_client_error(),
            "{method} {path} {body:?}: {status} {answer}"
        );
        assert!(
            answer["NeutronError"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{method} {path}: {answer}"
        );
    }
    // Bodies that are not JSON, or not UTF-8.
    for raw in [
        &b"{\"network\": "[..],
        b"not json",
        b"{\"network\": {\"name\": \"\xff\xfe\"}}",
        b"\xc3\x28",
    ] {
        for path in [
            "/networks",
            "/subnets",
            "/ports",
            "/security-groups",
            "/security-group-rules",
        ] {
            let res = cloud
                .http
                .post(format!("{}{NET}{path}", cloud.running.url))
                .header("x-auth-token", &token)
                .header("content-type", "application/json")
                .body(raw.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
            let body: Value = res.json().await.unwrap();
            assert!(body["NeutronError"]["message"].is_string());
        }
    }
    // Without a token: 401.
    let (status, _) = cloud.get(&format!("{NET}/networks"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(everything(&cloud, &token).await, before);
    cloud.running.stop();
}

#[tokio::test]
async fn tags_can_be_set_after_creation() {
    let cloud = Cloud::start().await;
    let token = cloud.token().await;
    let (net, _) = network_with_subnet(&cloud, &token, "t", "127.168.9.0/24").await;
    let (status, tags) = cloud
        .send(
            Method::PUT,
            &format!("{NET}/networks/{net}/tags"),
            &token,
            Some(json!({"tags": ["a", "b"]})),
        )
        .await;
    assert_eq!(
        (status, tags),
        (StatusCode::OK, json!({"tags": ["a", "b"]}))
    );
    let (status, _) = cloud
        .send(
            Method::PUT,
            &format!("{NET}/networks/{net}/tags/c"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        delete(&cloud, &token, &format!("/networks/{net}/tags/a")).await,
        StatusCode::NO_CONTENT
    );
    let (_, shown) = get(&cloud, &token, &format!("/networks/{net}")).await;
    assert_eq!(shown["network"]["tags"], json!(["b", "c"]));
    let (status, updated) = cloud
        .send(
            Method::PUT,
            &format!("{NET}/networks/{net}"),
            &token,
            Some(json!({"network": {"name": "renamed"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["network"]["name"], "renamed");
    assert_eq!(updated["network"]["revision_number"], 2);
    cloud.running.stop();
}

#[tokio::test]
async fn network_state_outlives_a_restart() {
    let dir = tempdir::Dir::new();
    let config = |dir: &std::path::Path| {
        let mut c = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), dir);
        c.server_build_delay = Duration::ZERO;
        c.vip_range = random_vip_range();
        c
    };
    let http = reqwest::Client::new();
    let first = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: http.clone(),
    };
    let token = first.token().await;
    let (net, _) = network_with_subnet(&first, &token, "kept", "127.30.0.0/24").await;
    let (_, sg) = post(
        &first,
        &token,
        "/security-groups",
        json!({"security_group": {"name": "kept"}}),
    )
    .await;
    let sg = id(&sg, "security_group");
    sg_rule_id(&first, &token, &sg).await;
    let (_, port) = post(
        &first,
        &token,
        "/ports",
        json!({"port": {"network_id": net, "security_groups": [sg]}}),
    )
    .await;
    let (status, server) = create_server(&first, &token, "kept", json!([{"uuid": net}])).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let sid = server["server"]["id"].as_str().unwrap().to_string();
    let before = everything(&first, &token).await;
    let (_, server_before) = first
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    first.running.stop();

    let second = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http,
    };
    let token = second.token().await;
    assert_eq!(everything(&second, &token).await, before);
    let (_, server_after) = second
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    assert_eq!(
        server_after["server"]["addresses"],
        server_before["server"]["addresses"]
    );
    // Addresses in use stay in use: the next port gets the next address.
    let (_, next) = post(
        &second,
        &token,
        "/ports",
        json!({"port": {"network_id": net}}),
    )
    .await;
    assert_eq!(port["port"]["fixed_ips"][0]["ip_address"], "127.30.0.2");
    assert_eq!(
        server_after["server"]["addresses"]["kept"][0]["addr"],
        "127.30.0.3"
    );
    assert_eq!(next["port"]["fixed_ips"][0]["ip_address"], "127.30.0.4");
    second.running.stop();
}

#[tokio::test]
async fn servers_saved_before_ports_get_theirs_at_start() {
    let dir = tempdir::Dir::new();
    let config = |dir: &std::path::Path| {
        let mut c = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), dir);
        c.server_build_delay = Duration::ZERO;
        c.vip_range = random_vip_range();
        c
    };
    let first = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: reqwest::Client::new(),
    };
    let token = first.token().await;
    let (_, server) = create_server(&first, &token, "old", json!("auto")).await;
    let sid = server["server"]["id"].as_str().unwrap().to_string();
    let (_, shown) = first
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    let addr = shown["server"]["addresses"]["private"][0]["addr"].clone();
    first.running.stop();
    // Rewrite the saved state as an older localcloud left it: no `ported`, no ports.
    let persist = localcloud::common::persist::Persist::open(&dir.0)
        .await
        .unwrap();
    let mut compute: Value = persist.load("compute").await.unwrap().unwrap();
    compute["servers"][&sid]
        .as_object_mut()
        .unwrap()
        .remove("ported");
    compute["version"] = json!(compute["version"].as_u64().unwrap() + 1);
    let mut network: Value = persist.load("network").await.unwrap().unwrap();
    network["ports"] = json!({});
    network["version"] = json!(network["version"].as_u64().unwrap() + 1);
    for (key, doc) in [("compute", &compute), ("network", &network)] {
        persist
            .save(key, doc["version"].as_u64().unwrap(), &doc.to_string())
            .await;
    }
    drop(persist);

    let second = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: reqwest::Client::new(),
    };
    let token = second.token().await;
    let (_, shown) = second
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    assert_eq!(shown["server"]["addresses"]["private"][0]["addr"], addr);
    let (_, ports) = get(&second, &token, &format!("/ports?device_id={sid}")).await;
    assert_eq!(ports["ports"][0]["fixed_ips"][0]["ip_address"], addr);
    // Its address is taken: a new port gets another.
    let private = localcloud::network::network_id();
    let (_, next) = post(
        &second,
        &token,
        "/ports",
        json!({"port": {"network_id": private}}),
    )
    .await;
    assert_ne!(next["port"]["fixed_ips"][0]["ip_address"], addr);
    second.running.stop();
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

/// A data directory written by an older localcloud (its private network on
/// 10.0.0.0/16) is refused at start with what to do, and so is one started with another
/// subnet than it was made with; neither is touched.
#[tokio::test]
async fn a_data_dir_from_before_loopback_is_refused_not_reused() {
    let dir = tempdir::Dir::new();
    let subnet = localcloud::addresses::random_subnet();
    let config = |s| {
        let mut c = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), &dir.0);
        c.vip_range = random_vip_range();
        c.subnet = s;
        c
    };
    let first = Cloud {
        running: localcloud::start(config(subnet)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: reqwest::Client::new(),
    };
    let token = first.token().await;
    let (status, _) = post(
        &first,
        &token,
        "/networks",
        json!({"network": {"name": "kept"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    first.running.stop();
    // Another subnet for the same directory.
    let other = localcloud::addresses::random_subnet();
    let e = localcloud::start(config(other))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains(&subnet.to_string()) && e.contains("new data directory"),
        "{e}"
    );
    // Rewrite the saved network as an older localcloud left it.
    let db = dir.0.join("localcloud.db");
    let conn = format!("sqlite://{}", db.display());
    let pool = sqlx::SqlitePool::connect(&conn).await.unwrap();
    let (body,): (String,) = sqlx::query_as("SELECT body FROM documents WHERE key = 'network'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let old = body
        .replace(&format!("\"{}\"", subnet.addr), "\"10.0.0.0\"")
        .replace(&format!("\"len\":{}", subnet.len), "\"len\":16");
    assert_ne!(old, body);
    sqlx::query("UPDATE documents SET body = ? WHERE key = 'network'")
        .bind(&old)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let e = localcloud::start(config(subnet))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("10.0.0.0/16")
            && e.contains("older localcloud")
            && e.contains("Delete the data directory"),
        "{e}"
    );
}
