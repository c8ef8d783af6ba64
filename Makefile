# peercloud — build, test, fuzz, bench. `make help` lists the targets.
GO        ?= go
BIN       ?= bin/peercloud
FUZZTIME  ?= 10s
PKGS      := ./...

.PHONY: all build test vet fmt-check unit fuzz bench bench-ci bench-net bench-smoke demo demo-relay install clean help

all: build

help:
	@echo "make build   - build $(BIN)"
	@echo "make test    - vet, gofmt check, unit tests with -race (root tier too when run as root)"
	@echo "make fuzz    - run every fuzz target for FUZZTIME ($(FUZZTIME)) each"
	@echo "make bench   - Go micro-benchmarks"
	@echo "make demo    - (root) two nodes in network namespaces: tunnel, ping, iperf3"
	@echo "make demo-relay - (root) A and B talk through P as relay: ping, iperf3"
	@echo "make bench-net - (root) the harness: peercloud vs wireguard-go/nebula when installed"
	@echo "make install - binary, systemd units, man page, completions (DESTDIR, PREFIX)"

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/peercloud

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Unit tests and fuzz seed corpora (go test runs the seeds of every Fuzz
# target). Root-tier tests skip themselves with a reason when not root.
# The allocation tests run once more without -race: the race detector
# makes sync.Pool drop items at random, which shows up as allocations.
unit:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(GO) test -count=1 -run 'Alloc|NotAllocate' $(PKGS)

test: vet fmt-check unit

fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# CI: every micro-benchmark once, to keep them compiling and running.
bench-ci:
	$(GO) test -run '^$$' -bench . -benchtime=1x -benchmem $(PKGS)

# The benchmark harness (root): peercloud against wireguard-go and Nebula
# when their binaries are installed; results in bench-results/.
bench-net: build
	$(GO) run ./bench/cmd/peercloud-bench --peercloud $(BIN) --out bench-results \
	  $(if $(shell command -v wireguard-go),--wireguard-go $(shell command -v wireguard-go)) \
	  $(if $(shell command -v nebula),--nebula $(shell command -v nebula) --baseline nebula) $(BENCH_ARGS)

# A short smoke run of the harness (root), as CI runs it.
bench-smoke: build
	$(GO) run ./bench/cmd/peercloud-bench --smoke --peercloud $(BIN) --out $$(mktemp -d)

install: build
	BINARY=$(BIN) DESTDIR=$(DESTDIR) PREFIX=$(or $(PREFIX),/usr) sh contrib/install.sh

demo: build
	BIN=$(BIN) scripts/demo.sh

demo-relay: build
	BIN=$(BIN) scripts/relay-demo.sh

clean:
	rm -rf bin
