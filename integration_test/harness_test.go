// Package integration_test runs Punchcard end to end: a real server on loopback over
// real SQLite and real PostgreSQL (PUNCHCARD_TEST_DATABASE_URL, else a
// testcontainers-go PostgreSQL when a Docker engine exists). Under CI=true a missing
// PostgreSQL is a failure, never a skip. Every test creates its own tenants.
package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // tenantZone, on machines without zoneinfo

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/punchcard-loyalty/punchcard/platform/app"
	"github.com/punchcard-loyalty/punchcard/platform/config"
)

// backend is one database the suite runs against.
type backend struct {
	name string
	url  string // "" for SQLite in a temp dir
}

var (
	pgOnce sync.Once
	pgURL  string
	pgErr  error
)

// postgresURL returns the PostgreSQL URL for the suite, starting a container when
// no URL is given and Docker is available.
func postgresURL() (string, error) {
	pgOnce.Do(func() {
		if u := os.Getenv("PUNCHCARD_TEST_DATABASE_URL"); u != "" {
			pgURL = u
			return
		}
		ctx := context.Background()
		c, err := postgres.Run(ctx, "postgres:15-alpine",
			postgres.WithDatabase("punchcard"), postgres.WithUsername("postgres"), postgres.WithPassword("postgres"),
			testcontainers.WithWaitStrategy(wait.ForLog("database system is ready to accept connections").WithOccurrence(2).WithStartupTimeout(60*time.Second)))
		if err != nil {
			pgErr = fmt.Errorf("no PUNCHCARD_TEST_DATABASE_URL and no PostgreSQL container: %w", err)
			return
		}
		pgURL, pgErr = c.ConnectionString(ctx, "sslmode=disable")
	})
	return pgURL, pgErr
}

// backends returns SQLite and PostgreSQL. PostgreSQL missing skips its half locally
// and fails the test under CI=true.
func backends(t *testing.T) []backend {
	t.Helper()
	bs := []backend{{name: "sqlite"}}
	u, err := postgresURL()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		t.Logf("PostgreSQL half skipped: %v", err)
		return bs
	}
	return append(bs, backend{name: "postgres", url: u})
}

// forEachBackend runs fn as a subtest per backend against a shared server.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *server)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			fn(t, sharedServer(t, b))
		})
	}
}

// server is a running Punchcard.
type server struct {
	base     string
	operator string
	app      *app.App
	backend  backend
	dataDir  string
	logs     *syncBuffer
	stop     func()
}

var (
	sharedMu      sync.Mutex
	sharedServers = map[string]*server{}
)

const testOperatorToken = "op_integration_test_token_0123456789"

func sharedServer(t testing.TB, b backend) *server {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s, ok := sharedServers[b.name]; ok {
		return s
	}
	dir, err := os.MkdirTemp("", "punchcard-it-")
	if err != nil {
		t.Fatal(err)
	}
	s, err := startServer(b, func(c *config.Config) { c.DataDir = dir })
	if err != nil {
		t.Fatalf("start %s server: %v", b.name, err)
	}
	sharedServers[b.name] = s
	return s
}

// startServer builds and serves an app on a loopback port.
// spans, when given, receive every span the server ends.
func startServer(b backend, mutate func(*config.Config), spans ...sdktrace.SpanProcessor) (*server, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	cfg.DatabaseURL = b.url
	cfg.OperatorToken = testOperatorToken
	cfg.RateLimit = 0 // unlimited unless a test asks
	cfg.AuditSealInterval = 200 * time.Millisecond
	// The suite checks decisions, not speed: with the race detector and a thousand
	// concurrent requests on two cores an evaluation can wait past the production
	// deadline. The deadline itself is tested in the policies package.
	cfg.PolicyTimeout = 5 * time.Second
	cfg.LogLevel = "debug"
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Stdout: io.Discard, Stderr: logs, Migrate: true, SpanProcessors: spans})
	if err != nil {
		cancel()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	s := &server{base: "http://" + ln.Addr().String(), operator: testOperatorToken, app: a, backend: b, dataDir: cfg.DataDir, logs: logs}
	s.stop = func() {
		cancel()
		<-done
		_ = a.Close(context.Background())
	}
	return s, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, s := range sharedServers {
		s.stop()
	}
	os.Exit(code)
}

// syncBuffer collects logs written concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tenant is a tenant created for one test, with its admin key.
type tenant struct {
	ID, Slug, KeyID, Secret string
}

var slugSeq struct {
	sync.Mutex
	n int
}

func uniqueSlug(prefix string) string {
	slugSeq.Lock()
	defer slugSeq.Unlock()
	slugSeq.n++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1_000_000_000, slugSeq.n)
}

// tenantZone is the time zone of the tenants newTenant creates: a test's
// "today" is the server's only when read in it.
const tenantZone = "Europe/Berlin"

// tenantNow is the time in tenantZone, at least half a minute from local
// midnight: near it, it waits for the day to turn, so that the day a test
// computes is the day of the requests it makes next.
func tenantNow(t testing.TB) time.Time {
	t.Helper()
	zone, err := time.LoadLocation(tenantZone)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(zone)
	if next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, zone); next.Sub(now) < 30*time.Second {
		time.Sleep(next.Sub(now) + time.Second)
		now = time.Now().In(zone)
	}
	return now
}

// newTenant creates a tenant through the operator API (in tenantZone).
func (s *server) newTenant(t testing.TB) tenant {
	t.Helper()
	slug := uniqueSlug("t")
	res := s.do(t, "POST", "/operator/v1/tenants", s.operatorAuth(), map[string]any{"slug": slug, "name": "Test " + slug, "currency": "EUR", "timezone": tenantZone})
	res.wantStatus(t, http.StatusCreated)
	var body struct {
		Tenant struct{ ID, Slug string }
		APIKey struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		} `json:"api_key"`
	}
	res.decode(t, &body)
	return tenant{ID: body.Tenant.ID, Slug: body.Tenant.Slug, KeyID: body.APIKey.ID, Secret: body.APIKey.Secret}
}

// keyWithRole mints another key for the tenant.
func (s *server) keyWithRole(t *testing.T, tn tenant, role string) tenant {
	t.Helper()
	res := s.do(t, "POST", "/operator/v1/tenants/"+tn.Slug+"/api-keys", s.operatorAuth(), map[string]any{"role": role})
	res.wantStatus(t, http.StatusCreated)
	var body struct {
		APIKey struct{ ID, Secret string } `json:"api_key"`
	}
	res.decode(t, &body)
	out := tn
	out.KeyID, out.Secret = body.APIKey.ID, body.APIKey.Secret
	return out
}

type headers map[string]string

func (s *server) operatorAuth() headers { return headers{"Authorization": "Bearer " + s.operator} }
func (tn tenant) bearer() headers       { return headers{"Authorization": "Bearer " + tn.Secret} }
func (tn tenant) appPair() headers      { return headers{"X-App-Id": tn.KeyID, "X-App-Token": tn.Secret} }

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
	req    string
}

// do sends a request; body may be nil, a []byte/string sent as is, or a value
// encoded as JSON.
func (s *server) do(t testing.TB, method, path string, h headers, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b, req: method + " " + path}
}

func (r response) wantStatus(t testing.TB, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; body: %s", r.req, r.status, want, r.body)
	}
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s: decode %s: %v", r.req, r.body, err)
	}
}

// errorBody is the Voucherify-shaped error.
type errorBody struct {
	Code      int    `json:"code"`
	Key       string `json:"key"`
	Message   string `json:"message"`
	Details   string `json:"details"`
	RequestID string `json:"request_id"`
}

func (r response) wantError(t testing.TB, status int, key, detailsContains string) errorBody {
	t.Helper()
	r.wantStatus(t, status)
	var e errorBody
	r.decode(t, &e)
	if e.Code != status || (key != "" && e.Key != key) || !strings.Contains(e.Details, detailsContains) || e.RequestID == "" {
		t.Fatalf("%s: error body %s, want code %d key %q details containing %q and a request id", r.req, r.body, status, key, detailsContains)
	}
	return e
}

// testClient bounds every request, so that a request the server never answers
// fails its test (and, when fuzzing, is kept as a crasher) instead of hanging it.
var testClient = &http.Client{Timeout: 2 * time.Minute}
