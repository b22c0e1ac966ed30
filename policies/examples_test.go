package policies_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/punchcard-loyalty/punchcard/policies"
)

// Every worked example of README.md passes Check and its own tests as
// `punchcard policy check` and `policy test` run them, and the guide shows every
// example module as it is in examples/, so the two cannot drift.
func TestWorkedExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob(filepath.Join("examples", "*"))
	if err != nil || len(dirs) < 6 {
		t.Fatalf("worked examples: %v (%v)", dirs, err)
	}
	ctx := context.Background()
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			kinds, err := policies.ReadDir(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			ran := 0
			for kind, p := range kinds {
				p.Version = "example"
				if err := policies.Check(ctx, kind, p); err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				results, err := policies.RunTenantTests(ctx, kind, p)
				if err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				for _, r := range results {
					ran++
					if !r.Pass() {
						t.Errorf("%s", r)
					}
				}
				for name, src := range p.Modules {
					if !policies.IsTestFile(name) && !strings.Contains(string(readme), "```rego\n"+src+"```") {
						t.Errorf("README.md does not show %s/%s as it is", dir, name)
					}
				}
			}
			if ran == 0 {
				t.Fatalf("no test of %s ran", dir)
			}
		})
	}
}
