//! Services and persistent volumes: load balancer members on localcloud's loopback
//! subnet, and everything living and dying with its cluster.

use provision::cloud::*;
use provision::clusters::saga::{cluster_metadata, cluster_tag};
use provision::clusters::{self, workloads};
use provision::domain::Actor;
use provision::ops::OpState;
use provision::{Error, Store};

use crate::both;
use crate::common::*;
use crate::support::*;

both!(
    every_member_is_one_of_localclouds_loopback_addresses,
    |store: Store| async move {
        // A 3-master cluster (its API load balancer) and a service on its workers: every
        // member the cloud holds is a server's fixed IP on localcloud's loopback subnet,
        // and a member anywhere else is refused by the cloud.
        let e = env(store, |_| {}).await;
        let id = active_cluster(&e, "lo", 3, 2).await;
        let cloud = e.cloud.as_ref();
        let (_, op) = workloads::service_create(
            &e.store,
            &e.engine,
            cloud,
            &e.actor,
            &id,
            service("web", &[(8080, None)]),
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        assert_eq!(
            e.store.op_get(&op.id).await.unwrap().state,
            OpState::Succeeded
        );
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

both!(
    services_and_volumes_live_and_die_with_the_cluster,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        let id = active_cluster(&e, "apps", 1, 2).await;
        let cloud = e.cloud.as_ref();

        // Expose: a load balancer tagged with the cluster, a listener per port, the
        // workers as members on the node port (picked when left out).
        let (svc, op) = workloads::service_create(
            &e.store,
            &e.engine,
            cloud,
            &e.actor,
            &id,
            service("web", &[(8080, None), (8443, Some(31443))]),
        )
        .await
        .unwrap();
        let svc_op = op.id.clone();
        assert_eq!(svc.status, "CREATING");
        assert_eq!(svc.ports[0].node_port, Some(30000));
        drain(&e.engine).await;
        let svc = e.store.services_of(&id).await.unwrap().remove(0);
        assert_eq!(svc.status, "ACTIVE", "{:?}", svc.status_reason);
        let vip = svc.vip.clone().expect("a VIP");
        let lbs = cloud
            .load_balancer_list(&[cluster_tag(&id), "shipyard-service=web".into()])
            .await
            .unwrap();
        assert_eq!(lbs.len(), 1);
        assert_eq!(lbs[0].vip_address.as_deref(), Some(vip.as_str()));
        for (port, node_port) in [(8080, 30000), (8443, 31443)] {
            let pool = step_output(&e, &op.id, &format!("pool-{port}")).await;
            let members = cloud
                .member_list(pool["id"].as_str().unwrap())
                .await
                .unwrap();
            assert_eq!(members.len(), 2, "{members:?}");
            assert!(members.iter().all(|m| m.port == node_port));
            // The listener is real: the VIP accepts TCP on the port.
            tokio::net::TcpStream::connect((vip.as_str(), port))
                .await
                .expect("the service VIP listens");
        }
        // The members follow the workers: scale up, then down.
        for (count, members) in [(3, 3), (1, 1)] {
            let op = clusters::scale(
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
            .unwrap()
            .unwrap();
            drain(&e.engine).await;
            assert_eq!(
                e.store.op_get(&op.id).await.unwrap().state,
                OpState::Succeeded
            );
            for port in [8080, 8443] {
                let pool = step_output(&e, &svc_op, &format!("pool-{port}")).await;
                let m = cloud
                    .member_list(pool["id"].as_str().unwrap())
                    .await
                    .unwrap();
                assert_eq!(
                    m.len(),
                    members,
                    "port {port} after scaling to {count}: {m:?}"
                );
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
            let r =
                workloads::service_create(&e.store, &e.engine, cloud, &e.actor, &id, bad.clone())
                    .await;
            assert!(
                matches!(&r, Err(Error::Invalid { field: Some(f), .. }) if *f == field),
                "{bad:?}: {r:?}"
            );
        }
        assert_eq!(e.store.services_of(&id).await.unwrap().len(), 1);

        // A persistent volume: tagged, sized, listed.
        let (pv, _) = workloads::volume_create(
            &e.store,
            &e.engine,
            cloud,
            &e.actor,
            &id,
            volume("data", 5, Some("ssd")),
        )
        .await
        .unwrap();
        assert_eq!(pv.status, "CREATING");
        drain(&e.engine).await;
        let pv = e.store.volumes_of(&id).await.unwrap().remove(0);
        assert_eq!(pv.status, "ACTIVE");
        let vols = cloud.volume_list(&cluster_metadata(&id)).await.unwrap();
        let found = vols
            .iter()
            .find(|v| Some(&v.id) == pv.volume_id.as_ref())
            .expect("in the cloud");
        assert_eq!(found.size_gib, 5);
        assert_eq!(found.metadata["shipyard-role"], "persistent-volume");
        for bad in [
            volume("data", 1, None),
            volume("x", 0, None),
            volume("x", 20_000, None),
            volume("x", 1, Some("no such!")),
        ] {
            let r =
                workloads::volume_create(&e.store, &e.engine, cloud, &e.actor, &id, bad.clone())
                    .await;
            assert!(matches!(r, Err(Error::Invalid { .. })), "{bad:?}: {r:?}");
        }
        // A type the cloud does not have: the operation fails with the cloud's words and
        // leaves nothing.
        let (gold, op) = workloads::volume_create(
            &e.store,
            &e.engine,
            cloud,
            &e.actor,
            &id,
            volume("gold", 1, Some("gold")),
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        assert_eq!(
            e.store.op_get(&op.id).await.unwrap().state,
            OpState::Unwound
        );
        let gold = e
            .store
            .volumes_of(&id)
            .await
            .unwrap()
            .into_iter()
            .find(|v| v.id == gold.id)
            .unwrap();
        assert_eq!(gold.status, "FAILED");
        assert!(gold.status_reason.unwrap().contains("gold"));
        assert!(!cloud
            .volume_list(&cluster_metadata(&id))
            .await
            .unwrap()
            .iter()
            .any(|v| v.name.ends_with("-pv-gold")));
        workloads::volume_delete(&e.store, &e.engine, &e.actor, &id, "gold")
            .await
            .unwrap();
        drain(&e.engine).await;

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
            &e.engine,
            cloud,
            &other,
            &id,
            service("x", &[(80, None)]),
        )
        .await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        let r = workloads::service_delete(&e.store, &e.engine, &other, &id, "web").await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        let r = workloads::volume_delete(&e.store, &e.engine, &other, &id, "data").await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");

        // Delete a service: its load balancer goes.
        workloads::service_delete(&e.store, &e.engine, &e.actor, &id, "web")
            .await
            .unwrap();
        drain(&e.engine).await;
        assert!(e.store.services_of(&id).await.unwrap().is_empty());
        assert!(cloud
            .load_balancer_list(&["shipyard-service=web".into(), cluster_tag(&id)])
            .await
            .unwrap()
            .is_empty());

        // The cluster's delete sweeps a service and a volume it still has.
        workloads::service_create(
            &e.store,
            &e.engine,
            cloud,
            &e.actor,
            &id,
            service("again", &[(80, None)]),
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        clusters::delete(&e.store, &e.engine, &e.actor, &e.project, &id)
            .await
            .unwrap();
        drain(&e.engine).await;
        assert_empty(cloud, &id).await;
        assert!(e.store.services_of(&id).await.unwrap().is_empty());
        assert!(e.store.volumes_of(&id).await.unwrap().is_empty());
    }
);
