package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/punchcard-loyalty/punchcard/platform/app"
	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/config"
)

// helloServer is the HTTP floor: a bare gin engine answering one JSON route, on
// loopback in this process, exactly as the Punchcard server is.
func helloServer(ctx context.Context) (base string, stop func(), err error) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.GET("/hello", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"hello": "world"}) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Shutdown(context.WithoutCancel(ctx)) }, nil
}

// punchcard is a real Punchcard server on loopback with one tenant.
type punchcard struct {
	base     string
	secret   string // the tenant's admin key
	tenantID string
	dataDir  string
	dbURL    string // "" for SQLite
	app      *app.App
	client   *http.Client
	stop     func()
}

const benchOperatorToken = "op_punchbench_operator_token"

// startPunchcard builds and serves Punchcard on the given database ("" for SQLite in
// a fresh temp dir), with migrations, the default middleware and telemetry set up as
// in production (spans are created; exporting is off unless OTEL_* says otherwise),
// and rate limiting off so that the server, not the limiter, is measured.
func startPunchcard(ctx context.Context, databaseURL string, client *http.Client) (*punchcard, error) {
	for k, v := range map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"} {
		if os.Getenv(k) == "" {
			_ = os.Setenv(k, v)
		}
	}
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "punchbench-")
	if err != nil {
		return nil, err
	}
	cfg.DataDir = dir
	cfg.DatabaseURL = databaseURL
	cfg.MigrationDatabaseURL = ""
	cfg.OperatorToken = benchOperatorToken
	cfg.RateLimit = 0
	cfg.LogLevel = "warn"
	sctx, cancel := context.WithCancel(ctx)
	a, err := app.New(sctx, cfg, app.Options{Stdout: io.Discard, Stderr: io.Discard, Migrate: true})
	if err != nil {
		cancel()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		_ = a.Close(ctx)
		_ = os.RemoveAll(dir)
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx, ln) }()
	p := &punchcard{base: "http://" + ln.Addr().String(), client: client, app: a, dataDir: dir, dbURL: databaseURL}
	p.stop = func() {
		cancel()
		<-done
		_ = a.Close(context.WithoutCancel(ctx))
		_ = os.RemoveAll(dir)
	}
	t, err := p.newTenant(ctx)
	if err != nil {
		p.stop()
		return nil, err
	}
	p.secret, p.tenantID = t.secret, t.tenantID
	return p, nil
}

// call sends one setup request and decodes its JSON answer into out.
func (p *punchcard) call(ctx context.Context, method, path, auth string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("setup %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// get is a workload of GET path with the tenant's key.
func (p *punchcard) get(path string) workload {
	url, auth := p.base+path, "Bearer "+p.secret
	return workload{
		next: func(ctx context.Context, _, _ int) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err == nil {
				req.Header.Set("Authorization", auth)
			}
			return req, err
		},
		close: p.stop,
	}
}

// posts is a workload of POST path with the tenant's key and the JSON body(n),
// where n spreads the requests of the clients over what the bodies name.
func (p *punchcard) posts(path string, body func(n int) string) workload {
	url, auth := p.base+path, "Bearer "+p.secret
	return workload{
		next: func(ctx context.Context, worker, i int) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body(worker*7919+i)))
			if err == nil {
				req.Header.Set("Authorization", auth)
				req.Header.Set("Content-Type", "application/json")
			}
			return req, err
		},
		close: p.stop,
	}
}

// validations posts validationBody(code, …) round robin over the bench customers.
func (p *punchcard) validations(code string) workload {
	return p.posts("/v1/validations", func(n int) string { return validationBody(code, n) })
}

// campaignCodes creates n campaigns, each capped (like the pgbench floor's budget
// row) and with one code of unlimited uses, and returns the codes. It calls the
// service directly: setting up 10,000 campaigns over HTTP would dominate the run.
func (p *punchcard) campaignCodes(ctx context.Context, n int) ([]string, error) {
	limit := int64(1_000_000_000)
	for i := range n {
		in := campaigns.CampaignInput{
			Name: fmt.Sprintf("bench-%05d", i), CampaignType: campaigns.TypeDiscountCoupons, VouchersCount: 1,
			Voucher: &campaigns.VoucherTemplate{Discount: &campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: ptr(int64(100))}},
			Limits:  &campaigns.Limits{TotalRedemptions: &limit},
		}
		if _, err := p.app.Campaigns.Create(ctx, p.tenantID, in); err != nil {
			return nil, err
		}
	}
	var codes []string
	after := ""
	for {
		l, err := p.app.Campaigns.ListVouchers(ctx, p.tenantID, campaigns.VoucherFilter{Paging: campaigns.Paging{Limit: campaigns.MaxPage, StartingAfter: after}})
		if err != nil {
			return nil, err
		}
		vs, more := l.Items, l.More
		for _, v := range vs {
			codes = append(codes, v.Code)
		}
		if !more || len(vs) == 0 {
			break
		}
		after = vs[len(vs)-1].ID
	}
	if len(codes) != n {
		return nil, fmt.Errorf("made %d codes for %d campaigns", len(codes), n)
	}
	if err := p.settle(ctx); err != nil {
		return nil, err
	}
	return codes, nil
}

// settle readies a server after its set-up for measurement: the set-up's own audit
// events are sealed now, so that sealing them does not compete with the measured
// requests (whose events are sealed as the server runs, as in production). On
// PostgreSQL the rows just made are vacuumed and analyzed, so that the measured
// statements are planned on their statistics and autovacuum does not start on
// them mid-measurement, and a checkpoint (when the URL's role may run one) writes
// the set-up's pages out before the clock starts rather than during it.
func (p *punchcard) settle(ctx context.Context) error {
	if err := p.app.Audit.SealAll(ctx); err != nil {
		return err
	}
	if p.dbURL == "" {
		return nil
	}
	conn, err := sql.Open("pgx", p.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "VACUUM (ANALYZE)"); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	_, _ = conn.ExecContext(ctx, "CHECKPOINT") // superuser or pg_checkpoint only
	return nil
}

func ptr[T any](v T) *T { return &v }
