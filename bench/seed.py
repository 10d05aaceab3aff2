"""Seeds a Shipyard SQLite database with clusters for the list-page benchmarks.

    python3 bench/seed.py <shipyard.db> <owner email> <from> <to>

Adds clusters cluster-<from> .. cluster-<to - 1> to the owner's personal project, each
with one node group of 50 nodes and a finished create operation with one recorded step
per machine (Shipyard keeps no table of machines: the cloud's server list is the truth,
so its per-machine rows are these steps). One cluster in 20 is FAILED, the rest ACTIVE.
The console's list page reads only these tables, never the cloud, so rows written here
render exactly like clusters made through the API. Runs while the server is up (SQLite
in WAL mode).
"""

import sqlite3
import sys
import time
import uuid

MACHINES_PER_CLUSTER = 50


def main() -> None:
    db, email, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    con = sqlite3.connect(db, timeout=30)
    user_id, project_id = con.execute(
        "SELECT u.id, p.id FROM users u JOIN projects p ON p.personal_of = u.id WHERE u.email = ?",
        (email,),
    ).fetchone()
    now = int(time.time() * 1000)
    clusters, groups, ops, steps = [], [], [], []
    for i in range(first, last):
        cid, op = str(uuid.uuid4()), str(uuid.uuid4())
        at = now - (last - i) * 1000
        status = "FAILED" if i % 20 == 19 else "ACTIVE"
        reason = "Creating server master-0 failed: no valid host" if status == "FAILED" else None
        clusters.append((
            cid, project_id, f"cluster-{i:04d}", status, reason, "v1.33.4", 3, "m1.medium",
            "10.244.0.0/16", "10.96.0.0/12", "public", f"127.0.{i // 250}.{i % 250 + 1}",
            user_id, at, at,
        ))
        groups.append((
            str(uuid.uuid4()), cid, "default-worker", "m1.small", MACHINES_PER_CLUSTER, 1, 100,
            20, "{}", "[]", at, at,
        ))
        ops.append((
            op, project_id, "cluster.create", cid, user_id, "succeeded", "{}",
            MACHINES_PER_CLUSTER, MACHINES_PER_CLUSTER, at, at, at,
        ))
        steps.extend(
            (op, f"worker-{j}", j, "succeeded", 1, at, at) for j in range(MACHINES_PER_CLUSTER)
        )
    with con:
        con.executemany(
            "INSERT INTO clusters (id, project_id, name, status, status_reason, kubernetes_version, "
            "master_count, master_flavor, pod_cidr, service_cidr, api_endpoint, api_address, "
            "created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            clusters,
        )
        con.executemany(
            "INSERT INTO node_groups (id, cluster_id, name, flavor, node_count, min_node_count, "
            "max_node_count, boot_volume_gib, labels, taints, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            groups,
        )
        con.executemany(
            "INSERT INTO operations (id, project_id, kind, target_id, requested_by, state, spec, "
            "steps_done, steps_total, created_at, updated_at, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ops,
        )
        con.executemany(
            "INSERT INTO operation_steps (operation_id, step, position, state, attempts, "
            "started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            steps,
        )
    total = con.execute("SELECT COUNT(*) FROM clusters WHERE project_id = ?", (project_id,)).fetchone()[0]
    machines = con.execute("SELECT COUNT(*) FROM operation_steps").fetchone()[0]
    print(f"{total} {machines}")


if __name__ == "__main__":
    main()
