# Coffer's build and test entry points. `make test` is what CI runs (.ci/run).
GO       ?= go
FUZZTIME ?= 3s

.PHONY: all build run test deps lint unit fuzz e2e bench clean

all: build

build:
	$(GO) build -o bin/coffer ./cmd/coffer

# Start a development node (one node, data in ./coffer-data, credentials printed once).
run:
	$(GO) run ./cmd/coffer server --dev --listen 127.0.0.1:8990 --data-dir ./coffer-data

# Everything: dependencies, formatting and vet, unit tests, fuzz smoke runs, end-to-end tests.
test: deps lint unit fuzz e2e

deps:
	./scripts/install-deps.sh

lint:
	@out=$$(gofmt -l cmd internal e2e); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 ./internal/... ./cmd/...

# A short run of every fuzz target (go test -fuzz takes one target at a time).
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz-smoke.sh

e2e:
	$(GO) test -count=1 -timeout 15m -parallel 4 ./e2e/...

# Go benchmarks of the hot paths, each next to its baseline (see docs/performance.md).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./internal/hsm/ ./internal/crypto/
	$(GO) test -run '^$$' -bench 'Verify|Marshal' -benchtime 20000x ./internal/awsproto/ ./internal/audit/
	$(GO) test -run '^$$' -bench 'Node' -benchtime 20000x ./cmd/coffer/

clean:
	rm -rf bin
