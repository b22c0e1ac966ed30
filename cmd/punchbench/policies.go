package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/customers"
)

// The tenant-policy scenarios: how publishing affects other traffic, and how fast a
// publish reaches another server.
func init() { scenarios = append(scenarios, policyScenarios...) }

const publishRate = 500 // validations/s of the publishing scenario, well under saturation

var policyScenarios = []scenario{
	{
		name: "validate-publishing", what: fmt.Sprintf("POST /v1/validations at %d/s, another tenant publishing every second", publishRate),
		summary:     fmt.Sprintf("validation p99 at %d/s while another tenant publishes (and uses) a new eligibility version every second vs the same load without publishing", publishRate),
		floors:      []floor{httpFloor(fmt.Sprintf("validate at %d/s, no publishing", publishRate), validateWorkload)},
		perDatabase: true, rate: publishRate, setupTarget: publishingWorkload,
		ratios: func(t result, f []result) []ratio {
			return []ratio{{Name: "p99 publishing / p99 quiet", Value: float64(t.P99) / float64(f[0].P99), Target: "≤ 1.2"}}
		},
	},
	{
		name: "policy-propagation", what: "publish on one server → decided by a second server process",
		summary:     "time from a publish answered by one server until a second punchcard process (same database) evaluates with the new version",
		perDatabase: true, measureTarget: propagation,
		ratios: func(t result, _ []result) []ratio {
			return []ratio{{Name: "p50 publish → visible ms", Value: float64(t.P50) / float64(time.Millisecond)},
				{Name: "max publish → visible ms", Value: float64(t.Max) / float64(time.Millisecond), Target: "≤ 1000"}}
		},
	},
}

// tenantModules is a realistic tenant eligibility policy of three modules;
// serial changes a comment so that every publish is a new version.
func tenantModules(serial int) map[string]string {
	return map[string]string{
		"block_list.rego": fmt.Sprintf(`# version %d
package punchcard.eligibility

deny contains {"code": "customer_blocked", "message": "This customer may not use vouchers.", "rule": "tenant.block_list"} if {
	input.customer.source_id in data.tenant.blocked_customers
}
`, serial),
		"online_only.rego": `package punchcard.eligibility

deny contains {"code": "online_only", "message": "This code can only be used online.", "rule": "tenant.online_only"} if {
	input.redeemable.campaign.metadata.online_only == true
	input.channel == "pos"
}
`,
		"germany_mondays.rego": `package punchcard.eligibility

deny contains {"code": "germany_mondays_only", "message": "Germany, Mondays.", "rule": "tenant.germany_mondays"} if {
	input.redeemable.campaign.metadata.program == "germany_mondays"
	not german_monday
}

german_monday if {
	upper(input.customer.address.country) in {"DE", "GERMANY"}
	input.local.weekday == 1
}
`,
	}
}

func publishBody(serial int) map[string]any {
	return map[string]any{"modules": tenantModules(serial), "data": map[string]any{"blocked_customers": []string{fmt.Sprintf("blocked-%d", serial)}}}
}

// publishingWorkload is the validate workload while a second tenant of the same
// server publishes a new eligibility version every second and validates once
// with it (so the server compiles it), for as long as the load runs.
func publishingWorkload(ctx context.Context, e *env, db string) (workload, error) {
	p, err := validatingServer(ctx, e, db)
	if err != nil {
		return workload{}, err
	}
	w := p.validations("BENCH-15")
	other, err := p.newTenant(ctx)
	if err != nil {
		p.stop()
		return workload{}, err
	}
	if err := seedValidation(ctx, other); err != nil {
		p.stop()
		return workload{}, err
	}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for serial := 1; ; serial++ {
			if err := other.call(pctx, "PUT", "/v1/policies/eligibility", "Bearer "+other.secret, publishBody(serial), nil); err != nil && pctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "publish:", err)
			}
			_ = other.call(pctx, "POST", "/v1/validations", "Bearer "+other.secret, json.RawMessage(validationBody("BENCH-15", serial)), nil)
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
		}
	})
	stop := w.close
	w.close = func() {
		cancel()
		wg.Wait()
		stop()
	}
	return w, nil
}

// seedValidation creates the customers and the voucher of validationBody. It
// creates the customers through the service: 10,000 over HTTP would dominate the
// set-up.
func seedValidation(ctx context.Context, p *punchcard) error {
	for n := range benchCustomers {
		in := customers.Input{SourceID: customers.Some(benchCustomer(n)), Address: customers.Some(customers.Address{Country: "DE"})}
		if _, _, err := p.app.Customers.Upsert(ctx, p.tenantID, in); err != nil {
			return err
		}
	}
	if err := p.call(ctx, "POST", "/v1/vouchers", "Bearer "+p.secret, map[string]any{"code": "BENCH-15", "type": "DISCOUNT_VOUCHER",
		"discount": map[string]any{"type": "PERCENT", "percent_off": 15}}, nil); err != nil {
		return err
	}
	return p.settle(ctx)
}

// propagationRounds is how many publishes the propagation scenario times.
const propagationRounds = 20

// propagation publishes on an in-process server and times until a second
// punchcard process, built from this checkout and sharing only the database,
// evaluates with the new version.
func propagation(ctx context.Context, e *env, db string, _ loadOptions) (result, error) {
	a, err := startPunchcard(ctx, db, e.client)
	if err != nil {
		return result{}, err
	}
	defer a.stop()
	b, stopB, err := startProcess(ctx, a, db)
	if err != nil {
		return result{}, err
	}
	defer stopB()
	auth := "Bearer " + a.secret
	version := func() (string, error) {
		var ev struct {
			Version string `json:"version"`
		}
		err := b.call(ctx, "POST", "/v1/policies/eligibility/evaluate", auth, map[string]any{"input": map[string]any{}}, &ev)
		return ev.Version, err
	}
	// The second server meets the tenant first, so that the change has to reach
	// an index it already holds.
	if _, err := version(); err != nil {
		return result{}, err
	}
	var delays []time.Duration
	start := time.Now()
	for round := 1; round <= propagationRounds; round++ {
		var v struct {
			Version int `json:"version"`
		}
		if err := a.call(ctx, "PUT", "/v1/policies/eligibility", auth, publishBody(round), &v); err != nil {
			return result{}, err
		}
		published, want := time.Now(), fmt.Sprint(v.Version)
		for {
			got, err := version()
			if err != nil {
				return result{}, err
			}
			if got == want {
				break
			}
			if time.Since(published) > 10*time.Second {
				return result{}, fmt.Errorf("version %s not visible on the second server after 10s (it evaluates %s)", want, got)
			}
			time.Sleep(2 * time.Millisecond)
		}
		delays = append(delays, time.Since(published))
		// Publish at a different point of the poll interval each round.
		time.Sleep(time.Duration(round*37%300) * time.Millisecond)
	}
	slices.Sort(delays)
	return result{Requests: len(delays), Throughput: float64(len(delays)) / time.Since(start).Seconds(),
		P50: quantile(delays, 0.5), P99: quantile(delays, 0.99), P999: quantile(delays, 0.999), Max: delays[len(delays)-1]}, nil
}

// startProcess builds cmd/punchcard and serves it as a child process on the
// database (and, for SQLite, the data directory) of p, which has migrated it.
func startProcess(ctx context.Context, p *punchcard, db string) (*punchcard, func(), error) {
	dir, err := os.MkdirTemp("", "punchbench-bin-")
	if err != nil {
		return nil, nil, err
	}
	bin := filepath.Join(dir, "punchcard")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/punchcard")
	if out, err := build.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("build punchcard (run punchbench from the module root): %w: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.CommandContext(ctx, bin, "serve", "--no-migrate", "--addr", addr)
	cmd.Env = append(os.Environ(), "PUNCHCARD_DATABASE_URL="+db, "PUNCHCARD_DATA_DIR="+p.dataDir,
		"PUNCHCARD_OPERATOR_TOKEN="+benchOperatorToken, "PUNCHCARD_LOG_LEVEL=warn", "PUNCHCARD_RATE_LIMIT=0",
		"OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	b := &punchcard{base: "http://" + addr, secret: p.secret, tenantID: p.tenantID, client: p.client}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := p.client.Get(b.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return b, stop, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, errors.New("the second punchcard process did not become ready in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newTenant creates another tenant on p's server, as p with its admin key.
func (p *punchcard) newTenant(ctx context.Context) (*punchcard, error) {
	slug := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	var created struct {
		Tenant struct {
			ID string `json:"id"`
		} `json:"tenant"`
		APIKey struct {
			Secret string `json:"secret"`
		} `json:"api_key"`
	}
	if err := p.call(ctx, "POST", "/operator/v1/tenants", "Bearer "+benchOperatorToken,
		map[string]any{"slug": slug, "name": "Bench " + strings.ToUpper(slug), "currency": "EUR", "timezone": "Europe/Berlin"}, &created); err != nil {
		return nil, err
	}
	q := *p
	q.secret, q.tenantID = created.APIKey.Secret, created.Tenant.ID
	return &q, nil
}
