//! The driver's wire types read OpenStack's own published response samples (in
//! ../shared/openstack-api-samples, read from there, never copied), so the driver parses
//! what real clouds send and not only what localcloud sends.

use std::path::PathBuf;

use provision::cloud::wire::{self, has_next};
use provision::cloud::*;
use serde::de::DeserializeOwned;

/// `OPENSTACK_SAMPLES`, or the nearest `shared/openstack-api-samples` above the crate.
/// Missing samples skip the test, except in CI, where they fail it.
fn samples_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("OPENSTACK_SAMPLES") {
        return Some(PathBuf::from(dir));
    }
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = here
        .ancestors()
        .map(|a| a.join("shared/openstack-api-samples"))
        .find(|p| p.is_dir());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no shared/openstack-api-samples above {}; set OPENSTACK_SAMPLES",
            here.display()
        );
        eprintln!("skipped: no shared/openstack-api-samples (set OPENSTACK_SAMPLES)");
    }
    found
}

/// Parses one sample with a driver wire type; `None` when the samples are absent.
fn sample<T: DeserializeOwned>(path: &str) -> Option<T> {
    let file = samples_dir()?.join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
}

/// The object under `key` of a sample, parsed as `T`.
fn sample_at<T: DeserializeOwned>(path: &str, key: &str) -> Option<T> {
    let v: serde_json::Value = sample(path)?;
    let inner = v
        .get(key)
        .cloned()
        .unwrap_or_else(|| panic!("{path} has no {key}"));
    Some(serde_json::from_value(inner).unwrap_or_else(|e| panic!("{path}: {e}")))
}

#[test]
fn keystone_token_and_catalog() {
    let Some(body) = sample::<wire::TokenBody>("keystone/project-scoped-password.json") else {
        return;
    };
    let t = body.token;
    assert_eq!(t.expires_at, "2015-11-07T02:58:43.578887Z");
    assert_eq!(t.issued_at.as_deref(), Some("2015-11-07T01:58:43.578929Z"));
    let project = t.project.as_ref().expect("project");
    assert_eq!(project.id, "a6944d763bf64ee6a275f1263fae0352");
    assert_eq!(project.name.as_deref(), Some("admin"));
    assert_eq!(
        t.endpoint(&["identity"], Some("RegionOne")).as_deref(),
        Some("http://example.com/identity"),
        "the public endpoint, not admin or internal"
    );
    assert_eq!(t.endpoint(&["identity"], Some("elsewhere")), None);
    assert_eq!(t.endpoint(&["compute"], None), None);

    let Some(catalog) = sample::<wire::CatalogBody>("keystone/get-service-catalog-response.json")
    else {
        return;
    };
    let identity = catalog
        .catalog
        .iter()
        .find(|c| c.kind == "identity")
        .expect("identity");
    assert!(identity
        .endpoints
        .iter()
        .any(|e| e.interface == "public" && e.url == "http://localhost:5000"));
}

#[test]
fn nova_flavors() {
    let Some(body) = sample::<wire::FlavorsBody>("nova/flavors-detail-resp.json") else {
        return;
    };
    let flavors: Vec<Flavor> = body.flavors.into_iter().map(Flavor::from).collect();
    assert_eq!(flavors.len(), 7);
    assert_eq!(
        flavors[4],
        Flavor {
            id: "5".into(),
            name: "m1.xlarge".into(),
            vcpus: 8,
            ram_mib: 16384,
            disk_gib: 160
        }
    );
    let Some(one) = sample_at::<wire::WireFlavor>("nova/flavor-get-resp.json", "flavor") else {
        return;
    };
    assert_eq!((one.id.as_str(), one.ram, one.disk), ("7", 2048, 20));
    // The short list has no sizes; it still parses (sizes default to zero).
    let Some(short) = sample::<wire::FlavorsBody>("nova/flavors-list-resp.json") else {
        return;
    };
    assert_eq!(short.flavors[0].name, "m1.tiny");
}

#[test]
fn nova_servers() {
    let Some(created) = sample::<wire::ServerCreatedBody>("nova/server-create-resp.json") else {
        return;
    };
    assert_eq!(created.server.id, "f5dc173b-6804-445a-a6d8-c705dad5b5eb");

    let Some(body) = sample::<wire::ServerBody>("nova/server-get-resp.json") else {
        return;
    };
    let s = Server::from(body.server);
    assert_eq!(s.id, "0e44cc9c-e052-415d-afbf-469b0d384170");
    assert_eq!(s.name, "new-server-test");
    assert_eq!(s.status, "ACTIVE");
    assert_eq!(
        s.metadata.get("My Server Name").map(String::as_str),
        Some("Apache1")
    );
    assert_eq!(s.addresses, vec!["192.168.1.30".to_string()]);
    assert_eq!(s.host, None, "the sample is not an admin's view");
    assert_eq!(s.fault, None);

    let Some(page) = sample::<wire::ServersBody>("nova/servers-details-resp.json") else {
        return;
    };
    assert!(has_next(&page.servers_links), "the sample has a next page");
    let servers: Vec<Server> = page.servers.into_iter().map(Server::from).collect();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].id, "f5dc173b-6804-445a-a6d8-c705dad5b5eb");
    assert_eq!(servers[0].status, "ACTIVE");
    assert_eq!(servers[0].addresses, vec!["192.168.1.30".to_string()]);

    // The short list (id, name, links) parses with the same type.
    let Some(short) = sample::<wire::ServersBody>("nova/servers-list-resp.json") else {
        return;
    };
    assert_eq!(short.servers[0].id, "3cfb801c-f03c-45ce-834b-d097b34e9534");
    assert!(has_next(&short.servers_links));
}

#[test]
fn nova_server_fault_in_a_body() {
    // Samples show no server in ERROR; this is the documented `fault` member on a
    // server (see the samples README), parsed by the same type.
    let s: wire::ServerBody = serde_json::from_str(
        r#"{"server": {"id": "x", "name": "m0", "status": "ERROR", "addresses": {},
            "metadata": {}, "OS-EXT-SRV-ATTR:host": null,
            "fault": {"code": 500, "created": "2026-01-01T00:00:00Z",
                      "message": "No valid host was found. There are not enough hosts available."}}}"#,
    )
    .expect("parses");
    let s = Server::from(s.server);
    assert_eq!(s.status, "ERROR");
    assert!(s
        .fault
        .as_deref()
        .is_some_and(|f| f.contains("No valid host")));
}

#[test]
fn nova_server_groups() {
    let Some(made) = sample::<wire::ServerGroupBody>("nova/server-groups-post-resp.json") else {
        return;
    };
    let g = ServerGroup::from(made.server_group);
    assert_eq!(g.id, "5bbcc3c4-1da2-4437-a48a-66f15b1b13f9");
    assert_eq!(g.name, "test");
    assert_eq!(g.policy, "anti-affinity");
    assert!(g.members.is_empty());
    let Some(got) = sample::<wire::ServerGroupBody>("nova/server-groups-get-resp.json") else {
        return;
    };
    assert_eq!(got.server_group.policy.as_deref(), Some("anti-affinity"));
    let Some(list) = sample::<wire::ServerGroupsBody>("nova/server-groups-list-resp.json") else {
        return;
    };
    assert_eq!(
        list.server_groups[0].id,
        "616fb98f-46ca-475e-917e-2563e5a8cd19"
    );
}

#[test]
fn nova_volume_attachment() {
    let Some(body) = sample::<wire::AttachmentBody>("nova/attach-volume-to-server-resp.json")
    else {
        return;
    };
    let a = VolumeAttachment::from(body.attachment);
    assert_eq!(a.server_id, "7ebed2ce-85b3-40b5-84ae-8cc725c37ed2");
    assert_eq!(a.volume_id, "a07f71dc-8151-4e7d-a0cc-cd24a3f11113");
    assert_eq!(a.device.as_deref(), Some("/dev/sdb"));
}

#[test]
fn nova_fault_body() {
    let Some(dir) = samples_dir() else { return };
    let body = std::fs::read(dir.join("nova/faults-itemNotFound.extracted.json")).expect("read");
    let e = CloudError::from_response(404, &body, "show aggregate agg_h1");
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.status, Some(404));
    assert_eq!(e.message, "Aggregate agg_h1 could not be found.");
    assert_eq!(
        e.to_string(),
        "show aggregate agg_h1: Aggregate agg_h1 could not be found. (HTTP 404)"
    );
}

#[test]
fn cinder_volumes() {
    let Some(made) = sample::<wire::VolumeBody>("cinder/volume-create-response.json") else {
        return;
    };
    let v = Volume::from(made.volume);
    assert_eq!(v.id, "2b955850-f177-45f7-9f49-ecb2c256d161");
    assert_eq!(v.name, "", "a null name reads as empty");
    assert_eq!(v.status, "creating");
    assert_eq!(v.size_gib, 10);
    assert_eq!(v.volume_type.as_deref(), Some("__DEFAULT__"));

    let Some(shown) = sample::<wire::VolumeBody>("cinder/volume-show-response.json") else {
        return;
    };
    assert_eq!(shown.volume.id, "f7223234-1afc-4d19-bfa3-d19deb6235ef");
    assert_eq!(shown.volume.size, Some(10));

    let Some(list) = sample::<wire::VolumesBody>("cinder/volumes-list-detailed-response.json")
    else {
        return;
    };
    assert!(!has_next(&list.volumes_links));
    let vols: Vec<Volume> = list.volumes.into_iter().map(Volume::from).collect();
    assert_eq!(vols[0].id, "cb49b381-9012-40cb-b8ee-80c19a4801b5");
    assert!(vols[0].attached_to.is_empty());
}

#[test]
fn octavia_load_balancers() {
    let Some(made) = sample::<wire::LoadBalancerBody>("octavia/loadbalancer-create-response.json")
    else {
        return;
    };
    let lb = LoadBalancer::from(made.loadbalancer);
    assert_eq!(lb.id, "607226db-27ef-4d41-ae89-f2a800e9c2db");
    assert_eq!(lb.name, "best_load_balancer");
    assert_eq!(lb.provisioning_status, "PENDING_CREATE");
    assert_eq!(lb.vip_address.as_deref(), Some("203.0.113.50"));
    assert_eq!(lb.tags, vec!["test_tag".to_string()]);

    let Some(shown) = sample::<wire::LoadBalancerBody>("octavia/loadbalancer-show-response.json")
    else {
        return;
    };
    let lb = LoadBalancer::from(shown.loadbalancer);
    assert_eq!(lb.id, "8a562351-f0fb-424c-a0af-513461424ea5");
    assert_eq!(lb.operating_status, "ONLINE");

    let Some(list) = sample::<wire::LoadBalancersBody>("octavia/loadbalancers-list-response.json")
    else {
        return;
    };
    assert_eq!(
        list.loadbalancers[0].provisioning_status.as_deref(),
        Some("ACTIVE")
    );
}

#[test]
fn octavia_listeners_and_pools() {
    let Some(made) = sample::<wire::ListenerBody>("octavia/listener-create-response.json") else {
        return;
    };
    let l = Listener::from(made.listener);
    assert_eq!(l.id, "023f2e34-7806-443b-bfae-16c324569a3d");
    assert_eq!(l.name, "great_tls_listener");
    assert_eq!(l.port, 443);
    assert_eq!(l.protocol, "TERMINATED_HTTPS");
    assert_eq!(
        l.load_balancer_ids,
        vec!["607226db-27ef-4d41-ae89-f2a800e9c2db".to_string()]
    );
    assert_eq!(l.tags, vec!["test_tag".to_string()]);
    let Some(shown) = sample::<wire::ListenerBody>("octavia/listener-show-response.json") else {
        return;
    };
    assert_eq!(
        shown.listener.provisioning_status.as_deref(),
        Some("ACTIVE")
    );
    let Some(list) = sample::<wire::ListenersBody>("octavia/listeners-list-response.json") else {
        return;
    };
    assert_eq!(list.listeners[0].protocol_port, Some(443));

    let Some(made) = sample::<wire::PoolBody>("octavia/pool-create-response.json") else {
        return;
    };
    let p = Pool::from(made.pool);
    assert_eq!(p.id, "4029d267-3983-4224-a3d0-afb3fe16a2cd");
    assert_eq!(p.name, "super-pool");
    assert_eq!(p.lb_algorithm, "ROUND_ROBIN");
    assert_eq!(
        p.listener_ids,
        vec!["023f2e34-7806-443b-bfae-16c324569a3d".to_string()]
    );
    assert_eq!(p.health_monitor_id, None, "null reads as none");
    let Some(shown) = sample::<wire::PoolBody>("octavia/pool-show-response.json") else {
        return;
    };
    assert_eq!(shown.pool.name.as_deref(), Some("super-pool"));
    let Some(list) = sample::<wire::PoolsBody>("octavia/pools-list-response.json") else {
        return;
    };
    assert_eq!(list.pools[0].id, "ddb2b28f-89e9-45d3-a329-a359c3e39e4a");
}

#[test]
fn octavia_members_and_health_monitors() {
    let Some(made) = sample::<wire::MemberBody>("octavia/member-create-response.json") else {
        return;
    };
    let m = Member::from(made.member);
    assert_eq!(m.id, "957a1ace-1bd2-449b-8455-820b6e4b63f3");
    assert_eq!((m.address.as_str(), m.port), ("192.0.2.16", 80));
    assert_eq!(m.name, "web-server-1");
    let Some(shown) = sample::<wire::MemberBody>("octavia/member-show-response.json") else {
        return;
    };
    assert_eq!(shown.member.provisioning_status.as_deref(), Some("ACTIVE"));
    let Some(list) = sample::<wire::MembersBody>("octavia/members-list-response.json") else {
        return;
    };
    assert_eq!(
        Member::from(list.members[0].clone()).operating_status,
        "NO_MONITOR"
    );

    let Some(made) =
        sample::<wire::HealthMonitorBody>("octavia/healthmonitor-create-response.json")
    else {
        return;
    };
    let h = HealthMonitor::from(made.healthmonitor);
    assert_eq!(h.id, "8ed3c5ac-6efa-420c-bedb-99ba14e58db5");
    assert_eq!(
        h.pool_ids,
        vec!["4029d267-3983-4224-a3d0-afb3fe16a2cd".to_string()]
    );
    assert_eq!((h.delay_secs, h.timeout_secs, h.max_retries), (10, 5, 1));
    assert_eq!(h.kind, "HTTP");
    let Some(shown) = sample::<wire::HealthMonitorBody>("octavia/healthmonitor-show-response.json")
    else {
        return;
    };
    assert_eq!(
        shown.healthmonitor.name.as_deref(),
        Some("super-pool-health-monitor")
    );
    let Some(list) =
        sample::<wire::HealthMonitorsBody>("octavia/healthmonitors-list-response.json")
    else {
        return;
    };
    assert_eq!(list.healthmonitors.len(), 1);
}

#[test]
fn neutron_networks() {
    let Some(list) = sample::<wire::NetworksBody>("neutron/networks-list-response.json") else {
        return;
    };
    assert_eq!(list.networks.len(), 2);
    assert_eq!(list.networks[0].id, "d32019d3-bc6e-4319-9c1d-6722fc136a22");
    assert_eq!(list.networks[0].name.as_deref(), Some("net1"));
    assert_eq!(
        list.networks[0].subnets.as_deref(),
        Some(&["54d6f61d-db07-451c-9ab3-b9609b6b6f0b".to_string()][..])
    );
}
