"""The hydrate bundle, as a page downloads it: the main WASM (every page) plus the chunks
of the page's lazy route, from the split manifest. gzip -9 per file, as served.

    python3 bench/bundle.py <site pkg dir>

Prints a markdown table, then a last line "MAIN_GZ WORST_PAGE_GZ PAGES_WITHIN PAGES".
"""
import gzip
import json
import os
import re
import sys

PATHS = {
    "home": "/",
    "sign_in": "/signin",
    "sign_up": "/signup",
    "clusters": "/clusters",
    "new_cluster": "/clusters/new",
    "cluster": "/clusters/:id",
    "workloads": "/clusters/:id/workloads",
    "delete_cluster": "/clusters/:id/delete",
    "node_group": "/clusters/:id/nodegroups/:ng",
    "add_node_group": "/clusters/:id/add-node-group",
    "operation": "/operations/:id",
    "project": "/project",
    "account": "/account",
    "admin": "/admin",
    "admin_clusters": "/admin/clusters",
    "admin_users": "/admin/users",
    "admin_quotas": "/admin/quotas",
    "admin_offer": "/admin/offer",
    "admin_audit": "/admin/audit",
}
GOAL = 300_000


def gz(path):
    with open(path, "rb") as f:
        return len(gzip.compress(f.read(), 9))


def main():
    pkg = sys.argv[1]
    main_gz = gz(os.path.join(pkg, "shipyard_bg.wasm"))
    main_raw = os.path.getsize(os.path.join(pkg, "shipyard_bg.wasm"))
    js_gz = gz(os.path.join(pkg, "shipyard.js"))
    manifest_path = os.path.join(pkg, "split-manifest.json")
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else {}
    loader = [f for f in os.listdir(pkg) if f.startswith("__wasm_split.") and f.endswith(".js")]
    loader_gz = gz(os.path.join(pkg, loader[0])) if loader else 0
    chunk_files = [f for f in os.listdir(pkg) if f.endswith(".wasm") and f != "shipyard_bg.wasm"]
    print("| what | files | WASM gzip -9 | with the main WASM |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| main WASM, every page (`pkg/shipyard_bg.wasm`, {main_raw / 1024:.0f} KiB raw) | 1 | "
          f"{main_gz / 1024:.1f} KiB | {main_gz / 1024:.1f} KiB |")
    worst = main_gz
    within = 0
    rows = []
    for split, modules in manifest.items():
        m = re.match(r"__(.+)_route_view_\d+$", split)
        name = m.group(1) if m else split
        size = sum(gz(os.path.join(pkg, mod + ".wasm")) for mod in modules)
        total = main_gz + size
        worst = max(worst, total)
        within += total <= GOAL
        rows.append((PATHS.get(name, name), len(modules), size, total))
    for path, n, size, total in sorted(rows, key=lambda r: r[3]):
        print(f"| `{path}`: its chunks | {n} | {size / 1024:.1f} KiB | {total / 1024:.1f} KiB |")
    print(f"| JS glue (`shipyard.js`, split loader) | 2 | — | {(js_gz + loader_gz) / 1024:.1f} KiB gzip |")
    print(f"| all chunk files together | {len(chunk_files)} | "
          f"{sum(gz(os.path.join(pkg, f)) for f in chunk_files) / 1024:.1f} KiB | |")
    print()
    print(f"{main_gz} {worst} {within} {len(rows)}")


main()
