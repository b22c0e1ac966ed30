package integration_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds cmd/punchcard once per test run.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "punchcard-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "punchcard")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/punchcard-loyalty/punchcard/cmd/punchcard").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// cleanEnv is the test process's environment without PUNCHCARD_* settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PUNCHCARD_") {
			env = append(env, kv)
		}
	}
	return env
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestQuickStartWithTheBinary(t *testing.T) {
	dir := t.TempDir()
	env := []string{"PUNCHCARD_DATA_DIR=" + dir}

	// tenant create works on a fresh embedded database without a server.
	res := runCLI(t, env, "tenant", "create", "acme", "--name", "Acme", "--currency", "EUR", "--timezone", "Europe/Berlin")
	if res.code != 0 {
		t.Fatalf("tenant create: exit %d: %s", res.code, res.stderr)
	}
	var created struct {
		Tenant struct{ ID, Slug, Name, Currency, Timezone string } `json:"tenant"`
		APIKey struct{ ID, Secret, Role string }                   `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &created); err != nil {
		t.Fatalf("tenant create printed %q: %v", res.stdout, err)
	}
	if !strings.HasPrefix(created.Tenant.ID, "ten_") || created.Tenant.Slug != "acme" || created.Tenant.Timezone != "Europe/Berlin" ||
		!strings.HasPrefix(created.APIKey.ID, "key_") || !strings.HasPrefix(created.APIKey.Secret, "sk_") || created.APIKey.Role != "admin" {
		t.Fatalf("tenant create printed %s", res.stdout)
	}

	// Usage errors exit 2 with one line on stderr; runtime failures exit 1.
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"tenant", "create"}, 2, "accepts 1 arg"},
		{[]string{"tenant", "create", "Bad Slug"}, 2, "slug"},
		{[]string{"tenant", "create", "acme2", "--currency", "euro"}, 2, "currency"},
		{[]string{"tenant", "create", "acme3", "--timezone", "Nowhere/Land"}, 2, "timezone"},
		{[]string{"tenant", "create", "acme"}, 1, "already exists"},
		{[]string{"tenant", "suspend", "nope"}, 1, "Cannot find tenant"},
		{[]string{"key", "create", "acme", "--role", "root"}, 2, "role"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"serve", "--bogus"}, 2, "unknown flag"},
	} {
		r := runCLI(t, env, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.say) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("punchcard %v: exit %d stderr %q, want exit %d and one line containing %q", c.args, r.code, r.stderr, c.code, c.say)
		}
	}

	// serve prints the generated operator token once, on first start only.
	addr := freeAddr(t)
	stop, stdout := serveBinary(t, env, addr)
	base := "http://" + addr
	token := strings.TrimSpace(stdout()[strings.LastIndex(stdout(), ":")+1:])
	if !strings.Contains(stdout(), "Operator token") || !strings.HasPrefix(token, "op_") {
		t.Fatalf("first start did not print the operator token: %q", stdout())
	}
	s := &server{base: base, operator: token}
	tn := tenant{ID: created.Tenant.ID, Slug: "acme", KeyID: created.APIKey.ID, Secret: created.APIKey.Secret}
	s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "quick-1"}).wantStatus(t, http.StatusOK)
	s.do(t, "GET", "/v1/customers/quick-1", tn.appPair(), nil).wantStatus(t, http.StatusOK)
	s.do(t, "GET", "/operator/v1/tenants", s.operatorAuth(), nil).wantStatus(t, http.StatusOK)

	// The CLI works beside a running server on the same embedded database.
	k := runCLI(t, env, "key", "create", "acme", "--role", "pos")
	var key struct {
		APIKey struct{ ID, Secret, Role string } `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(k.stdout), &key); k.code != 0 || err != nil || key.APIKey.Role != "pos" {
		t.Fatalf("key create: exit %d out %q err %q", k.code, k.stdout, k.stderr)
	}
	pos := tenant{Secret: key.APIKey.Secret}
	s.do(t, "GET", "/v1/customers/quick-1", pos.bearer(), nil).wantStatus(t, http.StatusOK)
	if r := runCLI(t, env, "key", "revoke", key.APIKey.ID); r.code != 0 || !strings.Contains(r.stdout, key.APIKey.ID) {
		t.Fatalf("key revoke: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	// The server caches keys for up to a second, so a revocation by another
	// process takes effect within that second.
	deadline := time.Now().Add(3 * time.Second)
	for s.do(t, "GET", "/v1/customers/quick-1", pos.bearer(), nil).status != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the key revoked by the CLI still works after 3 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()

	// A second start does not print the token again.
	addr = freeAddr(t)
	stop, stdout = serveBinary(t, env, addr)
	if strings.Contains(stdout(), "op_") {
		t.Fatalf("second start printed the token again: %q", stdout())
	}
	stop()

	// audit verify and export.
	v := runCLI(t, env, "audit", "verify", "acme")
	var ver struct {
		Valid  bool `json:"valid"`
		Events int  `json:"events"`
	}
	if err := json.Unmarshal([]byte(v.stdout), &ver); v.code != 0 || err != nil || !ver.Valid || ver.Events < 5 {
		t.Fatalf("audit verify: exit %d %q %q", v.code, v.stdout, v.stderr)
	}
	ex := runCLI(t, env, "audit", "export", "acme")
	if ex.code != 0 || strings.Count(ex.stdout, "\n") != ver.Events {
		t.Fatalf("audit export: exit %d, %d lines for %d events", ex.code, strings.Count(ex.stdout, "\n"), ver.Events)
	}
	if r := runCLI(t, env, "version"); r.code != 0 || !strings.Contains(r.stdout, `"version"`) {
		t.Fatalf("version: %d %q", r.code, r.stdout)
	}

	// A broken chain makes audit verify exit 1 and name the event.
	d, err := sqlOpenSQLite(filepath.Join(dir, "punchcard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var victim string
	if err := d.QueryRow("SELECT event_id FROM audit_seals WHERE seq = 2").Scan(&victim); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DROP TRIGGER audit_events_no_update", "UPDATE audit_events SET actor_id = 'mallory' WHERE id = '" + victim + "'"} {
		if _, err := d.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if r := runCLI(t, env, "audit", "verify", "acme"); r.code != 1 || !strings.Contains(r.stdout, victim) || !strings.Contains(r.stderr, victim) {
		t.Fatalf("audit verify of a tampered chain: exit %d out %q err %q", r.code, r.stdout, r.stderr)
	}
}

func TestTenantCreateOnPostgres(t *testing.T) {
	for _, b := range backends(t) {
		if b.url == "" {
			continue
		}
		slug := uniqueSlug("cli")
		r := runCLI(t, []string{"PUNCHCARD_DATABASE_URL=" + b.url}, "tenant", "create", slug, "--currency", "USD")
		if r.code != 0 || !strings.Contains(r.stdout, `"slug":"`+slug+`"`) || !strings.Contains(r.stdout, `"secret":"sk_`) {
			t.Fatalf("tenant create on postgres: exit %d out %q err %q", r.code, r.stdout, r.stderr)
		}
		l := runCLI(t, []string{"PUNCHCARD_DATABASE_URL=" + b.url}, "tenant", "list")
		if l.code != 0 || !strings.Contains(l.stdout, slug) {
			t.Fatalf("tenant list: %d %q %q", l.code, l.stdout, l.stderr)
		}
	}
}

// serveBinary starts `punchcard serve` and waits until it is ready.
func serveBinary(t *testing.T, env []string, addr string) (stop func(), stdout func() string) {
	t.Helper()
	cmd := exec.Command(binary(t), "serve", "--addr", addr)
	cmd.Env = append(cleanEnv(), env...)
	out := &syncBuffer{}
	cmd.Stdout = out
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("server not ready in time; stderr:\n%s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve exited with %v; stderr:\n%s", err, lastLines(errb.String(), 5))
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("serve did not stop within 30 s of SIGINT")
		}
	}
	return stop, out.String
}

func lastLines(s string, n int) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
