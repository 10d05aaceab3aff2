# Shipyard: `make run` builds and starts the console; `make test` runs every test.
# Both install what is missing first (and only that), so they work on a fresh machine
# with the Rust toolchain, git, Node.js/npm and the package registries.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export CARGO_TARGET_DIR ?= $(HOME)/.cache/shipyard/target
TOOLS_DIR ?= $(HOME)/.cache/shipyard/tools
SITE_DIR ?= $(CARGO_TARGET_DIR)/site
export PATH := $(TOOLS_DIR)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/"/, "", $$3); print $$3 }' Cargo.lock)
BINARYEN_VERSION := 132.0.0
WASM_IN := $(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm-release/frontend.wasm
WASM_OUT := $(SITE_DIR)/pkg/shipyard_bg.wasm
WASM_SPLIT := $(CARGO_TARGET_DIR)/release/wasm-split-site
# The features rustc enables by default for wasm32-unknown-unknown. The name section goes
# (wasm-bindgen keeps it when told not to demangle, as the split needs): 170 KB gzip.
WASM_OPT_FLAGS := -Oz --strip-debug --strip-producers --strip-target-features --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
	--enable-mutable-globals --enable-reference-types --enable-multivalue
SHIPYARD_TEST_PG_URL ?= postgres://postgres@127.0.0.1:5432/test
export SHIPYARD_TEST_PG_URL
# The real OpenStack client, from PyPI, in a venv outside the clone.
VENV ?= $(HOME)/.cache/shipyard/venv
# The Python kubernetes client, a judge of every cluster's API (provision/tests/kubernetes.rs).
KUBERNETES_PY_VERSION := 37.0.3
# Debian's kubectl (1.20), unpacked here by test-tools; kubesim's tests look for it.
export DEBIAN_KUBECTL ?= $(HOME)/.cache/shipyard/debian-kubectl
SCHEMATHESIS_VERSION := 4.32.5
export OPENSTACK_CLI := $(VENV)/bin/openstack
# The published OpenStack samples (never copied here). The tests look for
# shared/openstack-api-samples above the checkout; a clone of a local checkout (CI's,
# wherever it is made) also finds them above the checkout it was cloned from.
ifndef OPENSTACK_SAMPLES
SAMPLES_BESIDE_ORIGIN := $(shell d="$$(git config --get remote.origin.url 2>/dev/null)"; \
	[ -d "$$d" ] && d="$$(cd "$$d" && pwd)" && while [ "$$d" != / ]; do \
	[ -d "$$d/shared/openstack-api-samples" ] && { echo "$$d/shared/openstack-api-samples"; break; }; \
	d="$$(dirname "$$d")"; done)
ifneq ($(SAMPLES_BESIDE_ORIGIN),)
export OPENSTACK_SAMPLES := $(SAMPLES_BESIDE_ORIGIN)
endif
endif

.PHONY: help run build site tools test-tools test-build postgres-server postgres test test-suites test-rust test-api test-e2e bench fmt lint clean-site

help:
	@echo "make run    build in release mode and start Shipyard at http://127.0.0.1:3000"
	@echo "make test   run every test (unit, SQLite + PostgreSQL, headless Chromium), loopback only"
	@echo "make bench  measure and write docs/BENCHMARKS.md"
	@echo "make lint   cargo fmt --check and clippy -D warnings (native and WASM)"

## ---- tools -------------------------------------------------------------------------

tools:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown \
		|| rustup target add wasm32-unknown-unknown
	@if [ "$$(wasm-bindgen --version 2>/dev/null | awk '{print $$2}')" != "$(WASM_BINDGEN_VERSION)" ]; then \
		echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) (a few minutes, once)"; \
		cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force; \
	fi
	@if [ "$$(wasm-opt --version 2>/dev/null | awk '{print $$3}')" != "$(firstword $(subst ., ,$(BINARYEN_VERSION)))" ]; then \
		echo "installing binaryen $(BINARYEN_VERSION) from npm into $(TOOLS_DIR)"; \
		mkdir -p $(TOOLS_DIR) && npm install --prefix $(TOOLS_DIR) --no-audit --no-fund --silent binaryen@$(BINARYEN_VERSION); \
	fi

## ---- build -------------------------------------------------------------------------

# The hydrate bundle: cargo (small, slow profile, linked with --emit-relocs, see
# .cargo/config.toml) -> wasm-split-site (frontend/split: one chunk per lazy route, the
# loader and the manifest Leptos preloads from) -> wasm-bindgen on the main module ->
# wasm-opt on every module, plus CSS and public files, into $(SITE_DIR).
site: tools
	cargo build -p frontend --target wasm32-unknown-unknown --profile wasm-release
	cargo build -p wasm-split-site --release
	@$(MAKE) --no-print-directory $(WASM_OUT)
	@mkdir -p $(SITE_DIR)/pkg
	@cp style/main.css $(SITE_DIR)/pkg/shipyard.css
	@cp -r public/. $(SITE_DIR)/

$(WASM_OUT): $(WASM_IN) $(WASM_SPLIT) Makefile
	rm -rf $(SITE_DIR)/pkg && mkdir -p $(SITE_DIR)/pkg
	$(WASM_SPLIT) $(WASM_IN) $(SITE_DIR)/pkg shipyard > $(SITE_DIR)/pkg/.chunks
	wasm-bindgen --target web --no-typescript --keep-lld-exports --no-demangle \
		--out-dir $(SITE_DIR)/pkg --out-name shipyard $(SITE_DIR)/pkg/shipyard_split.wasm
	rm $(SITE_DIR)/pkg/shipyard_split.wasm
	@# (wasm-opt warns about each module's name subsection 3 as it reads it, then drops it)
	for f in $(SITE_DIR)/pkg/*.wasm; do \
		wasm-opt $(WASM_OPT_FLAGS) -o $$f $$f 2>&1 | { grep -v 'unknown name subsection' || true; }; \
	done

build: site
	cargo build --release -p server

run: build
	SHIPYARD_SITE_ROOT=$(SITE_DIR) $(CARGO_TARGET_DIR)/release/shipyard

clean-site:
	rm -rf $(SITE_DIR)

## ---- test --------------------------------------------------------------------------

test-tools:
	@command -v chromium >/dev/null || { \
		echo "installing Debian chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v kubectl >/dev/null || { \
		echo "installing Debian kubernetes-client (kubectl)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null; }
	@# Debian's kubectl 1.20 as well, unpacked beside the current one (installing it would
	@# take /usr/bin/kubectl): kubesim's tests run both.
	@[ -x $(DEBIAN_KUBECTL)/usr/bin/kubectl ] || { \
		echo "unpacking Debian kubernetes-client (kubectl 1.20) into $(DEBIAN_KUBECTL)"; \
		tmp=$$(mktemp -d) && \
		{ (cd $$tmp && apt-get download -qq kubernetes-client 2>/dev/null) || \
		  { apt-get update -qq && (cd $$tmp && apt-get download -qq kubernetes-client); }; } && \
		mkdir -p $(DEBIAN_KUBECTL) && dpkg-deb -x $$tmp/kubernetes-client_*.deb $(DEBIAN_KUBECTL) && \
		rm -rf $$tmp; }
	@command -v openssl >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }
	@[ -x $(OPENSTACK_CLI) ] || { \
		echo "installing python-openstackclient into $(VENV)"; \
		python3 -m venv $(VENV) && $(VENV)/bin/pip install -q python-openstackclient python-octaviaclient; }
	@ls -d $(VENV)/lib/python3*/site-packages/kubernetes-$(KUBERNETES_PY_VERSION).dist-info >/dev/null 2>&1 || { \
		echo "installing the Python kubernetes client into $(VENV)"; \
		python3 -m venv $(VENV) && $(VENV)/bin/pip install -q 'kubernetes==$(KUBERNETES_PY_VERSION)'; }
	@[ -x $(VENV)/bin/st ] || { \
		echo "installing schemathesis into $(VENV)"; \
		python3 -m venv $(VENV) && $(VENV)/bin/pip install -q 'schemathesis==$(SCHEMATHESIS_VERSION)'; }
	@if [ ! -d end2end/node_modules ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then \
		cd end2end && npm ci --no-audit --no-fund --silent; \
	fi

# PostgreSQL server binaries for the suites' own throwaway PostgreSQL (see `test`).
# Debian's package also makes and starts a cluster of its own; the suites don't use it.
postgres-server:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing Debian postgresql (server binaries for the tests' PostgreSQL)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# The host's PostgreSQL, for the suites run outside the namespace (started when installed but down).
postgres:
	@if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
		echo "starting PostgreSQL"; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -n1) main start; \
		for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi

# Everything the suites run, built now, while the network is there for cargo.
test-build:
	cargo test --no-run
	cargo build -p server

# Both suites inside a network namespace that has only loopback, with a PostgreSQL of its
# own, failing if anything tried to leave 127.0.0.0/8 (scripts/in-loopback-netns.sh).
# Where that can't be done (not root, no unshare), in the host's network as before.
test: site test-tools test-build
	@if why=$$(bash scripts/in-loopback-netns.sh --check); then \
		$(MAKE) --no-print-directory postgres-server; \
		bash scripts/in-loopback-netns.sh $(MAKE) --no-print-directory test-suites; \
	else \
		echo "$$why: running the suites in the host's network, without the loopback-only check"; \
		$(MAKE) --no-print-directory postgres; \
		$(MAKE) --no-print-directory test-suites; \
	fi

# The Rust suite, the API fuzzer and the browser suite, each even if one before failed;
# fails if any did.
test-suites:
	@status=0; \
	$(MAKE) --no-print-directory test-rust || status=1; \
	$(MAKE) --no-print-directory test-api || status=1; \
	$(MAKE) --no-print-directory test-e2e || status=1; \
	exit $$status

# Schemathesis (from PyPI, in the test venv) against the REST API of a running server,
# as a tenant and as the admin: no 5xx, responses as documented (scripts/api-fuzz.py).
test-api:
	cargo build -p server
	PATH=$(VENV)/bin:$$PATH SHIPYARD_BIN=$(CARGO_TARGET_DIR)/debug/shipyard python3 scripts/api-fuzz.py

test-rust:
	# Default members only: `--workspace` would add `frontend` and unify `hydrate` into
	# the server build of `app`.
	cargo test --no-fail-fast

# Browser tests drive the debug server binary (built by test-rust) with the release
# WASM bundle, in headless Debian Chromium. Node's test runner prints the summary.
test-e2e:
	cargo build -p server
	SHIPYARD_BIN=$(CARGO_TARGET_DIR)/debug/shipyard SHIPYARD_SITE_ROOT=$(SITE_DIR) \
		node --test --test-concurrency=1 end2end/tests/

## ---- quality and measurement ------------------------------------------------------

lint:
	cargo fmt --all --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p wasm-split-site -- -D warnings

bench: build test-tools
	bash bench/run.sh
