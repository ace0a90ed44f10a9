# frontdoor — see README.md.
GO      ?= go
BIN     := bin/frontdoor
VERSION ?= $(shell packaging/debversion 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test test-quick test-cluster-outage fuzz mutate mutate-acme slowtest bench demo deb e2e clean

## build: the static binary bin/frontdoor
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

## test: install what the tests need, then go vet and every test
test:
	scripts/ensure-deps test
	$(MAKE) build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 14m ./...

## test-quick: the tests that need no Django, pebble, PostgreSQL, package build or long load (go test -short), in under a minute
test-quick:
	$(GO) test -short -count=1 -timeout 5m ./...

## test-cluster-outage: the [cluster] PostgreSQL outage test alone, verbose (60 s outage, as in make test; FRONTDOOR_CLUSTER_OUTAGE=5s shortens it)
test-cluster-outage:
	scripts/ensure-deps test
	FRONTDOOR_CLUSTER_OUTAGE=60s $(GO) test -count=1 -timeout 10m -run 'TestClusterPostgresOutage' -v ./appliance/

## fuzz: the fuzz targets, long (FUZZTIME each, default 5m)
FUZZTIME ?= 5m
fuzz:
	scripts/fuzz $(FUZZTIME)

## mutate: mutation testing (gremlins) of proxy/http1, state, proxy's request path and proxy/static; prints each efficacy (long; not part of test; MUTATE=http1 for one)
GREMLINS ?= $(shell $(GO) env GOPATH)/bin/gremlins
mutate:
	GREMLINS=$(GREMLINS) GO=$(GO) scripts/mutate $(MUTATE)

## mutate-acme: mutation testing of acme/ with gremlins on its fast unit layer (no pebble: -tags mutation)
mutate-acme:
	test -x $(GREMLINS) || $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
	$(GREMLINS) unleash --tags mutation --timeout-coefficient 5 --threshold-efficacy 90 ./acme

## slowtest: slowhttptest -H/-B/-X against frontdoor + Django, 3,000 connections for 120 s each
slowtest:
	scripts/slowtest

## bench: frontdoor against nginx (and haproxy, caddy) side by side; bench/run SUITE for one (static, proxy, tls, h2, load, rates)
bench:
	scripts/ensure-deps bench
	$(MAKE) build
	bench/run

## demo: the example Django site behind frontdoor: https://localhost:8443 (local CA), http://localhost:8080
demo:
	scripts/ensure-deps demo
	$(MAKE) build
	examples/demo

## deb: dist/frontdoor_VERSION_{amd64,arm64}.deb
deb:
	scripts/ensure-deps deb
	FRONTDOOR_VERSION=$(VERSION) packaging/build-deb

## e2e: the .deb in a systemd-nspawn container with systemd as PID 1
e2e:
	scripts/ensure-deps e2e
	$(MAKE) deb
	packaging/e2e/run

clean:
	rm -rf bin dist bench/out
