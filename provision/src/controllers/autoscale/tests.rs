use super::*;
use serde_json::json;

const GI: i64 = 1 << 30;

fn ng(name: &str, count: u32, min: u32, max: u32, cpu: i64, memory: i64) -> Group {
    Group {
        name: name.into(),
        autoscale: true,
        node_count: count,
        min,
        max,
        cpu,
        memory,
        labels: BTreeMap::new(),
        taints: Vec::new(),
    }
}

/// A Ready node of `group` with `cpu` millicores and `mem` GiB allocatable.
fn node(name: &str, group: &str, cpu: i64, mem: i64) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {NODE_GROUP_LABEL: group}},
        "status": {
            "allocatable": {"cpu": format!("{}", cpu / 1000), "memory": format!("{mem}Gi"), "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }))
    .unwrap()
}

fn pod(name: &str, cpu: &str, mem: &str, on: Option<&str>) -> Pod {
    let mut p = json!({
        "metadata": {"name": name, "namespace": "default",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "rs1", "controller": true}]},
        "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]},
        "status": {"phase": "Pending"},
    });
    match on {
        Some(n) => {
            p["spec"]["nodeName"] = json!(n);
            p["status"] = json!({"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"}]});
        }
        None => {
            p["status"]["conditions"] =
                json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]);
        }
    }
    serde_json::from_value(p).unwrap()
}

fn quick() -> Settings {
    Settings {
        unneeded: Duration::from_secs(10),
        delay_after_add: Duration::from_secs(20),
        backoff: Duration::from_secs(30),
        utilization: 0.5,
    }
}

#[test]
fn quantities_read_as_the_scheduler_reads_them() {
    assert_eq!(millicores("600m"), Some(600));
    assert_eq!(millicores("2"), Some(2000));
    assert_eq!(millicores("0.5"), Some(500));
    let p = pod("a", "250m", "512Mi", None);
    assert_eq!(requests(&p), (250, 512 << 20));
    assert!(unschedulable(&p));
    assert!(!unschedulable(&pod("b", "1", "1Gi", Some("w1"))));
}

#[test]
fn unschedulable_pods_grow_the_group_by_what_they_need_up_to_max() {
    let g = [ng("small", 1, 1, 3, 1000, 2 * GI)];
    let nodes = [node("w0", "small", 1000, 2)];
    let mut pods = vec![pod("p0", "600m", "100Mi", Some("w0"))];
    pods.extend((1..5).map(|i| pod(&format!("p{i}"), "600m", "100Mi", None)));
    let mut m = Memory::default();
    let out = decide(&g, &nodes, &pods, &mut m, 0, &quick());
    let Some(Decision::Up { group, to, why }) = out.decision else {
        panic!("{out:?}")
    };
    assert_eq!(
        (group.as_str(), to),
        ("small", 3),
        "4 pods need 4 nodes; max is 3"
    );
    assert!(why.contains("unschedulable"), "{why}");

    // One pod fits the room left on w0, the other needs one new node.
    let pods = vec![
        pod("a", "400m", "100Mi", None),
        pod("b", "400m", "100Mi", None),
        pod("c", "400m", "100Mi", Some("w0")),
    ];
    let g = [ng("small", 1, 1, 5, 1000, 2 * GI)];
    let out = decide(&g, &nodes, &pods, &mut Memory::default(), 0, &quick());
    assert_eq!(
        out.decision.map(|d| match d {
            Decision::Up { to, .. } => to,
            _ => 0,
        }),
        Some(2)
    );
}

#[test]
fn at_max_or_with_nodes_still_joining_nothing_grows() {
    let nodes = [node("w0", "small", 1000, 2)];
    let pods = [
        pod("p0", "600m", "1Mi", Some("w0")),
        pod("p1", "600m", "1Mi", None),
    ];
    let at_max = [ng("small", 1, 1, 1, 1000, 2 * GI)];
    let out = decide(&at_max, &nodes, &pods, &mut Memory::default(), 0, &quick());
    assert_eq!(out.decision, None);
    // Count 2, one Node so far: the one joining takes the pod.
    let joining = [ng("small", 2, 1, 5, 1000, 2 * GI)];
    let out = decide(&joining, &nodes, &pods, &mut Memory::default(), 0, &quick());
    assert_eq!(out.decision, None);
    // A pod no node of the flavor could take leaves it alone.
    let huge = [pod("h", "4", "1Mi", None)];
    let g = [ng("small", 1, 1, 5, 1000, 2 * GI)];
    assert_eq!(
        decide(&g, &nodes, &huge, &mut Memory::default(), 0, &quick()).decision,
        None
    );
    // A group that does not autoscale is never grown.
    let mut off = ng("small", 1, 1, 5, 1000, 2 * GI);
    off.autoscale = false;
    assert_eq!(
        decide(&[off], &nodes, &pods, &mut Memory::default(), 0, &quick()),
        Outcome::default()
    );
}

#[test]
fn least_waste_picks_the_group_whose_new_nodes_are_fullest() {
    // Pods of 1.5 CPU, 1 GiB: a 2 CPU/2 GiB node wastes less than an 8 CPU/32 GiB one.
    let g = [
        ng("big", 1, 1, 5, 8000, 32 * GI),
        ng("medium", 1, 1, 5, 2000, 2 * GI),
    ];
    let nodes = [node("b0", "big", 8000, 32), node("m0", "medium", 2000, 2)];
    let mut pods: Vec<Pod> = (0..2)
        .map(|i| pod(&format!("x{i}"), "1500m", "1Gi", None))
        .collect();
    pods.push(pod("fill-b", "8", "1Gi", Some("b0")));
    pods.push(pod("fill-m", "2", "1Gi", Some("m0")));
    let out = decide(&g, &nodes, &pods, &mut Memory::default(), 0, &quick());
    let Some(Decision::Up { group, to, .. }) = out.decision else {
        panic!("{out:?}")
    };
    assert_eq!((group.as_str(), to), ("medium", 3));
}

#[test]
fn a_groups_labels_and_taints_decide_which_pods_its_new_nodes_take() {
    // "batch" nodes are labelled pool=batch and tainted dedicated=batch:NoSchedule.
    let mut batch = ng("batch", 1, 1, 5, 8000, 32 * GI);
    batch.labels = BTreeMap::from([("pool".to_string(), "batch".to_string())]);
    batch.taints = vec!["dedicated=batch:NoSchedule".into()];
    let g = [batch, ng("general", 1, 1, 5, 2000, 2 * GI)];
    let nodes = [
        node("b0", "batch", 8000, 32),
        node("g0", "general", 2000, 2),
    ];
    let fill = [
        pod("fill-b", "8", "1Gi", Some("b0")),
        pod("fill-g", "2", "1Gi", Some("g0")),
    ];
    let run = |p: Pod| {
        let mut pods = fill.to_vec();
        pods.push(p);
        decide(&g, &nodes, &pods, &mut Memory::default(), 0, &quick()).decision
    };
    // A plain pod does not tolerate the taint: only "general" can take it.
    let Some(Decision::Up { group, .. }) = run(pod("plain", "500m", "1Gi", None)) else {
        panic!("a plain pod grows a group")
    };
    assert_eq!(group, "general");
    // One that selects pool=batch and tolerates it: only "batch".
    let mut p = pod("batchy", "500m", "1Gi", None);
    let spec = p.spec.as_mut().unwrap();
    spec.node_selector = Some(BTreeMap::from([("pool".to_string(), "batch".to_string())]));
    spec.tolerations = Some(vec![serde_json::from_value(
        json!({"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}),
    )
    .unwrap()]);
    let Some(Decision::Up { group, .. }) = run(p.clone()) else {
        panic!("a batch pod grows a group")
    };
    assert_eq!(group, "batch");
    // Selecting the label without tolerating the taint: nothing fits, nothing grows.
    p.spec.as_mut().unwrap().tolerations = None;
    assert!(run(p).is_none());
}

#[test]
fn a_group_below_its_minimum_grows_to_it() {
    let g = [ng("small", 1, 2, 4, 1000, 2 * GI)];
    let out = decide(
        &g,
        &[node("w0", "small", 1000, 2)],
        &[],
        &mut Memory::default(),
        0,
        &quick(),
    );
    assert!(
        matches!(out.decision, Some(Decision::Up { to: 2, .. })),
        "{out:?}"
    );
}

#[test]
fn an_underused_node_goes_after_the_unneeded_time_never_below_min() {
    let g = [ng("small", 2, 1, 3, 1000, 2 * GI)];
    let nodes = [node("w0", "small", 1000, 2), node("w1", "small", 1000, 2)];
    let pods = [
        pod("p0", "600m", "1Mi", Some("w0")),
        pod("p1", "100m", "1Mi", Some("w1")),
    ];
    let s = quick();
    let mut m = Memory::default();
    let out = decide(&g, &nodes, &pods, &mut m, 0, &s);
    assert_eq!(
        out,
        Outcome {
            decision: None,
            waiting: true
        },
        "unneeded since now"
    );
    assert_eq!(
        m.unneeded_since.keys().collect::<Vec<_>>(),
        ["w1"],
        "w0 is at 60 %"
    );
    let out = decide(&g, &nodes, &pods, &mut m, 9_000, &s);
    assert_eq!(out.decision, None);
    let out = decide(&g, &nodes, &pods, &mut m, 10_000, &s);
    let Some(Decision::Down {
        group,
        nodes: gone,
        to,
        ..
    }) = out.decision
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        (group.as_str(), gone, to),
        ("small", vec!["w1".to_string()], 1)
    );
    // At its minimum it stays.
    let at_min = [ng("small", 2, 2, 3, 1000, 2 * GI)];
    let out = decide(&at_min, &nodes, &pods, &mut m, 20_000, &s);
    assert_eq!(out, Outcome::default());
    assert!(m.unneeded_since.is_empty());
}

#[test]
fn scale_down_waits_after_a_scale_up_and_after_a_failure() {
    let g = [ng("small", 2, 1, 3, 1000, 2 * GI)];
    let nodes = [node("w0", "small", 1000, 2), node("w1", "small", 1000, 2)];
    let s = quick();
    let mut m = Memory {
        last_up: Some(0),
        ..Default::default()
    };
    assert_eq!(decide(&g, &nodes, &[], &mut m, 0, &s).decision, None);
    assert_eq!(
        decide(&g, &nodes, &[], &mut m, 15_000, &s).decision,
        None,
        "20 s after the add"
    );
    assert!(decide(&g, &nodes, &[], &mut m, 20_000, &s)
        .decision
        .is_some());
    let mut m = Memory {
        last_failure: Some(0),
        ..Default::default()
    };
    let out = decide(&g, &nodes, &[], &mut m, 29_000, &s);
    assert_eq!(
        out,
        Outcome {
            decision: None,
            waiting: true
        },
        "backing off"
    );
}

#[test]
fn a_node_whose_pods_cannot_move_or_have_no_controller_stays() {
    let g = [ng("small", 2, 1, 3, 1000, 2 * GI)];
    let nodes = [node("w0", "small", 1000, 2), node("w1", "small", 1000, 2)];
    // w1's 400m pod cannot go to w0 (800m used).
    let pods = [
        pod("p0", "800m", "1Mi", Some("w0")),
        pod("p1", "400m", "1Mi", Some("w1")),
    ];
    let mut m = Memory::default();
    assert_eq!(
        decide(&g, &nodes, &pods, &mut m, 0, &quick()),
        Outcome::default()
    );
    // A bare pod (no controller) keeps its node.
    let mut bare = pod("bare", "100m", "1Mi", Some("w1"));
    bare.metadata.owner_references = None;
    let pods = [pod("p0", "100m", "1Mi", Some("w0")), bare];
    let out = decide(&g, &nodes, &pods, &mut m, 0, &quick());
    assert!(!m.unneeded_since.contains_key("w1"), "{out:?}");
}

#[test]
fn nodes_being_removed_are_left_out_and_forgotten_once_gone() {
    let g = [ng("small", 1, 1, 3, 1000, 2 * GI)];
    let nodes = [node("w0", "small", 1000, 2), node("w1", "small", 1000, 2)];
    let mut m = Memory {
        removing: ["w1".to_string(), "gone".to_string()].into(),
        ..Default::default()
    };
    let out = decide(&g, &nodes, &[], &mut m, 0, &quick());
    assert_eq!(out, Outcome::default(), "w0 alone, at the minimum");
    assert_eq!(m.removing.iter().collect::<Vec<_>>(), ["w1"]);
}

#[test]
fn a_group_above_its_maximum_loses_its_emptiest_node() {
    let g = [ng("small", 3, 1, 2, 1000, 2 * GI)];
    let nodes = [
        node("w0", "small", 1000, 2),
        node("w1", "small", 1000, 2),
        node("w2", "small", 1000, 2),
    ];
    let pods = [
        pod("p0", "600m", "1Mi", Some("w0")),
        pod("p2", "700m", "1Mi", Some("w2")),
    ];
    let out = decide(&g, &nodes, &pods, &mut Memory::default(), 0, &quick());
    let Some(Decision::Down { nodes, to, .. }) = out.decision else {
        panic!("{out:?}")
    };
    assert_eq!((nodes, to), (vec!["w1".to_string()], 2));
}

#[test]
fn empty_nodes_of_a_group_go_together_down_to_its_minimum() {
    // Five nodes, min 2: w0 busy, w1 at 10 %, w2..w4 empty (a DaemonSet pod on w2).
    let g = [ng("small", 5, 2, 5, 1000, 2 * GI)];
    let nodes: Vec<Node> = (0..5)
        .map(|i| node(&format!("w{i}"), "small", 1000, 2))
        .collect();
    let mut daemon = pod("ds-w2", "50m", "1Mi", Some("w2"));
    daemon.metadata.owner_references.as_mut().unwrap()[0].kind = "DaemonSet".into();
    let pods = [
        pod("p0", "900m", "1Mi", Some("w0")),
        pod("p1", "100m", "1Mi", Some("w1")),
        daemon,
    ];
    let s = quick();
    let mut m = Memory::default();
    assert_eq!(decide(&g, &nodes, &pods, &mut m, 0, &s).decision, None);
    let out = decide(&g, &nodes, &pods, &mut m, 10_000, &s);
    let Some(Decision::Down {
        nodes: gone, to, ..
    }) = out.decision
    else {
        panic!("{out:?}")
    };
    // Three empty, room for three above the minimum: all three at once, the busy and
    // the nearly idle node stay (the nearly idle one goes on its own, later).
    assert_eq!(gone, ["w2", "w3", "w4"]);
    assert_eq!(to, 2);
    // With room for two only, two go.
    let g = [ng("small", 5, 3, 5, 1000, 2 * GI)];
    let mut m = Memory::default();
    decide(&g, &nodes, &pods, &mut m, 0, &s);
    let out = decide(&g, &nodes, &pods, &mut m, 10_000, &s);
    let Some(Decision::Down {
        nodes: gone, to, ..
    }) = out.decision
    else {
        panic!("{out:?}")
    };
    assert_eq!((gone.len(), to), (2, 3));
}
