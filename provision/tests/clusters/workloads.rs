//! Services and persistent volumes through the door (the console's and the API's one
//! path): Kubernetes objects in the cluster, which Shipyard's controllers give their
//! cloud side. Members on localcloud's loopback subnet, following the nodes; bad input
//! refused before anything changes; everything living and dying with its cluster.

use std::time::Duration;

use provision::cloud::*;
use provision::clusters::saga::{cluster_metadata, cluster_tag};
use provision::clusters::{self, workloads};
use provision::domain::Actor;
use provision::{Error, Store};

use crate::both;
use crate::common::*;
use crate::support::*;

/// Waits until the service or volume `name` of the cluster's lists is `status`.
async fn until_listed(e: &Env, id: &str, name: &str, status: &str) -> workloads::Listed {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let l = workloads::listed(&e.store, &e.key, id).await.unwrap();
        let s = l
            .services
            .iter()
            .map(|s| (&s.name, &s.status))
            .chain(l.volumes.iter().map(|v| (&v.name, &v.status)))
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, s)| s.clone());
        if s.as_deref() == Some(status) {
            return l;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never {status}: {l:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn members_of(cloud: &dyn Cloud, lb_name: &str, port: u16) -> Vec<Member> {
    let pool = cloud
        .pool_list(&[lb_name.to_string()])
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == format!("pool_{port}_{lb_name}"))
        .unwrap_or_else(|| panic!("no pool for port {port}"));
    cloud.member_list(&pool.id).await.unwrap()
}

both!(
    every_member_is_one_of_localclouds_loopback_addresses,
    |store: Store| async move {
        // A 3-master cluster (its API load balancer) and a service on its workers: every
        // member the cloud holds is a server's fixed IP on localcloud's loopback subnet,
        // and a member anywhere else is refused by the cloud.
        let e = env(store, fast_nodes).await;
        let id = active_cluster(&e, "lo", 3, 2).await;
        let _running = run_controllers(&e);
        let cloud = e.cloud.as_ref();
        workloads::service_create(
            &e.store,
            &e.key,
            cloud,
            &e.actor,
            &id,
            service("web", &[(8080, None)]),
        )
        .await
        .unwrap();
        let lb_name = format!("kube_service_{id}_default_web");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while members_of_any(cloud, &lb_name).await < 2 {
            assert!(std::time::Instant::now() < deadline, "never two members");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let lc = &e.running.as_ref().unwrap().cloud;
        let subnet = lc.config.subnet;
        let servers: std::collections::HashSet<String> = cloud
            .server_list(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .flat_map(|s| s.addresses)
            .collect();
        assert_eq!(servers.len(), 5, "{servers:?}");
        let members: Vec<(String, std::net::Ipv4Addr, u16)> =
            localcloud::loadbalancers::members(lc)
                .into_iter()
                .map(|(pool, at)| match at.ip() {
                    std::net::IpAddr::V4(ip) => (pool, ip, at.port()),
                    other => panic!("member {other} is not IPv4"),
                })
                .collect();
        assert_eq!(
            members.len(),
            3 + 2,
            "3 masters on 6443, 2 workers on the node port"
        );
        for (_, ip, port) in &members {
            assert!(
                ip.is_loopback() && subnet.contains(*ip),
                "{ip}:{port} is outside {subnet}"
            );
            assert!(
                servers.contains(&ip.to_string()),
                "{ip} is no server's address"
            );
        }
        let pool = &members[0].0;
        for outside in ["10.0.0.5", "192.168.1.20", "127.0.0.1"] {
            let refused = cloud
                .member_add(
                    pool,
                    &MemberSpec {
                        name: "outside".into(),
                        address: outside.into(),
                        port: 5432,
                    },
                )
                .await
                .expect_err(outside);
            assert_eq!(refused.status, Some(400), "{outside}: {refused:?}");
        }
        assert_eq!(
            cloud.member_list(pool).await.unwrap().len(),
            members.iter().filter(|m| &m.0 == pool).count()
        );
    }
);

async fn members_of_any(cloud: &dyn Cloud, lb_name: &str) -> usize {
    let mut n = 0;
    for p in cloud.pool_list(&[lb_name.to_string()]).await.unwrap() {
        n += cloud.member_list(&p.id).await.unwrap().len();
    }
    n
}

both!(
    services_and_volumes_live_and_die_with_the_cluster,
    |store: Store| async move {
        let e = env(store, fast_nodes).await;
        let id = active_cluster(&e, "apps", 1, 2).await;
        let _running = run_controllers(&e);
        let cloud = e.cloud.as_ref();

        // Expose: a Service in the cluster, PENDING until the controller has made its
        // load balancer (tagged with the cluster, a listener per port, the nodes as
        // members on the node port, picked by the cluster when left out).
        let svc = workloads::service_create(
            &e.store,
            &e.key,
            cloud,
            &e.actor,
            &id,
            service("web", &[(8080, None), (8443, Some(31443))]),
        )
        .await
        .unwrap();
        assert_eq!(svc.status, "PENDING");
        let picked = svc.ports[0]
            .node_port
            .expect("the cluster picked a node port");
        assert!(workloads::NODE_PORTS.contains(&picked), "{picked}");
        assert_eq!(svc.ports[1].node_port, Some(31443));
        let listed = until_listed(&e, &id, "web", "ACTIVE").await;
        let svc = listed.services.iter().find(|s| s.name == "web").unwrap();
        let vip = svc.vip.clone().expect("a VIP");
        let lb_name = format!("kube_service_{id}_default_web");
        let lbs = cloud
            .load_balancer_list(&[cluster_tag(&id), lb_name.clone()])
            .await
            .unwrap();
        assert_eq!(lbs.len(), 1);
        assert_eq!(lbs[0].vip_address.as_deref(), Some(vip.as_str()));
        for (port, node_port) in [(8080, picked), (8443, 31443)] {
            // Both nodes, once both are Ready (they may register after the first pass).
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let members = loop {
                let m = members_of(cloud, &lb_name, port).await;
                if m.len() == 2 || std::time::Instant::now() > deadline {
                    break m;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            assert_eq!(members.len(), 2, "{members:?}");
            assert!(members.iter().all(|m| m.port == node_port));
            // The listener is real: the VIP accepts TCP on the port.
            tokio::net::TcpStream::connect((vip.as_str(), port))
                .await
                .expect("the service VIP listens");
        }
        // The members follow the Ready nodes: scale up, then down. A person's scale
        // asked while a controller's operation runs waits for it: never a 409.
        for (count, want) in [(3, 3), (1, 1)] {
            clusters::scale(
                &e.store,
                &e.engine,
                cloud,
                &e.actor,
                &id,
                "default-worker",
                clusters::NodeGroupChange {
                    node_count: Some(count),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("scale to {count}: {e:?}"));
            let deadline = std::time::Instant::now() + Duration::from_secs(90);
            loop {
                let a = members_of(cloud, &lb_name, 8080).await.len();
                let b = members_of(cloud, &lb_name, 8443).await.len();
                if a == want && b == want {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "after scaling to {count}: {a} and {b} members"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }

        // Bad input changes nothing.
        for (bad, field) in [
            (service("web", &[(80, None)]), "name"),
            (service("Web", &[(80, None)]), "name"),
            (service("api", &[]), "ports"),
            (service("api", &[(0, None)]), "ports"),
            (service("api", &[(80, None), (80, None)]), "ports"),
            (service("api", &[(80, Some(29999))]), "ports"),
            (service("api", &[(80, Some(31443))]), "ports"),
        ] {
            let r = workloads::service_create(&e.store, &e.key, cloud, &e.actor, &id, bad.clone())
                .await;
            assert!(
                matches!(&r, Err(Error::Invalid { field: Some(f), .. }) if *f == field),
                "{bad:?}: {r:?}"
            );
        }
        let listed = workloads::listed(&e.store, &e.key, &id).await.unwrap();
        assert_eq!(listed.services.len(), 1, "{listed:?}");

        // A persistent volume: a claim of the default class, a Cinder volume pvc-<uid>.
        let pv = workloads::volume_create(
            &e.store,
            &e.key,
            cloud,
            &e.actor,
            &id,
            volume("data", 5, None),
        )
        .await
        .unwrap();
        assert_eq!(pv.status, "PENDING");
        assert_eq!(pv.volume_type.as_deref(), Some("standard"));
        let listed = until_listed(&e, &id, "data", "ACTIVE").await;
        let pv = listed.volumes.iter().find(|v| v.name == "data").unwrap();
        let vols = cloud.volume_list(&cluster_metadata(&id)).await.unwrap();
        let found = vols
            .iter()
            .find(|v| Some(&v.id) == pv.volume_id.as_ref())
            .expect("in the cloud");
        assert_eq!(found.name, format!("pvc-{}", pv.id));
        assert_eq!(found.size_gib, 5);
        assert_eq!(found.metadata["shipyard-role"], "persistent-volume");
        for bad in [
            volume("data", 1, None),
            volume("x", 0, None),
            volume("x", 20_000, None),
            volume("x", 1, Some("no such!")),
        ] {
            let r =
                workloads::volume_create(&e.store, &e.key, cloud, &e.actor, &id, bad.clone()).await;
            assert!(matches!(r, Err(Error::Invalid { .. })), "{bad:?}: {r:?}");
        }

        // Another project sees nothing and changes nothing.
        let (other, _) = e
            .store
            .user_create_with_project("other-wl@example.com", "x", false, false)
            .await
            .unwrap();
        let other = Actor {
            user_id: other.id,
            email: other.email,
            is_admin: false,
            client_addr: "127.0.0.1".into(),
            credential: provision::domain::Credential::Session,
        };
        let r = workloads::service_create(
            &e.store,
            &e.key,
            cloud,
            &other,
            &id,
            service("x", &[(80, None)]),
        )
        .await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        let r = workloads::service_delete(&e.store, &e.key, &other, &id, "web").await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        let r = workloads::volume_delete(&e.store, &e.key, &other, &id, "data").await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        let r = workloads::service_delete(&e.store, &e.key, &e.actor, &id, "nope").await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");

        // Delete a service and the volume: their cloud objects go, then they do.
        workloads::service_delete(&e.store, &e.key, &e.actor, &id, "web")
            .await
            .unwrap();
        workloads::volume_delete(&e.store, &e.key, &e.actor, &id, "data")
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let l = workloads::listed(&e.store, &e.key, &id).await.unwrap();
            let lbs = cloud
                .load_balancer_list(&[cluster_tag(&id), lb_name.clone()])
                .await
                .unwrap();
            let vols = cloud.volume_list(&cluster_metadata(&id)).await.unwrap();
            let pvcs = vols.iter().filter(|v| v.name.starts_with("pvc-")).count();
            if l.services.is_empty() && l.volumes.is_empty() && lbs.is_empty() && pvcs == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still there: {l:?} {lbs:?} {vols:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // The cluster's delete sweeps a service and a volume it still has.
        workloads::service_create(
            &e.store,
            &e.key,
            cloud,
            &e.actor,
            &id,
            service("again", &[(80, None)]),
        )
        .await
        .unwrap();
        workloads::volume_create(
            &e.store,
            &e.key,
            cloud,
            &e.actor,
            &id,
            volume("kept", 1, None),
        )
        .await
        .unwrap();
        until_listed(&e, &id, "again", "ACTIVE").await;
        until_listed(&e, &id, "kept", "ACTIVE").await;
        while e.store.op_active_for(&id).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        clusters::delete(&e.store, &e.engine, &e.actor, &e.project, &id)
            .await
            .unwrap();
        drain(&e.engine).await;
        while e.store.op_active_for(&id).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_empty(cloud, &id).await;
        assert!(e.store.services_of(&id).await.unwrap().is_empty());
        assert!(e.store.volumes_of(&id).await.unwrap().is_empty());
    }
);
