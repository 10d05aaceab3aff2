#!/usr/bin/env python3
"""Schemathesis, an outside judge, against the REST API of a real Shipyard server.

Starts the server binary ($SHIPYARD_BIN) on loopback with its embedded cloud and a
throwaway data directory, signs a user up, makes them a cluster (so ids exist) and an
API token, then runs `st run` on /api/v1/openapi.json as that user and again as the
admin: every operation, with the checks: no 5xx, responses that match their schema,
documented status codes and content types. Exits with schemathesis' status.

    SHIPYARD_BIN=.../shipyard scripts/api-fuzz.py [--max-examples N] [--summary FILE]

--summary writes a Markdown table of the cases run and their outcome (for
docs/BENCHMARKS.md).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ADMIN_EMAIL = "admin@fuzz.example"
ADMIN_PASSWORD = "fuzz admin password"
USER_EMAIL = "fuzz@example.com"
USER_PASSWORD = "fuzz user password"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def start(binary, data_dir):
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.update(
        SHIPYARD_LISTEN="127.0.0.1:0",
        SHIPYARD_DATA_DIR=data_dir,
        SHIPYARD_ADMIN_EMAIL=ADMIN_EMAIL,
        SHIPYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        SHIPYARD_CLOUD="embedded",
        SHIPYARD_LOCALCLOUD_LISTEN="127.0.0.1:0",
        SHIPYARD_LOCALCLOUD_INSTANT="true",
        SHIPYARD_LOCALCLOUD_SUBNET="127.99.7.0/24",
        RUST_LOG=os.environ.get("RUST_LOG", "warn"),
    )
    log = open(os.path.join(data_dir, "server.log"), "w+")
    child = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        log.seek(0)
        m = re.search(r"listening on (http://[0-9.:]+)", log.read())
        if m:
            return child, m.group(1), log
        if child.poll() is not None:
            break
        time.sleep(0.2)
    log.seek(0)
    sys.exit(f"shipyard did not start:\n{log.read()}")


class Session:
    """A client that keeps the session cookie, as a browser would."""

    def __init__(self, base):
        self.base = base
        self.cookie = None

    def call(self, method, path, form=None, body=None, token=None):
        headers = {"accept": "application/json"}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if token:
            headers["authorization"] = f"Bearer {token}"
        elif self.cookie:
            headers["cookie"] = self.cookie
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req) as res:
                status, text, got = res.status, res.read().decode(), res.headers
        except urllib.error.HTTPError as e:
            status, text, got = e.code, e.read().decode(), e.headers
        for c in got.get_all("set-cookie") or []:
            pair = c.split(";")[0]
            if pair.startswith("shipyard_session="):
                self.cookie = pair
        if status >= 400:
            sys.exit(f"{method} {path}: {status} {text}")
        return json.loads(text) if text.strip() else None


def token_for(base, email, password, sign_up):
    s = Session(base)
    s.call("POST", "/api/sign_up" if sign_up else "/api/sign_in", form={"email": email, "password": password})
    return s.call("POST", "/api/v1/tokens", body={"name": "schemathesis"})["token"]["secret"]


def fuzz(base, token, who, max_examples, report_dir):
    report = os.path.join(report_dir, who)
    cmd = [
        "st", "run", f"{base}/api/v1/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS,
        "--max-examples", str(max_examples),
        "--phases", "examples,coverage,fuzzing,stateful",
        "--workers", "2",
        "--request-timeout", "30",
        "--seed", "2026",
        "--report", "junit",
        "--report-dir", report,
        "--no-color",
    ]
    print(f"== schemathesis as {who}: {' '.join(c if 'Bearer' not in c else 'Authorization: Bearer …' for c in cmd)}", flush=True)
    run = subprocess.run(cmd, capture_output=True, text=True)
    print(run.stdout[-20000:], flush=True)
    if run.stderr.strip():
        print(run.stderr[-5000:], file=sys.stderr, flush=True)
    failures = errors = 0
    for root, _, files in os.walk(report):
        for f in files:
            if f.endswith(".xml"):
                text = open(os.path.join(root, f)).read()
                failures += sum(int(x) for x in re.findall(r'<testsuite [^>]*failures="(\d+)"', text))
                errors += sum(int(x) for x in re.findall(r'<testsuite [^>]*errors="(\d+)"', text))
    tested = re.search(r"Tested:\s*(\d+)", run.stdout)
    calls = re.search(r"Test cases:\s*\n?\s*(\d+) generated", run.stdout)
    return run.returncode, {
        "who": who,
        "operations": int(tested.group(1)) if tested else None,
        "failures": failures,
        "errors": errors,
        "generated": int(calls.group(1)) if calls else None,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--max-examples", type=int, default=int(os.environ.get("FUZZ_MAX_EXAMPLES", "30")))
    p.add_argument("--summary")
    args = p.parse_args()
    binary = os.environ.get("SHIPYARD_BIN")
    if not binary:
        sys.exit("SHIPYARD_BIN is not set (run through `make test`)")
    if not shutil.which("st"):
        sys.exit("schemathesis (st) is not on PATH: `make test-tools` installs it into the test venv")
    data_dir = tempfile.mkdtemp(prefix="shipyard-fuzz-")
    child, base, log = start(binary, data_dir)
    status = 0
    rows = []
    try:
        user = token_for(base, USER_EMAIL, USER_PASSWORD, sign_up=True)
        admin = token_for(base, ADMIN_EMAIL, ADMIN_PASSWORD, sign_up=False)
        # Something to find by id: a cluster, made as any tenant would.
        Session(base).call(
            "POST", "/api/v1/clusters", token=user,
            body={"name": "fuzzed", "master_count": 1,
                  "node_groups": [{"name": "default-worker", "flavor": "m1.small", "node_count": 1}]},
        )
        for who, token in [("user", user), ("admin", admin)]:
            code, row = fuzz(base, token, who, args.max_examples, data_dir)
            rows.append(row | {"exit": code})
            status = status or code
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
        log.seek(0)
        server_log = log.read()
        if re.search(r"panicked|ERROR", server_log):
            print("== the server's log:\n" + server_log[-20000:], file=sys.stderr)
        shutil.rmtree(data_dir, ignore_errors=True)
    if args.summary:
        with open(args.summary, "w") as f:
            f.write("| caller | operations | cases generated | failures | errors | outcome |\n")
            f.write("| --- | ---: | ---: | ---: | ---: | --- |\n")
            for r in rows:
                outcome = "passed" if r["exit"] == 0 else f"failed (exit {r['exit']})"
                f.write(f"| {r['who']} | {r['operations'] if r['operations'] is not None else '?'} | {r['generated'] if r['generated'] is not None else '?'} | {r['failures']} | {r['errors']} | {outcome} |\n")
    print(json.dumps(rows))
    sys.exit(status)


if __name__ == "__main__":
    main()
