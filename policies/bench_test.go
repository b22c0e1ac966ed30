package policies

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// BenchmarkEvaluateEligibility measures one eligibility decision through the
// Engine with a warm cache: cache lookup, input conversion, evaluation under a
// deadline, decoding and the span (no-op tracer provider by default).
func BenchmarkEvaluateEligibility(b *testing.B) {
	e := newTestEngine(b, Options{})
	ctx := context.Background()
	input := eligibilityInput()
	if d, err := e.Evaluate(ctx, "ten_01", Eligibility, input); err != nil || !d.Allowed() {
		b.Fatalf("warm-up: %+v, %v", d, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Evaluate(ctx, "ten_01", Eligibility, input); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawPreparedEligibility evaluates the same base modules and input
// with a plain rego.PrepareForEval, the floor the Engine's overhead is measured
// against. The sub-benchmarks compare the two ways of passing input (the Engine
// uses the faster) and the engine's decision query with querying the whole package.
func BenchmarkRawPreparedEligibility(b *testing.B) {
	input := eligibilityInput()
	prepare := func(b *testing.B, query string) rego.PreparedEvalQuery {
		opts := []func(*rego.Rego){rego.Query(query)}
		for name, src := range Base(Eligibility) {
			opts = append(opts, rego.Module(name, src))
		}
		pq, err := rego.New(opts...).PrepareForEval(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		return pq
	}
	run := func(b *testing.B, pq rego.PreparedEvalQuery, opt func() rego.EvalOption) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			rs, err := pq.Eval(ctx, opt())
			if err != nil || len(rs) != 1 {
				b.Fatalf("Eval: %v, %d results", err, len(rs))
			}
		}
	}
	b.Run("EvalInput", func(b *testing.B) {
		run(b, prepare(b, queries[Eligibility]), func() rego.EvalOption { return rego.EvalInput(input) })
	})
	b.Run("EvalParsedInput", func(b *testing.B) {
		run(b, prepare(b, queries[Eligibility]), func() rego.EvalOption {
			v, err := ast.InterfaceToValue(input)
			if err != nil {
				b.Fatal(err)
			}
			return rego.EvalParsedInput(v)
		})
	})
	b.Run("PackageQuery", func(b *testing.B) {
		run(b, prepare(b, "data.punchcard.eligibility"), func() rego.EvalOption { return rego.EvalInput(input) })
	})
}

// One request's three decisions, converting the whole input each time or the
// shared part once.
func BenchmarkRequestWholeInputs(b *testing.B) {
	e := newTestEngine(b, Options{})
	ctx, in := context.Background(), eligibilityInput()
	for b.Loop() {
		for range 3 {
			if _, err := e.Evaluate(ctx, "ten_01", Eligibility, in); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkRequestSharedDocument(b *testing.B) {
	e := newTestEngine(b, Options{})
	ctx, in := context.Background(), eligibilityInput()
	shared, own := map[string]any{}, map[string]any{"redeemable": in["redeemable"]}
	for k, v := range in {
		if k != "redeemable" {
			shared[k] = v
		}
	}
	for b.Loop() {
		doc, err := NewDocument(shared)
		if err != nil {
			b.Fatal(err)
		}
		for range 3 {
			if _, err := e.EvaluateDocument(ctx, "ten_01", Eligibility, doc, own); err != nil {
				b.Fatal(err)
			}
		}
	}
}
