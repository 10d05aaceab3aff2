"""Two runs of `make bench` side by side: every table row of the first BENCHMARKS.md
beside the same row (same first cell, same section) of the second, as "old → new".

    python3 bench/compare.py OLD/docs/BENCHMARKS.md NEW/docs/BENCHMARKS.md

To compare a commit with today's code in one sitting (noisy machines: run both back
to back, nothing else running), build the old commit in its own clone and target
directory (`CARGO_TARGET_DIR=~/.cache/shipyard/target-old make build`), run
`bench/run.sh` in each, then this.
"""
import sys


def rows(path):
    section = ""
    out = {}
    order = []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("#"):
            section = line.lstrip("# ").strip()
            continue
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        key = (section, cells[0])
        if key not in out:
            order.append(key)
        out[key] = cells[1:]
    return out, order


def main():
    old, _ = rows(sys.argv[1])
    new, order = rows(sys.argv[2])
    section = None
    for key in order:
        if key[0] != section:
            section = key[0]
            print(f"\n### {section}\n")
            print("| row | old → new |")
            print("| --- | --- |")
        if key not in old:
            continue
        pairs = [
            a if a == b else f"{a} → {b}"
            for a, b in zip(old[key], new[key])
        ]
        print(f"| {key[1]} | {' · '.join(pairs)} |")


main()
