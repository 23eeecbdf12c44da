GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build test bench bench-all fuzz chaos demo deps fmt vet clean package

# build builds bin/orch as the packages do (static, -trimpath), so that the
# package test's build of the same code comes from the build cache.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/orch ./cmd/orch

# package builds, for linux amd64 and arm64, a release tarball and a .deb
# into dist/ (tools/release, internal/release; docs/operations.md).
package:
	$(GO) run ./tools/release -version $(VERSION) -arch amd64,arm64 -out dist

# test runs vet, the whole suite, and the whole suite again under the race detector.
test: build
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race ./...

# bench prints the scale table of docs/performance.md (about 1 minute on 2
# cores): orch beside a raw nats.go floor on 10 to 50,000 emulated nodes.
# bench-all runs every Go benchmark of the tree.
bench:
	$(GO) test -run '^$$' -bench Table -benchtime 1x -timeout 15m ./internal/scalebench

bench-all:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# fuzz runs every Go fuzz target of the tree for FUZZTIME each (crashers
# land under the package's testdata/fuzz/ and then run with make test).
FUZZTIME ?= 30s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg; \
		done; \
	done

# chaos runs the chaos suite (chaos/, docs/reliability.md): three orch
# brokers, CHAOS_AGENTS agents (default 20), each fault CHAOS_ROUNDS times
# (default 1); CHAOS_ONLY=REGEXP picks faults, CHAOS_KEEP=1 keeps the
# fleet's directory. About 2.5 minutes on 2 cores; .ci/run runs it.
chaos:
	$(GO) vet -tags chaos ./chaos
	$(GO) test -tags chaos -count=1 -timeout 15m -v ./chaos

# deps installs the system packages the tests and the demo use, when missing
# (chromium: the browser tests of the HTML report and orch ui; python3: the
# example Python external agent, examples/agents; procps: pgrep, with which
# the chaos suite checks that no process is left behind).
deps:
	@need=""; \
	command -v haproxy >/dev/null 2>&1 || need="$$need haproxy"; \
	[ -x /usr/lib/nagios/plugins/check_load ] || need="$$need monitoring-plugins-basic"; \
	command -v git >/dev/null 2>&1 || need="$$need git"; \
	command -v systemd-analyze >/dev/null 2>&1 || need="$$need systemd"; \
	command -v man >/dev/null 2>&1 || need="$$need man-db"; \
	command -v chromium >/dev/null 2>&1 || need="$$need chromium"; \
	command -v python3 >/dev/null 2>&1 || need="$$need python3"; \
	command -v openssl >/dev/null 2>&1 || need="$$need openssl"; \
	command -v pgrep >/dev/null 2>&1 || need="$$need procps"; \
	if [ -n "$$need" ]; then \
		echo "installing:$$need"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$need; \
	fi

# demo runs the webapp scenario on a fleet started on loopback (docs/tutorial.md).
demo: deps build
	./bin/orch demo

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin dist
