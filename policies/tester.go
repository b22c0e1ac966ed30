package policies

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
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
	results, err := runTests(ctx, parsed, nil)
	if err != nil {
		return results, fmt.Errorf("run tests: %w", err)
	}
	return results, nil
}

// RunTenantTests runs the tests of a tenant's policy version for kind: its
// _test.rego files, compiled with the base policies of kind (none for a
// stacking policy with ReplaceBase, not the base tests) and the version's other
// modules, with its data document at data.tenant, in the engine's sandbox. The
// modules pass the same checks as in Check (names, packages, limits, forbidden
// builtins); the error wraps ast.Errors for modules that do not compile, and
// Problems lists them. A version without test files has no results.
func RunTenantTests(ctx context.Context, kind Kind, p TenantPolicy) ([]TestResult, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("run %s tests: unknown kind", kind)
	}
	if p.ReplaceBase && kind != Stacking {
		return nil, fmt.Errorf("run %s tests: replace_base is only allowed for stacking policies", kind)
	}
	store, _, err := dataStore(p.Data)
	if err != nil {
		return nil, fmt.Errorf("run %s tests: %w", kind, err)
	}
	tenant, err := parseTenant(kind, p.Modules)
	if err != nil {
		return nil, fmt.Errorf("run %s tests: %w", kind, err)
	}
	modules, _ := compileSet(kind, p, tenant, true)
	results, err := runTests(ctx, modules, store)
	if err != nil {
		return results, fmt.Errorf("run %s tests: %w", kind, err)
	}
	return results, nil
}

// runTests runs every test rule in modules, with store as data when set.
func runTests(ctx context.Context, modules map[string]*ast.Module, store storage.Store) ([]TestResult, error) {
	runner := tester.NewRunner().
		SetCompiler(newCompiler().WithEnablePrintStatements(true)).
		CapturePrintOutput(true).
		SetDefaultRegoVersion(ast.RegoV1).
		SetModules(modules).
		SetTimeout(testTimeout).
		RaiseBuiltinErrors(true)
	if store != nil {
		runner = runner.SetStore(store)
	}
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, err
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
		return results, err
	}
	sort.Slice(results, func(i, j int) bool {
		if results[i].File != results[j].File {
			return results[i].File < results[j].File
		}
		return results[i].Row < results[j].Row
	})
	return results, nil
}
