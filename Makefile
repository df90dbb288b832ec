# widgetgate: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/widgetgate
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build vault demo test unit lint bench fuzz browser-deps jstest soak clean

all: build

# Caddy with the standard modules and widgetgate (no xcaddy needed).
build:
	$(GO) build -o $(BIN) ./cmd/widgetgate

# The Vault server for the demo and the tests: found on PATH or built once
# from tools/vault into ~/.cache/widgetgate (15-20 minutes the first time).
vault:
	@scripts/vault.sh

# Runs Vault, the stand-in provider and widgetgate, stores a demo passport
# and binding, makes a widget call and prints the envelope. Ctrl-C stops it.
# DEMO_FLAGS=-once exits after the call (CI uses it).
demo: build
	VAULT_BIN=$$(scripts/vault.sh) $(GO) run ./examples/demo -widgetgate $(BIN) $(DEMO_FLAGS)

# Every test: formatting, vet, staticcheck, unit tests with the race
# detector, and the end-to-end tests against real Vault and real Caddy.
test: lint build jstest browser-deps deploy-check
	VAULT_BIN=$$(scripts/vault.sh) WIDGETGATE_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 ./...

# The fleet soak: three replicas on a three-node Vault cluster, moderate
# load, tokens expiring every 60 s, for SOAK_DURATION (CI: 10m). Reports
# redemptions, RSS and goroutines of the first and last minute.
SOAK_DURATION ?= 10m
soak: build
	WIDGETGATE_SOAK_DURATION=$(SOAK_DURATION) VAULT_BIN=$$(scripts/vault.sh) WIDGETGATE_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -tags soak -count=1 -timeout 30m -run '^TestFleetSoak$$' -v ./e2e/

unit:
	$(GO) test -race -count=1 ./caddymodule/...

lint:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './node_modules/*')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Debian's Chromium and playwright-core (never a downloaded browser), for
# the e2e browser test TestBrowserKit.
browser-deps:
	@dpkg -s chromium >/dev/null 2>&1 || { s=; [ "$$(id -u)" -ne 0 ] && s=sudo; $$s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$s apt-get install -y -qq --no-install-recommends chromium; }
	cd e2e/browser && npm ci --no-audit --no-fund

# Checks deploy/ offline (tools/deploycheck, its own module): every
# Kubernetes manifest against strict schemas of Kubernetes 1.37 made from
# its OpenAPI document (the module k8s.io/kubernetes) with kubeconform, and
# decoded strictly into k8s.io/api types; probes, ports, timings and volumes
# against the Caddyfile as bin/widgetgate adapts it; deploy/vault/setup.sh
# and the policy against a Vault dev server; both Caddyfiles run until
# ready; the systemd units with systemd-analyze (skipped, saying so, when
# it is not installed). About 10 s once built.
.PHONY: deploy-check
deploy-check: build
	cd tools/deploycheck && $(GO) vet ./... && VAULT_BIN=$$($(CURDIR)/scripts/vault.sh) WIDGETGATE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 ./...
	VAULT_BIN=$$(scripts/vault.sh) WIDGETGATE_BIN=$(CURDIR)/$(BIN) deploy/systemd/verify.sh

# Unit tests of the browser kit (node's test runner).
jstest:
	node --test caddymodule/assets/widgetgate.test.mjs

# Each fuzz target for FUZZTIME (CI: 20s each; run longer by hand, e.g.
# make fuzz FUZZTIME=10m). Findings land in testdata/fuzz and fail the run.
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) ./caddymodule/internal/urltemplate/
	$(GO) test -run '^$$' -fuzz '^FuzzLoadSchema$$' -fuzztime $(FUZZTIME) ./caddymodule/internal/schema/
	$(GO) test -run '^$$' -fuzz '^FuzzParseCustom$$' -fuzztime $(FUZZTIME) ./caddymodule/internal/provider/
	$(GO) test -run '^$$' -fuzz '^FuzzBodyParams$$' -fuzztime $(FUZZTIME) ./caddymodule/internal/gateway/
	$(GO) test -run '^$$' -fuzz '^FuzzValidJSON$$' -fuzztime $(FUZZTIME) ./caddymodule/internal/upstream/
	$(GO) test -run '^$$' -fuzz '^FuzzSameOrigin$$' -fuzztime $(FUZZTIME) ./caddymodule/internal/upstream/

# Go benchmarks of the hot path (see README "Performance").
bench:
	VAULT_BIN=$$(scripts/vault.sh) $(GO) test -run '^$$' -bench . -benchmem ./caddymodule/...

# Load benchmark against bare Caddy and nginx (bench/, BENCHMARKS.md). It
# installs wrk and nginx with apt when missing. bench-smoke takes seconds
# and fails on any wrong answer (CI runs it); bench-load is the full run
# (~35 minutes, results in bench/results/<date>/). BENCH_FLAGS go to
# bench/cmd/loadbench, e.g. BENCH_FLAGS='-phases throughput -rounds 1'.
.PHONY: bench-smoke bench-load
bench-smoke: build
	bench/run.sh smoke $(BENCH_FLAGS)

bench-load: build
	bench/run.sh full $(BENCH_FLAGS)

clean:
	rm -rf bin
