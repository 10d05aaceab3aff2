//! A cluster's life: a create reaches ACTIVE and a delete leaves nothing in the cloud, a
//! create that cannot be placed unwinds, both converge through injected errors, and bad
//! input and other projects are refused.

use provision::cloud::*;
use provision::clusters::{self, ClusterSpec};
use provision::domain::Actor;
use provision::ops::OpState;
use provision::{Error, Store};

use crate::both;
use crate::common::*;

both!(
    create_reaches_active_and_delete_leaves_nothing,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("demo", 3, 2),
            &e.flavors,
        )
        .await
        .unwrap();
        assert_eq!(started.cluster.status, model::ClusterStatus::Creating);
        // CA, group, API LB, 3 × (etcd, master, attach, member), listener, pool, monitor,
        // the API's access, 2 workers.
        assert_eq!(started.operation.steps_total, 3 + 3 * 4 + 3 + 1 + 2);
        drain(&e.engine).await;
        let op = e.store.op_get(&started.operation.id).await.unwrap();
        assert_eq!(op.state, OpState::Succeeded, "{:?}", op.error);
        let cluster = e
            .store
            .cluster_get(&e.project, &started.cluster.id)
            .await
            .unwrap();
        assert_eq!(cluster.status, model::ClusterStatus::Active);
        let api = cluster.api_address.clone().expect("API address");
        assert!(api.starts_with("127.") && api.ends_with(":6443"), "{api}");

        let (servers, volumes, lbs, group) = inventory(e.cloud.as_ref(), &cluster.id).await;
        assert_eq!(servers.len(), 5);
        let masters: Vec<&Server> = servers
            .iter()
            .filter(|s| s.metadata["shipyard-role"] == "master")
            .collect();
        assert_eq!(masters.len(), 3);
        let mut hosts: Vec<&str> = masters.iter().filter_map(|s| s.host.as_deref()).collect();
        hosts.sort();
        hosts.dedup();
        assert_eq!(hosts.len(), 3, "masters on three different hosts");
        assert_eq!(volumes.len(), 3);
        assert!(
            volumes.iter().all(|v| v.attached_to.len() == 1),
            "{volumes:?}"
        );
        assert_eq!(lbs.len(), 1);
        assert!(group);
        // The listener is real: the VIP accepts TCP on 6443.
        let (vip, _) = api.split_once(':').unwrap();
        tokio::net::TcpStream::connect((vip, 6443))
            .await
            .expect("the API VIP listens");

        // A second operation on the same cluster waits its turn; a second create of the
        // same name is refused.
        let again = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("demo", 1, 1),
            &e.flavors,
        )
        .await;
        assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");

        let deleting = clusters::delete(&e.store, &e.engine, &e.actor, &e.project, &cluster.id)
            .await
            .unwrap();
        assert_eq!(deleting.cluster.status, model::ClusterStatus::Deleting);
        drain(&e.engine).await;
        assert_eq!(
            e.store.op_get(&deleting.operation.id).await.unwrap().state,
            OpState::Succeeded
        );
        assert!(matches!(
            e.store.cluster_get(&e.project, &cluster.id).await,
            Err(Error::NotFound(_))
        ));
        assert_empty(e.cloud.as_ref(), &cluster.id).await;
        assert!(
            tokio::net::TcpStream::connect((vip, 6443)).await.is_err(),
            "the VIP is gone"
        );
    }
);

both!(
    a_create_that_cannot_be_placed_unwinds_to_nothing,
    |store: Store| async move {
        // Two hosts: the third master has nowhere to go under anti-affinity.
        let e = env(store, |c| {
            c.hosts.truncate(2);
        })
        .await;
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("tight", 3, 1),
            &e.flavors,
        )
        .await
        .unwrap();
        drain(&e.engine).await;
        let op = e.store.op_get(&started.operation.id).await.unwrap();
        assert_eq!(op.state, OpState::Unwound);
        assert_eq!(op.retryable, Some(false));
        let cluster = e
            .store
            .cluster_get(&e.project, &started.cluster.id)
            .await
            .unwrap();
        assert_eq!(cluster.status, model::ClusterStatus::Failed);
        assert!(
            cluster
                .status_reason
                .as_deref()
                .unwrap()
                .contains("No valid host"),
            "{:?}",
            cluster.status_reason
        );
        assert_empty(e.cloud.as_ref(), &cluster.id).await;
        // A failed cluster can still be deleted (nothing is left, the delete succeeds).
        clusters::delete(&e.store, &e.engine, &e.actor, &e.project, &cluster.id)
            .await
            .unwrap();
        drain(&e.engine).await;
        assert!(matches!(
            e.store.cluster_get(&e.project, &cluster.id).await,
            Err(Error::NotFound(_))
        ));
    }
);

both!(
    creates_and_deletes_converge_with_injected_errors_and_timeouts,
    |store: Store| async move {
        // 20 % of cloud calls go wrong: half answer 5xx at once (changing nothing), half
        // do the work and then hold the answer past the driver's 2 s timeout (the case
        // that needs find-before-create).
        let e = env(store, |c| {
            c.faults.error_rate = 0.1;
            c.faults.timeout_rate = 0.1;
            c.faults.timeout_seconds = 2.5;
        })
        .await;
        let mut ids = Vec::new();
        for name in ["flaky-a", "flaky-b"] {
            let s = clusters::create(
                &e.store,
                &e.engine,
                &e.actor,
                &e.project,
                spec(name, 1, 2),
                &e.flavors,
            )
            .await
            .unwrap();
            ids.push(s.cluster.id);
        }
        drain(&e.engine).await;
        for id in &ids {
            let c = e.store.cluster_get(&e.project, id).await.unwrap();
            let (servers, volumes, lbs, _) = inventory(e.cloud.as_ref(), id).await;
            match c.status.as_str() {
                // Nothing made twice: exactly what the cluster should have.
                "ACTIVE" => assert_eq!((servers.len(), volumes.len(), lbs.len()), (3, 1, 1)),
                "FAILED" => assert_empty(e.cloud.as_ref(), id).await,
                other => panic!("cluster ended {other}"),
            }
            clusters::delete(&e.store, &e.engine, &e.actor, &e.project, id)
                .await
                .unwrap();
        }
        drain(&e.engine).await;
        // A delete that failed on too many errors is retried until done.
        for _ in 0..5 {
            let failed = e.store.op_list_in(&[OpState::Failed]).await.unwrap();
            if failed.is_empty() {
                break;
            }
            for op in failed {
                e.engine.retry(&op.id).await.unwrap();
            }
            drain(&e.engine).await;
        }
        for id in &ids {
            assert!(matches!(
                e.store.cluster_get(&e.project, id).await,
                Err(Error::NotFound(_))
            ));
            assert_empty(e.cloud.as_ref(), id).await;
        }
    }
);

both!(
    bad_specs_and_other_projects_are_refused,
    |store: Store| async move {
        let e = env(store, |_| {}).await;
        let bad = |f: &dyn Fn(&mut ClusterSpec)| {
            let mut s = spec("ok", 1, 1);
            f(&mut s);
            s
        };
        let cases: Vec<(ClusterSpec, &str)> = vec![
            (bad(&|s| s.name = "Bad_Name".into()), "name"),
            (bad(&|s| s.name = "9lives".into()), "name"),
            (bad(&|s| s.name = "a".repeat(41)), "name"),
            (bad(&|s| s.name = "trailing-".into()), "name"),
            (
                bad(&|s| s.kubernetes_version = Some("v1.2.3".into())),
                "kubernetes_version",
            ),
            (bad(&|s| s.master_count = 2), "master_count"),
            (
                bad(&|s| s.master_flavor = "m9.huge".into()),
                "master_flavor",
            ),
            (bad(&|s| s.pod_cidr = "10.0.0.0/33".into()), "pod_cidr"),
            (bad(&|s| s.pod_cidr = "169.254.0.0/16".into()), "pod_cidr"),
            (bad(&|s| s.pod_cidr = "10.244.1.0/16".into()), "pod_cidr"),
            (
                bad(&|s| s.service_cidr = "10.244.0.0/16".into()),
                "service_cidr",
            ),
            (bad(&|s| s.node_groups.clear()), "node_groups"),
            (bad(&|s| s.node_groups[0].node_count = 9), "node_count"),
            (
                bad(&|s| s.node_groups[0].min_node_count = Some(6)),
                "min_node_count",
            ),
            (
                bad(&|s| s.node_groups.push(s.node_groups[0].clone())),
                "node_group_name",
            ),
            (
                bad(&|s| s.node_groups[0].taints = vec!["x".into()]),
                "taints",
            ),
            (
                bad(&|s| s.node_groups[0].taints = vec!["a b=c:NoSchedule".into()]),
                "taints",
            ),
            (
                bad(&|s| s.node_groups[0].taints = vec!["node.kubernetes.io/x=y:NoExecute".into()]),
                "taints",
            ),
            (
                bad(&|s| {
                    s.node_groups[0]
                        .labels
                        .insert("has space".into(), "x".into());
                }),
                "labels",
            ),
            (
                bad(&|s| {
                    s.node_groups[0]
                        .labels
                        .insert("team".into(), "-dash".into());
                }),
                "labels",
            ),
            (
                bad(&|s| {
                    s.node_groups[0]
                        .labels
                        .insert("node-role.kubernetes.io/master".into(), "".into());
                }),
                "labels",
            ),
            (
                bad(&|s| {
                    s.node_groups[0]
                        .labels
                        .insert("shipyard.io/node-group".into(), "other".into());
                }),
                "labels",
            ),
        ];
        for (s, field) in cases {
            match clusters::create(
                &e.store,
                &e.engine,
                &e.actor,
                &e.project,
                s.clone(),
                &e.flavors,
            )
            .await
            {
                Err(Error::Invalid { field: Some(f), .. }) => assert_eq!(f, field, "{s:?}"),
                other => panic!("{s:?} gave {other:?}"),
            }
        }
        assert!(
            e.store.cluster_list(&e.project).await.unwrap().is_empty(),
            "nothing recorded"
        );
        assert!(
            e.store
                .op_list_in(&[OpState::Pending])
                .await
                .unwrap()
                .is_empty(),
            "nothing started"
        );

        // Another user's project: not found, for create and delete alike.
        let started = clusters::create(
            &e.store,
            &e.engine,
            &e.actor,
            &e.project,
            spec("mine", 1, 1),
            &e.flavors,
        )
        .await
        .unwrap();
        let (other, _) = e
            .store
            .user_create_with_project("other@example.com", "x", false, false)
            .await
            .unwrap();
        let stranger = Actor {
            user_id: other.id,
            email: other.email,
            is_admin: false,
            client_addr: "127.0.0.1".into(),
            credential: provision::domain::Credential::Session,
        };
        let r = clusters::delete(
            &e.store,
            &e.engine,
            &stranger,
            &e.project,
            &started.cluster.id,
        )
        .await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        let r = clusters::create(
            &e.store,
            &e.engine,
            &stranger,
            &e.project,
            spec("theirs", 1, 1),
            &e.flavors,
        )
        .await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
        drain(&e.engine).await;
    }
);
