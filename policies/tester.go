package policies

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// testTimeout bounds each Rego test, as `opa test` does.
const testTimeout = 5 * time.Second

// TestResult is the outcome of one Rego test rule.
type TestResult struct {
	Package  string        // e.g. "data.punchcard.eligibility_test"
	Name     string        // the test rule, e.g. "test_happy_hour_allows_friday_evening"
	File     string        // the module the test is in
	Row      int           // the test rule's line
	Fail     bool          // the test evaluated to false or undefined
	Skip     bool          // the test is named todo_test_…
	Err      error         // the test could not be evaluated
	Duration time.Duration // how long the test ran
	Output   string        // what the test printed with print()
}

// Pass reports whether the test ran and succeeded.
func (r TestResult) Pass() bool { return !r.Fail && !r.Skip && r.Err == nil }

func (r TestResult) String() string {
	outcome := "PASS"
	switch {
	case r.Err != nil:
		outcome = "ERROR: " + r.Err.Error()
	case r.Fail:
		outcome = "FAIL"
	case r.Skip:
		outcome = "SKIPPED"
	}
	return fmt.Sprintf("%s:%d: %s.%s: %s", r.File, r.Row, r.Package, r.Name, outcome)
}

// RunTests compiles modules (policies and their _test.rego files) in the same
// sandbox as the engine and runs every test rule, as `opa test` does. The error
// is for modules that do not compile (it wraps ast.Errors); failing tests are
// reported in the results, sorted by file and line.
func RunTests(ctx context.Context, modules map[string]string) ([]TestResult, error) {
	parsed, err := parse(modules)
	if err != nil {
		return nil, fmt.Errorf("run tests: %w", err)
	}
	runner := tester.NewRunner().
		SetCompiler(newCompiler().WithEnablePrintStatements(true)).
		CapturePrintOutput(true).
		SetDefaultRegoVersion(ast.RegoV1).
		SetModules(parsed).
		SetTimeout(testTimeout).
		RaiseBuiltinErrors(true)
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("run tests: %w", err)
	}
	var results []TestResult
	for r := range ch {
		tr := TestResult{
			Package:  r.Package,
			Name:     r.Name,
			Fail:     r.Fail,
			Skip:     r.Skip,
			Err:      r.Error,
			Duration: r.Duration,
			Output:   string(r.Output),
		}
		if r.Location != nil {
			tr.File, tr.Row = r.Location.File, r.Location.Row
		}
		results = append(results, tr)
	}
	if err := ctx.Err(); err != nil {
		return results, fmt.Errorf("run tests: %w", err)
	}
	sort.Slice(results, func(i, j int) bool {
		if results[i].File != results[j].File {
			return results[i].File < results[j].File
		}
		return results[i].Row < results[j].Row
	})
	return results, nil
}
