package policies_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/punchcard-loyalty/punchcard/policies"
)

// exampleDirs are the worked examples of README.md, one directory each.
func exampleDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("examples", "*"))
	if err != nil || len(dirs) < 6 {
		t.Fatalf("worked examples: %v (%v)", dirs, err)
	}
	return dirs
}

// Every worked example's tests pass against the base policies, and the guide
// shows every example module as it is in examples/, so the two cannot drift.
func TestWorkedExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range exampleDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join(dir, "*.rego"))
			if err != nil {
				t.Fatal(err)
			}
			mods := policies.BaseModules().Policies()
			tests := 0
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				mods[filepath.ToSlash(f)] = string(src)
				if policies.IsTestFile(f) {
					tests++
					continue
				}
				if !strings.Contains(string(readme), "```rego\n"+string(src)+"```") {
					t.Errorf("README.md does not show %s as it is", f)
				}
			}
			if tests == 0 {
				t.Fatalf("%s has no _test.rego", dir)
			}
			results, err := policies.RunTests(context.Background(), mods)
			if err != nil {
				t.Fatal(err)
			}
			ran := 0
			for _, r := range results {
				if !strings.HasPrefix(r.File, dir) {
					continue // the base policies' own tests are not loaded
				}
				ran++
				if !r.Pass() {
					t.Errorf("%s", r)
				}
			}
			if ran == 0 {
				t.Fatalf("no test of %s ran", dir)
			}
		})
	}
}
