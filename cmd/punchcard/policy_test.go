package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (slash path → content) under a new temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const blocked = `package punchcard.eligibility

deny contains {"code": "customer_blocked", "message": "This customer cannot redeem.", "rule": "tenant.blocked"} if {
	input.customer.id in data.tenant.blocked_customers
}
`

const blockedTest = `package punchcard.eligibility_test

import data.punchcard.eligibility

test_blocked if {
	some r in eligibility.deny with input as {"customer": {"id": "cust_bad"}, "redeemable": {"campaign": {}}}
	r.code == "customer_blocked"
}

test_not_blocked if {
	count(eligibility.deny) == 0 with input as {"customer": {"id": "cust_ok"}, "redeemable": {"campaign": {}}}
}
`

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPolicyCheck(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		args     []string
		wantCode int
		wantOut  []string // lines, in order
	}{
		{
			name: "valid policies with data and tests",
			files: map[string]string{
				"eligibility/blocked.rego":      blocked,
				"eligibility/blocked_test.rego": blockedTest,
				"eligibility.data.json":         `{"blocked_customers": ["cust_bad"]}`,
				"segments/vip.rego":             "package punchcard.segments\n\nmember contains \"vip\" if input.customer.tier == \"gold\"\n",
				"README.md":                     "not a module",
			},
			wantOut: []string{"ok: eligibility (2 modules)", "ok: segments (1 modules)"},
		},
		{
			name: "problems are located",
			files: map[string]string{
				"fraud/lookup.rego":  "package punchcard.fraud\n\ndeny contains \"x\" if {\n\thttp.send({\"url\": \"https://x.example\"}).status_code == 200\n}\n",
				"stacking/bad.rego":  "package punchcard.stacking\n\ndeny contains x if {\n",
				"eligibility/x.rego": "package punchcard.eligibility\n\ndeny contains \"x\" if {\n\tunused := 1\n\tinput.channel == \"pos\"\n}\n",
			},
			wantCode: 1,
			wantOut: []string{
				"eligibility/x.rego:4:2: assigned var unused unused",
				"stacking/bad.rego:4:0: unexpected eof token",
				"fraud/lookup.rego:4:2: http.send is not allowed in Punchcard policies: policies cannot reach the network, the host's runtime or trace output",
			},
		},
		{
			name:     "unknown package",
			files:    map[string]string{"x.rego": "package acme.rules\n"},
			wantCode: 1,
			wantOut:  []string{"x.rego: package acme.rules is not a Punchcard policy package: use punchcard.<kind> (eligibility, fraud, segments, stacking) or punchcard.<kind>_test"},
		},
		{
			name:     "replace base only for stacking",
			files:    map[string]string{"s.rego": "package punchcard.stacking\n\ndeny contains \"x\" if count(input.applied) > 2\n"},
			args:     []string{"--replace-base"},
			wantOut:  []string{"ok: stacking (1 modules)"},
			wantCode: 0,
		},
		{
			name:     "data not an object",
			files:    map[string]string{"fraud.data.json": `[1, 2]`},
			wantCode: 1,
			wantOut:  []string{"fraud.data.json: not a JSON object"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, tt.files)
			code, out, stderr := runCLI(t, append([]string{"policy", "check", dir}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if got := strings.Split(strings.TrimSpace(out), "\n"); strings.Join(got, "\n") != strings.Join(tt.wantOut, "\n") {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, strings.Join(tt.wantOut, "\n"))
			}
		})
	}
	t.Run("not a directory", func(t *testing.T) {
		code, _, stderr := runCLI(t, "policy", "check", filepath.Join(t.TempDir(), "missing"))
		if code != 2 || !strings.Contains(stderr, "is not a directory") {
			t.Errorf("exit %d, stderr %q; want 2 and the reason", code, stderr)
		}
	})
}

func TestPolicyTest(t *testing.T) {
	t.Run("passing", func(t *testing.T) {
		dir := writeTree(t, map[string]string{
			"eligibility/blocked.rego":      blocked,
			"eligibility/blocked_test.rego": blockedTest,
			"eligibility.data.json":         `{"blocked_customers": ["cust_bad"]}`,
		})
		code, out, stderr := runCLI(t, "policy", "test", dir)
		want := "eligibility/blocked_test.rego:5: data.punchcard.eligibility_test.test_blocked: PASS\n" +
			"eligibility/blocked_test.rego:10: data.punchcard.eligibility_test.test_not_blocked: PASS\n" +
			"--------------------------------------------------------------------------------\n" +
			"PASS: 2/2\n"
		if code != 0 || out != want {
			t.Errorf("exit %d, stdout:\n%s\nwant exit 0 and:\n%s(stderr %q)", code, out, want, stderr)
		}
	})
	t.Run("failing", func(t *testing.T) {
		dir := writeTree(t, map[string]string{
			"eligibility/blocked.rego":      blocked,
			"eligibility/blocked_test.rego": blockedTest,
			"eligibility.data.json":         `{"blocked_customers": ["cust_bad", "cust_ok"]}`,
		})
		code, out, stderr := runCLI(t, "policy", "test", dir)
		if code != 1 || !strings.Contains(out, "test_not_blocked: FAIL\n") || !strings.Contains(out, "PASS: 1/2\nFAIL: 1/2\n") ||
			!strings.Contains(stderr, "1 of 2 policy tests failed") {
			t.Errorf("exit %d, stdout:\n%s\nstderr %q; want exit 1, the failure and the summary", code, out, stderr)
		}
	})
	t.Run("compile error", func(t *testing.T) {
		dir := writeTree(t, map[string]string{
			"fraud/x_test.rego": "package punchcard.fraud_test\n\ntest_x if {\n\topa.runtime().env.X == \"1\"\n}\n",
		})
		code, out, _ := runCLI(t, "policy", "test", dir)
		if code != 1 || !strings.HasPrefix(out, "fraud/x_test.rego:4:2: opa.runtime is not allowed in Punchcard policies") {
			t.Errorf("exit %d, stdout %q; want exit 1 and the located problem", code, out)
		}
	})
}
