# peercloud — build, test, fuzz, bench. `make help` lists the targets.
GO        ?= go
BIN       ?= bin/peercloud
FUZZTIME  ?= 10s
PKGS      := ./...

.PHONY: all build test vet fmt-check unit fuzz bench demo clean help

all: build

help:
	@echo "make build   - build $(BIN)"
	@echo "make test    - vet, gofmt check, unit tests with -race (root tier too when run as root)"
	@echo "make fuzz    - run every fuzz target for FUZZTIME ($(FUZZTIME)) each"
	@echo "make bench   - Go micro-benchmarks"
	@echo "make demo    - (root) two nodes in network namespaces: tunnel, ping, iperf3"

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

demo: build
	BIN=$(BIN) scripts/demo.sh

clean:
	rm -rf bin
