package policies

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// readsOf is what analyzeReads names for the modules, as "path" for a value
// read and "path~" for a type and size read, or nil.
func readsOf(t *testing.T, modules Modules) []string {
	t.Helper()
	parsed, err := parse(modules)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	c := newCompiler()
	if c.Compile(parsed); c.Failed() {
		t.Fatalf("compile: %v", c.Errors)
	}
	r := analyzeReads(c.Modules)
	if r == nil {
		return nil
	}
	out := []string{}
	for _, x := range r {
		s := x.text
		if x.shape {
			s += "~"
		}
		out = append(out, s)
	}
	return out
}

// TestAnalyzeReads checks the reads named for each policy. A case with inputs,
// each pair differing only in what a narrower read set would leave out, also
// has a memoizing engine decide them as an evaluating one does.
func TestAnalyzeReads(t *testing.T) {
	tests := []struct {
		name   string
		body   string // rules of package punchcard.fraud
		want   []string
		inputs []map[string]any
	}{
		{"size only", `deny contains "many" if count(input.redeemables) > 3`, []string{"input.redeemables~"}, nil},
		{"size through a variable", `deny contains "many" if { r := input.redeemables; is_array(r); count(r) > 3 }`, []string{"input.redeemables~"}, nil},
		{"element through a variable", `deny contains "first" if { r := input.redeemables; r[0].id == "X" }`, []string{"input.redeemables"}, nil},
		{"size and value", `deny contains "many" if count(input.redeemables) > 3
deny contains "x" if input.redeemables[_].id == "X"`, []string{"input.redeemables"}, nil},
		{"iteration", `deny contains id if { some r in input.redeemables; id := r.id }`, []string{"input.redeemables"}, nil},
		{"nested paths fold into the outer", `deny contains "a" if input.customer.metadata.vip == true
deny contains "b" if input.customer.id == "c"
deny contains "c" if input.customer == {}`, []string{"input.customer"}, nil},
		{"dynamic key", `deny contains k if { some k; input.order.metadata[k] == input.customer.id }`, []string{"input.customer.id", "input.order.metadata"}, nil},
		{"function argument", `deny contains "x" if big(input.order)
big(o) if o.amount > 100`, []string{"input.order"}, nil},
		{"the whole input", `deny contains "x" if object.get(input, "a", 0) == 1`, nil, nil},
		{"an input key chosen at run time", `deny contains k if { some k in ["a", "b"]; input[k] == 1 }`, nil, nil},
		{"the clock", `deny contains "x" if time.now_ns() > 0`, nil, nil},
		{"a random number", `deny contains "x" if rand.intn("fraud", 10) > 5`, nil, nil},
		{"a per-request part", `deny contains "x" if input.request.ip == "203.0.113.7"`, nil, nil},
		{"the request time", `deny contains "x" if input.now == "2026-01-01T00:00:00Z"`, nil, nil},
		{"with", `deny contains "x" if { helper with input.velocity as {} }
helper if count(input.velocity) == 0`, nil, nil},
		{"one variable bound to two paths", `deny contains "same" if { x := input.a; x == input.b }`, []string{"input.a", "input.b"},
			[]map[string]any{{"a": 1, "b": 1}, {"a": 2, "b": 1}}},
		{"a variable in a rule head's reference", `m[x].flag := true if { x := input.a }
deny contains k if { some k; m[k].flag }`, []string{"input.a"}, []map[string]any{{"a": "aa"}, {"a": "bb"}}},
		{"an input reference in a rule head's reference", `m[input.a].flag := true
deny contains k if { some k; m[k].flag }`, []string{"input.a"}, nil},
		{"a variable named like the compiler's in two rules", `deny contains "a" if { __local0__ = input.a; __local0__ == "1" }
deny contains "c" if { __local0__ = input.c; count(__local0__) > 100 }`, []string{"input.a", "input.c"},
			[]map[string]any{{"a": "1"}, {"a": "2"}}},
		{"an index written as 1e0", `deny contains "a" if input.a[1e0] == 5
deny contains "b" if input.a[1].b == 1`, []string{"input.a"},
			[]map[string]any{{"a": []any{0, map[string]any{"b": 2}}}, {"a": []any{0, map[string]any{"b": 1}}}}},
		{"array indexes", `deny contains "b" if input.a[1].b == 1
deny contains "c" if count(input.a[0]) > 1`, []string{"input.a[0]~", "input.a[1].b"}, nil},
		{"a certificate check against the clock", `deny contains "expired" if { not crypto.x509.parse_and_verify_certificates(input.certs)[0] }`, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			modules := Modules{"tenant/x.rego": "package punchcard.fraud\n\n" + tc.body + "\n"}
			if got := readsOf(t, modules); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("reads = %q, want %q", got, tc.want)
			}
			if len(tc.inputs) == 0 {
				return
			}
			tp := TenantPolicy{Version: "v1", Modules: modules}
			opts := func(memo int) Options {
				return Options{MemoEntries: memo, TenantModules: func(context.Context, string, Kind) (TenantPolicy, error) { return tp, nil }}
			}
			memo, plain := newTestEngine(t, opts(0)), newTestEngine(t, opts(-1))
			for _, extra := range tc.inputs {
				in := fraudInput()
				maps.Copy(in, extra)
				got, err1 := memo.Evaluate(context.Background(), "ten_01", Fraud, in)
				want, err2 := plain.Evaluate(context.Background(), "ten_01", Fraud, in)
				if err1 != nil || err2 != nil || !reflect.DeepEqual(got.Deny, want.Deny) {
					t.Errorf("input %v: memoizing engine denies %v (%v), evaluating one %v (%v)", extra, got.Deny, err1, want.Deny, err2)
				}
			}
		})
	}
}

func TestBaseReads(t *testing.T) {
	want := map[Kind][]string{
		Fraud:       {"input.redeemables~", "input.settings.fraud", "input.velocity"},
		Stacking:    {"input.applied", "input.candidate", "input.stacking"},
		Eligibility: nil, // reads input.now
	}
	for kind, w := range want {
		if got := readsOf(t, Base(kind)); !reflect.DeepEqual(got, w) {
			t.Errorf("%s reads %q, want %q", kind, got, w)
		}
	}
}

// memoized reports whether each ended span was answered from the memo.
func memoized(rec *tracetest.SpanRecorder) []bool {
	var out []bool
	for _, s := range rec.Ended() {
		hit := false
		for _, kv := range s.Attributes() {
			if kv.Key == attrMemoized {
				hit = kv.Value.AsBool()
			}
		}
		out = append(out, hit)
	}
	return out
}

// A memoized decision is the decision evaluated: random fraud requests (108
// combinations of what the base policy reads, each with its own customer and
// codes, which it does not read) decided by an engine that memoizes and by one
// that does not agree, while most of the memoizing engine's answers come from
// the memo.
func TestMemoizedDecisionsMatchEvaluated(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	memo := newTestEngine(t, Options{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))})
	plain := newTestEngine(t, Options{MemoEntries: -1})
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	pick := func(xs ...any) any { return xs[rng.IntN(len(xs))] }
	const requests = 1000
	for i := range requests {
		in := fraudInput()
		refs := make([]any, pick(1, 25, 31).(int))
		for j := range refs {
			refs[j] = map[string]any{"object": "voucher", "id": fmt.Sprintf("CODE-%d", rng.IntN(1000))}
		}
		in["redeemables"] = refs
		in["velocity"] = map[string]any{
			"customer_redemptions_last_hour":   pick(2, 16, 20),
			"customer_validations_last_minute": pick(0, 60),
			"failed_validations_last_10m":      pick(0, 29),
		}
		in["settings"] = map[string]any{"fraud": map[string]any{"max_redemptions_per_customer_per_hour": pick(nil, 10, 0)}}
		in["customer"] = map[string]any{"id": fmt.Sprintf("cust_%d", i)}
		got, err := memo.Evaluate(ctx, "ten_01", Fraud, in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := plain.Evaluate(ctx, "ten_01", Fraud, in)
		if err != nil {
			t.Fatal(err)
		}
		got.Duration, want.Duration = 0, 0
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("request %d: memoizing engine decided %+v, evaluating one %+v (input %v)", i, got, want, in)
		}
	}
	hits := 0
	for _, h := range memoized(rec) {
		if h {
			hits++
		}
	}
	if hits < requests/2 {
		t.Errorf("%d of %d decisions came from the memo, want most", hits, requests)
	}
}

func TestMemoKeepsTenantsAndVersionsApart(t *testing.T) {
	strict := func(version string, limit int) TenantPolicy {
		return TenantPolicy{Version: version, Data: map[string]any{"thresholds": map[string]any{"max_redemptions_per_customer_per_hour": limit}}}
	}
	active := map[string]TenantPolicy{"ten_strict": strict("v1", 2)}
	e := newTestEngine(t, Options{TenantModules: func(_ context.Context, tenantID string, _ Kind) (TenantPolicy, error) {
		return active[tenantID], nil
	}})
	ctx := context.Background()
	decide := func(tenantID string) bool {
		t.Helper()
		in := fraudInput()
		in["settings"] = map[string]any{"fraud": TenantThresholds(active[tenantID].Data)}
		d, err := e.Evaluate(ctx, tenantID, Fraud, in)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed()
	}
	// The input says 2 redemptions in the last hour.
	for range 2 {
		if !decide("ten_base") || decide("ten_strict") {
			t.Fatal("want the base tenant allowed and the strict one denied, each time")
		}
	}
	active["ten_strict"] = strict("v2", 5)
	if !decide("ten_strict") {
		t.Error("a new version with a higher threshold still denied")
	}
}

// A decision that timed out is not kept: the same request is evaluated again.
func TestMemoSkipsTimeouts(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	slow := TenantPolicy{Version: "v1", Modules: Modules{"tenant/runaway.rego": strings.Replace(runaway, "package punchcard.eligibility", "package punchcard.fraud", 1)}}
	e := newTestEngine(t, Options{
		Timeout:        20 * time.Millisecond,
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)),
		TenantModules:  func(context.Context, string, Kind) (TenantPolicy, error) { return slow, nil },
	})
	in := set(fraudInput(), "tenant/id", "ten_slow")
	for i := range 2 {
		d, err := e.Evaluate(context.Background(), "ten_slow", Fraud, in)
		if err != nil || d.Allowed() || d.Deny[0].Code != CodeTimeout {
			t.Fatalf("evaluation %d: %+v, %v; want a %s deny", i, d, err, CodeTimeout)
		}
	}
	if got := memoized(rec); !reflect.DeepEqual(got, []bool{false, false}) {
		t.Errorf("memoized = %v, want both evaluated", got)
	}
	// The same policy memoizes what it decides in time.
	fast := set(fraudInput(), "tenant/id", "ten_fast")
	for range 2 {
		if d, err := e.Evaluate(context.Background(), "ten_slow", Fraud, fast); err != nil || !d.Allowed() {
			t.Fatalf("%+v, %v; want allowed", d, err)
		}
	}
	if got := memoized(rec)[2:]; !reflect.DeepEqual(got, []bool{false, true}) {
		t.Errorf("memoized = %v, want the second answered from the memo", got)
	}
}

// Projections too large to hash are evaluated each time.
func TestMemoKeyBound(t *testing.T) {
	reads := inputReads{{path: ast.MustParseRef("input.order"), text: "input.order"}}
	small, _ := ast.InterfaceToValue(map[string]any{"order": map[string]any{"amount": 100}})
	large, _ := ast.InterfaceToValue(map[string]any{"order": map[string]any{"note": strings.Repeat("x", maxMemoKey)}})
	if _, ok := reads.key("ten_01", Fraud, "base", small); !ok {
		t.Error("a small projection has no key")
	}
	if _, ok := reads.key("ten_01", Fraud, "base", large); ok {
		t.Error("a projection over maxMemoKey has a key")
	}
	a, _ := reads.key("ten_01", Fraud, "base", small)
	b, _ := reads.key("ten_02", Fraud, "base", small)
	if a == b {
		t.Error("two tenants share a key")
	}
}

// A negative MemoEntries memoizes nothing (the comparisons above rely on it).
func TestMemoOff(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	e := newTestEngine(t, Options{MemoEntries: -1, TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))})
	for range 2 {
		if _, err := e.Evaluate(context.Background(), "ten_01", Fraud, fraudInput()); err != nil {
			t.Fatal(err)
		}
	}
	if got := memoized(rec); !reflect.DeepEqual(got, []bool{false, false}) {
		t.Errorf("memoized = %v, want both evaluated", got)
	}
}
