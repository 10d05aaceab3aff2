//! Conformance: load balancers, listeners, pools and members.

use provision::cloud::*;

use crate::target::*;

pub async fn load_balancer_lifecycle(t: &Target) {
    let c = t.cloud();
    let Some(network) = &t.network else {
        eprintln!("skipped: set SHIPYARD_TEST_NETWORK for the load balancer's VIP");
        return;
    };
    let net = Some(c.network_id(network).await.expect("network"));
    let tags = vec![format!("shipyard-test={}", t.prefix)];
    let spec = LoadBalancerSpec {
        name: t.name("api"),
        tags: tags.clone(),
        vip_network_id: net,
        vip_subnet_id: None,
    };
    let lb = c.load_balancer_create(&spec).await.expect("create");
    assert_eq!(lb.name, spec.name);
    assert_eq!(
        c.load_balancer_create(&spec).await.expect("again").id,
        lb.id
    );
    let lb = c
        .wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");
    assert!(lb.vip_address.is_some(), "{lb:?}");
    let listed = c.load_balancer_list(&tags).await.expect("list");
    assert_eq!(
        listed.iter().map(|l| &l.id).collect::<Vec<_>>(),
        vec![&lb.id]
    );

    let lspec = ListenerSpec {
        name: t.name("api-6443"),
        load_balancer_id: lb.id.clone(),
        port: 6443,
        tags: tags.clone(),
    };
    let listener = c.listener_create(&lspec).await.expect("listener");
    assert_eq!((listener.protocol.as_str(), listener.port), ("TCP", 6443));
    c.wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");
    assert_eq!(
        c.listener_create(&lspec).await.expect("again").id,
        listener.id
    );

    let pspec = PoolSpec {
        name: t.name("api-masters"),
        listener_id: listener.id.clone(),
        tags: tags.clone(),
    };
    let pool = c.pool_create(&pspec).await.expect("pool");
    assert_eq!(pool.lb_algorithm, "ROUND_ROBIN");
    c.wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");
    assert_eq!(c.pool_create(&pspec).await.expect("again").id, pool.id);

    let mspec = MemberSpec {
        name: t.name("master-0"),
        address: t.member_address.clone(),
        port: 6443,
    };
    let m = c.member_add(&pool.id, &mspec).await.expect("member");
    c.wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");
    assert_eq!(
        c.member_add(&pool.id, &mspec).await.expect("again").id,
        m.id
    );
    assert_eq!(c.member_list(&pool.id).await.expect("members").len(), 1);

    let hm = c
        .health_monitor_create(&HealthMonitorSpec {
            name: t.name("api-check"),
            pool_id: pool.id.clone(),
            delay_secs: 5,
            timeout_secs: 3,
            max_retries: 3,
        })
        .await
        .expect("health monitor");
    assert_eq!(hm.kind, "TCP");
    c.wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");

    c.member_remove(&pool.id, &m.id).await.expect("remove");
    c.wait_load_balancer_active(&lb.id, &t.wait)
        .await
        .expect("ACTIVE");
    c.member_remove(&pool.id, &m.id)
        .await
        .expect("remove again");
    assert!(c.member_list(&pool.id).await.expect("members").is_empty());

    c.load_balancer_delete(&lb.id).await.expect("delete");
    gone(t, "deleted load balancer", || c.load_balancer_get(&lb.id)).await;
    c.load_balancer_delete(&lb.id).await.expect("delete again");
}
