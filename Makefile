# sr6 — see README.md. Every target works from a fresh clone; `make test`
# must run as root for the end-to-end tests (they skip otherwise, and fail
# instead of skipping when CI=true or SR6_E2E=1).

# Go from the official tarball is often not on root's PATH (sudo resets it).
export PATH := $(if $(shell command -v go 2>/dev/null),$(PATH),/usr/local/go/bin:$(PATH))

GO       ?= go
BIN      := bin/sr6
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/sr6net/sr6/internal/cli.Version=$(VERSION)
FUZZTIME ?= 20s
PKGS     := ./...

.PHONY: all build test unit lint fuzz demo setup-demo setup-test setup-bench setup-gen bench bench-lab bench-controller bench-pm bpf proto clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sr6

## setup-*: install the Debian packages a target needs that are missing (scripts/setup.sh holds the list)
setup-demo:
	./scripts/setup.sh demo
setup-test:
	./scripts/setup.sh test
setup-bench:
	./scripts/setup.sh bench
setup-gen:
	./scripts/setup.sh gen

## test: set-up, lint, then every test (unit, fuzz seed corpora, end-to-end labs)
test: setup-test lint
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## unit: tests that need no privileges (end-to-end tests skip unless strict)
unit:
	$(GO) test -short -count=1 $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

## fuzz: run each fuzz target for FUZZTIME (new finds go to its testdata/fuzz corpus)
FUZZ_TARGETS := ./internal/topo:FuzzParse ./internal/controller:FuzzDecodePolicy ./internal/intent:FuzzFromProto ./internal/pm/stamp:FuzzDecode ./internal/clab:FuzzConvert
fuzz:
	@for pt in $(FUZZ_TARGETS); do \
		pkg=$${pt%%:*}; target=$${pt##*:}; \
		echo "== $$target ($$pkg)"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

## demo: deploy examples/triangle.yaml, steer h1 -> h2 through r2, show the SRH on the wire, destroy
demo: setup-demo build
	./scripts/demo.sh

bench: bench-lab bench-controller bench-pm

## bench-lab: sr6 bare and full (agents, controller) beside Mininet: rings of 10 and 100, grid 32x32; RSS, 10,000 policies, goals
bench-lab: setup-bench build
	./$(BIN) bench lab --sizes 10,100,1000 --repeat 3

## bench-pm: loss measurement: iperf3 overhead of the counting programs, single-drop detection time, pipeline ingest
bench-pm: setup-test build
	./$(BIN) bench pm --rounds 5
	$(GO) test -run '^$$' -bench Pipeline -benchtime 100000x ./internal/pm/processor/

## bpf: regenerate the eBPF objects from their C sources (setup-gen installs clang, llvm, libbpf-dev)
bpf: setup-gen
	$(GO) generate ./internal/pm/marking

## proto: regenerate api/ Go code (setup-gen installs protoc; the plugins are go tools)
proto: setup-gen
	protoc --plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" \
		--plugin=protoc-gen-go-grpc="$$($(GO) tool -n protoc-gen-go-grpc)" \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		api/agent/v1/agent.proto

## bench-controller: CSPF at 1k/10k nodes, 1,000 policies into a 20-router lab, reroute time (with goals)
bench-controller: build
	./$(BIN) bench controller
	$(GO) test -run '^$$' -bench . -benchtime 200x ./internal/pathcomp/
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/controller/

clean:
	rm -rf bin
