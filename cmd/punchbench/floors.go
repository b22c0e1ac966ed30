package main

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/punchcard-loyalty/punchcard/policies"
)

// The database floors: pgbench scripts of the same work done by PostgreSQL alone
// (one conditional budget update and one insert per redemption).
var (
	//go:embed floors/schema.sql
	floorSchema string
	//go:embed floors/redeem_hot.sql
	floorRedeemHot string
	//go:embed floors/redeem_spread.sql
	floorRedeemSpread string
)

var pgbenchTPS = regexp.MustCompile(`tps = ([0-9.]+)`)
var pgbenchLatency = regexp.MustCompile(`latency average = ([0-9.]+) ms`)

// pgbenchFloor runs one of the floor scripts with pgbench, with the scenario's
// client count, against the benchmark database (its own tables, created fresh).
// pgbench reports throughput and the average latency, which stands in for p50.
func pgbenchFloor(script string) floor {
	return floor{name: "pgbench " + script, run: func(ctx context.Context, _ *env, db string, opts loadOptions) (result, error) {
		if db == "" {
			return result{}, errors.New("the pgbench floors need PostgreSQL")
		}
		if _, err := exec.LookPath("pgbench"); err != nil {
			return result{}, errors.New("pgbench is not installed (Debian: postgresql-client)")
		}
		conn, err := sql.Open("pgx", db)
		if err != nil {
			return result{}, err
		}
		defer conn.Close()
		// One statement at a time: VACUUM may not run inside the implicit
		// transaction of a multi-statement string.
		for _, stmt := range strings.Split(floorSchema, ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return result{}, fmt.Errorf("floor schema: %w", err)
			}
		}
		body := map[string]string{"redeem_hot.sql": floorRedeemHot, "redeem_spread.sql": floorRedeemSpread}[script]
		f, err := os.CreateTemp("", "punchbench-*.sql")
		if err != nil {
			return result{}, err
		}
		defer os.Remove(f.Name())
		if _, err := f.WriteString(body); err != nil {
			return result{}, err
		}
		_ = f.Close()
		secs := int(max(1, (opts.Warmup + opts.Duration).Seconds()))
		cmd := exec.CommandContext(ctx, "pgbench", "-n", "-M", "prepared", "-T", strconv.Itoa(secs),
			"-c", strconv.Itoa(opts.Clients), "-j", "2", "-f", f.Name(), db)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return result{}, fmt.Errorf("pgbench: %v: %s", err, out)
		}
		tps, lat := pgbenchTPS.FindSubmatch(out), pgbenchLatency.FindSubmatch(out)
		if tps == nil || lat == nil {
			return result{}, fmt.Errorf("pgbench output not understood: %s", out)
		}
		t, _ := strconv.ParseFloat(string(tps[1]), 64)
		l, _ := strconv.ParseFloat(string(lat[1]), 64)
		avg := time.Duration(l * float64(time.Millisecond))
		return result{Requests: int(t * float64(secs)), Throughput: t, P50: avg, P99: avg, P999: avg, Max: avg}, nil
	}}
}

// rawOPAFloor evaluates, in one goroutine, the three decisions one validation needs
// (fraud, eligibility, stacking) with plain prepared queries of the same base
// modules, the engine's decision queries (deny, review, risk score) and inputs
// shaped as the engine builds them: the policy floor.
var rawOPAFloor = floor{name: "raw OPA eval (fraud + eligibility + stacking)", run: func(ctx context.Context, _ *env, _ string, opts loadOptions) (result, error) {
	type prepared struct {
		q     rego.PreparedEvalQuery
		input ast.Value
	}
	var qs []prepared
	for _, k := range []policies.Kind{policies.Fraud, policies.Eligibility, policies.Stacking} {
		ro := []func(*rego.Rego){rego.Query(policies.DecisionQuery(k))}
		for name, src := range policies.Base(k).Policies() {
			ro = append(ro, rego.Module(name, src))
		}
		q, err := rego.New(ro...).PrepareForEval(ctx)
		if err != nil {
			return result{}, err
		}
		in, err := ast.InterfaceToValue(floorInput(k))
		if err != nil {
			return result{}, err
		}
		qs = append(qs, prepared{q, in})
	}
	var lat []time.Duration
	deadline := time.Now().Add(opts.Warmup + opts.Duration)
	measureFrom := time.Now().Add(opts.Warmup)
	for time.Now().Before(deadline) {
		start := time.Now()
		for _, p := range qs {
			rs, err := p.q.Eval(ctx, rego.EvalParsedInput(p.input))
			if err != nil {
				return result{}, err
			}
			if len(rs) == 0 {
				return result{}, errors.New("raw OPA eval: undefined decision")
			}
		}
		if start.After(measureFrom) {
			lat = append(lat, time.Since(start))
		}
	}
	if len(lat) == 0 {
		return result{}, errors.New("raw OPA eval: nothing measured")
	}
	slices.Sort(lat)
	return result{Requests: len(lat), Throughput: float64(len(lat)) / opts.Duration.Seconds(),
		P50: quantile(lat, 0.5), P99: quantile(lat, 0.99), P999: quantile(lat, 0.999), Max: lat[len(lat)-1]}, nil
}}

// floorInput is the input document of the validate scenario's request for kind.
func floorInput(k policies.Kind) map[string]any {
	in := map[string]any{
		"tenant":   map[string]any{"id": "ten_bench", "slug": "bench", "currency": "EUR", "timezone": "Europe/Berlin"},
		"now":      time.Now().UTC().Format(time.RFC3339Nano),
		"local":    map[string]any{"date": time.Now().Format(time.DateOnly), "weekday": 3, "hour": 12, "minute": 0},
		"channel":  "online",
		"customer": map[string]any{"id": "cust_bench", "source_id": "bench-customer", "address": map[string]any{"country": "DE"}, "metadata": map[string]any{}, "segments": []any{}},
		"order": map[string]any{"amount": 10000, "metadata": map[string]any{}, "items": []any{
			map[string]any{"product_id": "shoes", "quantity": 1, "price": 8000, "amount": 8000, "metadata": map[string]any{}},
			map[string]any{"product_id": "socks", "quantity": 2, "price": 1000, "amount": 2000, "metadata": map[string]any{}},
		}},
		"metadata": map[string]any{}, "metadata_errors": map[string]any{},
	}
	redeemable := map[string]any{"object": "voucher", "id": "BENCH-15", "active": true,
		"discount": map[string]any{"type": "PERCENT", "effect": "APPLY_TO_ORDER"},
		"campaign": map[string]any{"id": "", "type": "STANDALONE", "active": true, "rules": map[string]any{}, "limits": map[string]any{}, "metadata": map[string]any{}},
		"usage":    map[string]any{"voucher_redemptions": 0, "customer_redemptions": 0, "customer_redemptions_today": 0, "customer_redemptions_this_month": 0}}
	switch k {
	case policies.Fraud:
		in["redeemables"] = []any{map[string]any{"object": "voucher", "id": "BENCH-15"}}
		in["request"] = map[string]any{"ip": "127.0.0.1", "user_agent": "punchbench"}
		in["velocity"] = map[string]any{"customer_redemptions_last_hour": 0, "customer_validations_last_minute": 0, "failed_validations_last_10m": 0}
		in["settings"] = map[string]any{"fraud": map[string]any{}}
	case policies.Eligibility:
		in["redeemable"] = redeemable
	case policies.Stacking:
		redeemable["category"], redeemable["exclusive"], redeemable["joint"] = "", false, false
		in["candidate"], in["applied"] = redeemable, []any{}
		in["stacking"] = map[string]any{"redeemables_limit": 30, "applicable_redeemables_limit": 5, "applicable_redeemables_per_category_limit": 1,
			"applicable_exclusive_redeemables_limit": 1, "applicable_exclusive_redeemables_per_category_limit": 1,
			"exclusive_categories": []any{}, "joint_categories": []any{}, "redeemables_application_mode": "ALL", "redeemables_sorting_rule": "REQUESTED_ORDER"}
	}
	return in
}
