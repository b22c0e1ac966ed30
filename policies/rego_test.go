package policies

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
)

var update = flag.Bool("update", false, "rewrite the base Rego modules as opa fmt formats them")

// TestBaseRegoTests runs every base _test.rego through RunTests, in the same
// sandbox the engine compiles with.
func TestBaseRegoTests(t *testing.T) {
	results, err := RunTests(context.Background(), BaseModules())
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	perPackage := map[string]int{}
	for _, r := range results {
		perPackage[r.Package]++
		if !r.Pass() {
			t.Errorf("%s", r)
		}
	}
	for _, k := range Kinds {
		if perPackage["data."+k.Package()+"_test"] == 0 {
			t.Errorf("no Rego tests ran for %s", k)
		}
	}
	t.Logf("%d Rego tests in %d packages", len(results), len(perPackage))
}

// TestBaseRegoFormatted keeps the base modules as `opa fmt` writes them.
// Run with -update to rewrite them in place.
func TestBaseRegoFormatted(t *testing.T) {
	for name, src := range BaseModules() {
		formatted, err := format.SourceWithOpts(name, []byte(src), format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Errorf("format %s: %v", name, err)
			continue
		}
		if string(formatted) == src {
			continue
		}
		if *update {
			if err := os.WriteFile(filepath.Join("base", filepath.FromSlash(name)), formatted, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s is not formatted as opa fmt would; run go test ./policies/ -run TestBaseRegoFormatted -update", name)
	}
}
