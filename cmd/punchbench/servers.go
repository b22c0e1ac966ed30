package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/punchcard-loyalty/punchcard/platform/app"
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
	base   string
	secret string // the tenant's admin key
	client *http.Client
	stop   func()
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
	p := &punchcard{base: "http://" + ln.Addr().String(), client: client}
	p.stop = func() {
		cancel()
		<-done
		_ = a.Close(context.WithoutCancel(ctx))
		_ = os.RemoveAll(dir)
	}
	slug := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	var created struct {
		APIKey struct {
			Secret string `json:"secret"`
		} `json:"api_key"`
	}
	if err := p.call(ctx, "POST", "/operator/v1/tenants", "Bearer "+benchOperatorToken,
		map[string]any{"slug": slug, "name": "Bench " + slug, "currency": "EUR", "timezone": "Europe/Berlin"}, &created); err != nil {
		p.stop()
		return nil, err
	}
	p.secret = created.APIKey.Secret
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
