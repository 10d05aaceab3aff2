use super::*;
use serde_json::json;

const NOW: i64 = 1_800_000_000_000;

fn settings() -> RepairSettings {
    RepairSettings::default()
}

fn server(name: &str, role: &str, status: &str) -> Server {
    let mut metadata = BTreeMap::from([
        ("shipyard-cluster".to_string(), "c1".to_string()),
        (ROLE_KEY.to_string(), role.to_string()),
    ]);
    if role == "worker" {
        metadata.insert(GROUP_KEY.into(), "default-worker".into());
    }
    Server {
        id: format!("id-{name}"),
        name: name.into(),
        status: status.into(),
        metadata,
        addresses: vec![],
        host: None,
        fault: (status == "ERROR").then(|| "it broke".to_string()),
    }
}

fn rfc(ms: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .to_string()
}

/// A Node whose Ready condition is `status` since `since_ms` ago.
fn node(name: &str, status: &str, since_ms: i64) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "creationTimestamp": rfc(NOW - 86_400_000)},
        "status": {"conditions": [{"type": "Ready", "status": status,
            "lastTransitionTime": rfc(NOW - since_ms), "lastHeartbeatTime": rfc(NOW - since_ms - 40_000)}]},
    }))
    .unwrap()
}

fn workers(n: usize) -> (Vec<Server>, Vec<Node>) {
    let servers = (0..n)
        .map(|i| server(&format!("sy-c1-default-worker-{i}"), "worker", "ACTIVE"))
        .collect();
    let nodes = (0..n)
        .map(|i| node(&format!("sy-c1-default-worker-{i}"), "True", 3_600_000))
        .collect();
    (servers, nodes)
}

fn run(servers: &[Server], nodes: &[Node], recent: &[String]) -> Decision {
    let active: HashMap<String, i64> = servers
        .iter()
        .map(|s| (s.id.clone(), NOW - 3_600_000))
        .collect();
    decide(
        &settings(),
        &Observed {
            now_ms: NOW,
            nodes,
            servers,
            active_since: &active,
            recent,
            api_down_since: &HashMap::new(),
        },
    )
}

#[test]
fn a_healthy_cluster_needs_nothing() {
    let (servers, nodes) = workers(4);
    assert_eq!(run(&servers, &nodes, &[]), Decision::default());
}

#[test]
fn an_error_server_is_replaced_at_once_with_the_cloud_words() {
    let (mut servers, nodes) = workers(4);
    servers[2] = server("sy-c1-default-worker-2", "worker", "ERROR");
    let d = run(&servers, &nodes, &[]);
    let r = d.repair.expect("repaired");
    assert_eq!(r.name, "sy-c1-default-worker-2");
    assert_eq!(r.server_id, "id-sy-c1-default-worker-2");
    assert_eq!(r.group, "default-worker");
    assert_eq!(
        r.reason,
        "worker sy-c1-default-worker-2 is ERROR in the cloud: it broke"
    );
    assert!(d.holds.is_empty());
}

#[test]
fn not_ready_counts_only_after_its_timeout_and_says_the_last_heartbeat() {
    let (servers, mut nodes) = workers(4);
    nodes[1] = node("sy-c1-default-worker-1", "Unknown", 4 * 60_000);
    assert_eq!(
        run(&servers, &nodes, &[]).repair,
        None,
        "4 minutes is not 5"
    );
    nodes[1] = node("sy-c1-default-worker-1", "Unknown", 5 * 60_000);
    let r = run(&servers, &nodes, &[]).repair.unwrap();
    assert_eq!(r.name, "sy-c1-default-worker-1");
    assert!(
        r.reason.starts_with(
            "worker sy-c1-default-worker-1 was NotReady (Unknown) for 5m (last heartbeat 2027-"
        ),
        "{}",
        r.reason
    );
    nodes[1] = node("sy-c1-default-worker-1", "False", 6 * 60_000 + 30_000);
    let r = run(&servers, &nodes, &[]).repair.unwrap();
    assert!(r.reason.contains("was NotReady for 6m30s"), "{}", r.reason);
}

#[test]
fn a_server_that_never_registers_is_replaced_ten_minutes_after_it_was_active() {
    let (servers, mut nodes) = workers(4);
    nodes.remove(3);
    let mut active: HashMap<String, i64> = servers
        .iter()
        .map(|s| (s.id.clone(), NOW - 3_600_000))
        .collect();
    let o = |active: &HashMap<String, i64>| {
        decide(
            &settings(),
            &Observed {
                now_ms: NOW,
                nodes: &nodes,
                servers: &servers,
                active_since: active,
                recent: &[],
                api_down_since: &HashMap::new(),
            },
        )
    };
    active.insert("id-sy-c1-default-worker-3".into(), NOW - 9 * 60_000);
    assert_eq!(o(&active).repair, None);
    active.insert("id-sy-c1-default-worker-3".into(), NOW - 10 * 60_000);
    let r = o(&active).repair.unwrap();
    assert_eq!(
        r.reason,
        "worker sy-c1-default-worker-3 registered no Node in the 10m since its server was seen ACTIVE"
    );
    // Still booting: not judged.
    let mut building = servers.clone();
    building[3].status = "BUILD".into();
    assert_eq!(run(&building, &nodes, &[]).repair, None);
}

#[test]
fn more_than_forty_percent_unready_holds_every_repair_and_says_why() {
    let (mut servers, nodes) = workers(4);
    servers[0] = server("sy-c1-default-worker-0", "worker", "ERROR");
    servers[1] = server("sy-c1-default-worker-1", "worker", "ERROR");
    let d = run(&servers, &nodes, &[]);
    assert_eq!(d.repair, None);
    assert_eq!(d.holds.len(), 1, "{d:?}");
    assert_eq!(d.holds[0].key, "unready");
    assert!(
        d.holds[0].reason.starts_with("2 of 4 nodes are unready (sy-c1-default-worker-0, sy-c1-default-worker-1), more than 40 %: the cloud looks sick, not the nodes"),
        "{}",
        d.holds[0].reason
    );
    // Exactly 40 % is not more: 2 of 5.
    let (mut servers, nodes) = workers(5);
    servers[0] = server("sy-c1-default-worker-0", "worker", "ERROR");
    servers[1] = server("sy-c1-default-worker-1", "worker", "ERROR");
    assert!(run(&servers, &nodes, &[]).repair.is_some());
}

#[test]
fn unready_nodes_not_yet_due_count_towards_the_share() {
    let (mut servers, mut nodes) = workers(4);
    servers[0] = server("sy-c1-default-worker-0", "worker", "ERROR");
    nodes[1] = node("sy-c1-default-worker-1", "Unknown", 30_000);
    let d = run(&servers, &nodes, &[]);
    assert_eq!(d.repair, None);
    assert_eq!(d.holds[0].key, "unready");
}

#[test]
fn repairs_per_group_are_bounded_per_hour() {
    let (mut servers, nodes) = workers(3);
    servers[0] = server("sy-c1-default-worker-0", "worker", "ERROR");
    let one = vec!["default-worker".to_string()];
    let d = run(&servers, &nodes, &one);
    assert_eq!(d.repair, None, "max(1, 10 % of 3) = 1, used");
    assert_eq!(d.holds[0].key, "budget:default-worker");
    assert!(
        d.holds[0]
            .reason
            .contains("had 1 repair(s) in the last 1h (at most 1 for its 3 node(s))"),
        "{}",
        d.holds[0].reason
    );
    // Another group's repairs do not count.
    assert!(run(&servers, &nodes, &["other".to_string()])
        .repair
        .is_some());
    // 20 workers: two an hour.
    let (mut servers, nodes) = workers(20);
    servers[0] = server("sy-c1-default-worker-0", "worker", "ERROR");
    assert!(run(&servers, &nodes, &one).repair.is_some());
    assert!(run(&servers, &nodes, &[one[0].clone(), one[0].clone()])
        .repair
        .is_none());
}

fn masters(statuses: &[&str]) -> Vec<Server> {
    statuses
        .iter()
        .enumerate()
        .map(|(i, st)| server(&format!("sy-c1-master-{i}"), "master", st))
        .collect()
}

#[test]
fn a_broken_master_is_replaced_while_the_others_keep_quorum_and_before_a_worker() {
    let (mut servers, nodes) = workers(3);
    servers[2] = server("sy-c1-default-worker-2", "worker", "ERROR");
    servers.extend(masters(&["ACTIVE", "ERROR", "ACTIVE"]));
    let d = run(&servers, &nodes, &[]);
    let r = d.repair.expect("a repair");
    assert_eq!(r.role, Role::Master);
    assert_eq!(r.name, "sy-c1-master-1");
    assert_eq!(r.group, MASTERS);
    assert_eq!(
        r.reason,
        "master sy-c1-master-1 is ERROR in the cloud: it broke"
    );
    assert!(d.holds.is_empty(), "{:?}", d.holds);
    // One master repair an hour: the worker goes first meanwhile, the master says why.
    let d = run(&servers, &nodes, &[MASTERS.to_string()]);
    assert_eq!(d.repair.expect("the worker").role, Role::Worker);
    assert_eq!(d.holds.len(), 1);
    assert!(
        d.holds[0]
            .reason
            .ends_with("not repaired: the masters had 1 repair(s) in the last 1h (at most 1 for its 3 node(s))"),
        "{}",
        d.holds[0].reason
    );
}

#[test]
fn without_quorum_no_master_is_replaced_and_the_hold_says_why() {
    let (mut servers, nodes) = workers(3);
    servers.extend(masters(&["ERROR"]));
    let d = run(&servers, &nodes, &[]);
    assert_eq!(d.repair, None);
    assert_eq!(d.holds.len(), 1);
    assert_eq!(d.holds[0].key, "master:sy-c1-master-0");
    assert_eq!(
        d.holds[0].reason,
        "master sy-c1-master-0 is ERROR in the cloud: it broke; etcd has lost its quorum \
         (0 of 1 masters healthy): a new member cannot join it, so no master is replaced \
         (restore one by hand)"
    );
    let (mut servers, nodes) = workers(3);
    servers.extend(masters(&["ERROR", "ACTIVE", "ERROR"]));
    let d = run(&servers, &nodes, &[]);
    assert_eq!(d.repair, None);
    let keys: Vec<&str> = d.holds.iter().map(|h| h.key.as_str()).collect();
    assert_eq!(keys, ["master:sy-c1-master-0", "master:sy-c1-master-2"]);
    assert!(d.holds[0].reason.contains("(1 of 3 masters healthy)"));
    assert!(
        master_quorum(3, 2) && !master_quorum(3, 1) && !master_quorum(2, 1) && master_quorum(1, 1)
    );
}

#[test]
fn a_master_whose_api_stays_down_is_replaced_after_the_timeout() {
    let (mut servers, nodes) = workers(3);
    servers.extend(masters(&["ACTIVE", "ACTIVE", "ACTIVE"]));
    let active = HashMap::new();
    let at = |down: HashMap<String, i64>| {
        decide(
            &settings(),
            &Observed {
                now_ms: NOW,
                nodes: &nodes,
                servers: &servers,
                active_since: &active,
                recent: &[],
                api_down_since: &down,
            },
        )
    };
    // Down for a minute: not yet.
    let d = at(HashMap::from([(
        "sy-c1-master-2".to_string(),
        NOW - 60_000,
    )]));
    assert_eq!(d, Decision::default());
    // Down for six: replaced, with the words.
    let d = at(HashMap::from([(
        "sy-c1-master-2".to_string(),
        NOW - 360_000,
    )]));
    let r = d.repair.expect("a repair");
    assert_eq!(
        r.reason,
        "master sy-c1-master-2's API has failed the load balancer's health check for 6m"
    );
    // Another master's API down too (however briefly): no quorum without both.
    let d = at(HashMap::from([
        ("sy-c1-master-2".to_string(), NOW - 360_000),
        ("sy-c1-master-0".to_string(), NOW - 1_000),
    ]));
    assert_eq!(d.repair, None);
    assert!(
        d.holds[0].reason.contains("(1 of 3 masters healthy)"),
        "{:?}",
        d.holds
    );
}

#[test]
fn off_repairs_nothing() {
    let (mut servers, nodes) = workers(4);
    servers[0] = server("sy-c1-default-worker-0", "worker", "ERROR");
    let active = HashMap::new();
    let d = decide(
        &RepairSettings {
            enabled: false,
            ..settings()
        },
        &Observed {
            now_ms: NOW,
            nodes: &nodes,
            servers: &servers,
            active_since: &active,
            recent: &[],
            api_down_since: &HashMap::new(),
        },
    );
    assert_eq!(d.repair, None);
}

#[test]
fn durations_in_words() {
    assert_eq!(words(Duration::from_secs(300)), "5m");
    assert_eq!(words(Duration::from_secs(90)), "1m30s");
    assert_eq!(words(Duration::from_secs(0)), "0s");
    assert_eq!(words(Duration::from_secs(7500)), "2h5m");
}
