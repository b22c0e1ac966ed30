# The Makefile is the contract between developers and CI: .ci/run calls these targets.
GO          ?= go
FUZZTIME    ?= 10s
# Short runs skip minimising new inputs: a minimisation still running when the
# time is up fails the run with "context deadline exceeded".
FUZZFLAGS   ?= -fuzzminimizetime=0
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZ_TARGETS := FuzzCustomerUpsert FuzzCustomerUpdate FuzzCustomerList FuzzAuditQuery FuzzOperatorTenantCreate FuzzCampaignCreate FuzzVoucherCreate FuzzValidation FuzzRedemption FuzzPolicyPublish

.PHONY: all build test integration lint fuzz-short fuzz bench serve clean

all: build

build:
	$(GO) build ./...

## test: vet and every test with the race detector (SQLite always; PostgreSQL when
## PUNCHCARD_TEST_DATABASE_URL is set or Docker runs; required under CI=true).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 25m ./...

## integration: the end-to-end suite only.
integration:
	$(GO) test -race -count=1 -timeout 25m ./integration_test/...

## lint: formatting, vet and staticcheck.
lint:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## fuzz-short: each fuzz target for $(FUZZTIME) (CI) through .ci/fuzz-one; crashers land in testdata/fuzz.
fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		GO=$(GO) .ci/fuzz-one ./integration_test/ $$t $(FUZZTIME) $(FUZZFLAGS) || exit 1; \
	done
	@echo "fuzz FuzzCheck for $(FUZZTIME)"
	GO=$(GO) .ci/fuzz-one ./policies/ FuzzCheck $(FUZZTIME) $(FUZZFLAGS)

## fuzz: each fuzz target for 5 minutes.
fuzz:
	$(MAKE) fuzz-short FUZZTIME=5m FUZZFLAGS=

## bench: the load driver: Punchcard's scenarios beside their baselines, same run.
bench:
	$(GO) run ./cmd/punchbench $(BENCHFLAGS)

serve:
	$(GO) run ./cmd/punchcard serve

clean:
	rm -rf punchcard-data
