// Package app is Punchcard's composition root: New builds every component from the
// configuration (telemetry, database, audit log, services, HTTP API) and Run serves
// until its context ends, then shuts down in order. Nothing else calls constructors
// of other packages.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/buildinfo"
	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/config"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/httpapi"
	"github.com/punchcard-loyalty/punchcard/platform/idempotency"
	"github.com/punchcard-loyalty/punchcard/platform/ids"
	"github.com/punchcard-loyalty/punchcard/platform/jobs"
	"github.com/punchcard-loyalty/punchcard/platform/policystore"
	"github.com/punchcard-loyalty/punchcard/platform/redemption"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
	"github.com/punchcard-loyalty/punchcard/policies"
	"github.com/punchcard-loyalty/punchcard/tenants"
)

// Options are the process-level inputs that are not configuration.
type Options struct {
	// Stdout receives what the operator must see once (a generated operator token).
	Stdout io.Writer
	// Stderr receives the JSON logs.
	Stderr io.Writer
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Migrate applies pending migrations before opening the database.
	Migrate bool
	// SpanProcessors receive every span (tests read spans through them).
	SpanProcessors []sdktrace.SpanProcessor
}

// App is a built Punchcard process.
type App struct {
	cfg         config.Config
	opts        Options
	Logger      *slog.Logger
	Telemetry   *telemetry.Telemetry
	DB          *db.DB
	Audit       *audit.Log
	Tenants     *tenants.Service
	Customers   *customers.Service
	Campaigns   *campaigns.Service
	Jobs        *jobs.Queue
	Policies    *policies.Engine
	PolicyStore *policystore.Store
	Settings    *redemption.Settings
	Idempotency *idempotency.Store
	Redemptions *redemption.Engine
}

// New builds the application. Close releases what it opened.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	level, err := telemetry.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("PUNCHCARD_LOG_LEVEL: %w", err)
	}
	logger := telemetry.NewLogger(opts.Stderr, level)
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "punchcard", ServiceVersion: buildinfo.String(), SpanProcessors: opts.SpanProcessors})
	if err != nil {
		return nil, err
	}
	dbOpts := db.Options{
		URL: cfg.DatabaseURL, MigrationURL: cfg.MigrationDatabaseURL, DataDir: cfg.DataDir,
		TracerProvider: tel.TracerProvider(), MeterProvider: tel.MeterProvider(), Logger: logger,
	}
	if opts.Migrate {
		res, err := db.Migrate(ctx, dbOpts)
		if err != nil {
			_ = tel.Shutdown(ctx)
			return nil, err
		}
		if len(res.Applied) > 0 {
			logger.InfoContext(ctx, "migrations applied", "migrations", res.Applied)
		}
	}
	d, err := db.Open(ctx, dbOpts)
	if err != nil {
		_ = tel.Shutdown(ctx)
		return nil, err
	}
	a := &App{cfg: cfg, opts: opts, Logger: logger, Telemetry: tel, DB: d}
	a.Audit = audit.New(d, opts.Now)
	a.Tenants = tenants.NewService(d, a.Audit, opts.Now)
	a.Customers = customers.NewService(d, a.Audit, opts.Now)
	a.Campaigns = campaigns.NewService(d, a.Audit, opts.Now)
	a.Jobs = jobs.New(d, opts.Now, logger)
	a.Campaigns.UseJobs(a.Jobs)
	a.PolicyStore = policystore.New(d, a.Audit, opts.Now, policies.Check)
	a.Policies, err = policies.New(policies.Options{Timeout: cfg.PolicyTimeout, CacheBytes: cfg.PolicyCacheBytes, MemoEntries: cfg.PolicyMemo(),
		TracerProvider: tel.TracerProvider(), TenantModules: a.PolicyStore.Active})
	if err != nil {
		_ = a.Close(ctx)
		return nil, err
	}
	a.Settings = redemption.NewSettings(d, a.Audit, opts.Now)
	a.Idempotency = idempotency.New(d, opts.Now)
	a.Redemptions = redemption.NewEngine(d, a.Settings, a.Policies, a.Audit, opts.Now, tel.TracerProvider())
	a.Customers.ErasesWith("redemptions", redemption.EraseCustomerData)
	a.Redemptions.UseTenantPolicies(a.PolicyStore)
	return a, nil
}

// Close releases the database and flushes telemetry.
func (a *App) Close(ctx context.Context) error {
	return errors.Join(a.DB.Close(), a.Telemetry.Shutdown(ctx))
}

// API builds the HTTP API with the given operator token.
func (a *App) API(operatorToken string) *httpapi.Server {
	return httpapi.New(httpapi.Deps{
		DB: a.DB, Tenants: a.Tenants, Customers: a.Customers, Campaigns: a.Campaigns, Audit: a.Audit,
		Redemptions: a.Redemptions, Settings: a.Settings, Policies: a.PolicyStore, PolicyEngine: a.Policies, Idempotency: a.Idempotency, Jobs: a.Jobs,
		Logger: a.Logger, TracerProvider: a.Telemetry.TracerProvider(), MeterProvider: a.Telemetry.MeterProvider(),
		Propagator: a.Telemetry.Propagator(),
		Metrics:    a.Telemetry.MetricsHandler(), Now: a.opts.Now,
		OperatorToken: operatorToken, BodyLimit: a.cfg.BodyLimit, RateLimit: a.cfg.RateLimit, RateBurst: a.cfg.RateBurst,
		TrustedProxies: a.cfg.TrustedProxies,
	})
}

// OperatorToken returns the configured operator token. With the embedded database
// and none configured it generates one on first start, keeps it in the data
// directory and prints it once; with PostgreSQL and none configured the operator API
// stays disabled.
func (a *App) OperatorToken() (string, error) {
	if a.cfg.OperatorToken != "" {
		return a.cfg.OperatorToken, nil
	}
	if a.DB.Dialect() != db.SQLite {
		a.Logger.Warn("PUNCHCARD_OPERATOR_TOKEN is not set: the operator API is disabled")
		return "", nil
	}
	path := filepath.Join(a.cfg.DataDir, "operator-token")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read operator token: %w", err)
	}
	token := "op_" + ids.Secret(32)
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("store operator token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("store operator token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("store operator token: %w", err)
	}
	fmt.Fprintf(a.opts.Stdout, "Operator token (shown once; kept in %s): %s\n", path, token)
	return token, nil
}

// Run serves the API on the configured address and runs the background workers
// until ctx ends, then drains requests within the shutdown timeout.
func (a *App) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
	}
	return a.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	token, err := a.OperatorToken()
	if err != nil {
		_ = ln.Close()
		return err
	}
	api := a.API(token)
	srv := api.NewHTTPServer(ln.Addr().String())

	workers, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { a.Jobs.Run(workers, time.Second) })
	// Periodic work, on every node: seal the audit events written since the
	// last time; follow the policy versions other nodes activate; purge the
	// idempotent replies past their 24 hours (a minute after start, so that a
	// node that restarts more often than hourly still does, then hourly).
	wg.Go(func() {
		every(workers, a.cfg.AuditSealInterval, a.cfg.AuditSealInterval, a.Logger.With("component", "audit"), slog.LevelError, "audit sealing failed", a.Audit.SealAll)
	})
	wg.Go(func() {
		every(workers, policystore.PollInterval, policystore.PollInterval, a.Logger.With("component", "policystore"), slog.LevelWarn, "poll policy activations", a.PolicyStore.Poll)
	})
	wg.Go(func() {
		every(workers, time.Minute, time.Hour, a.Logger.With("component", "idempotency"), slog.LevelError, "purge idempotency keys", func(ctx context.Context) error {
			_, err := a.Idempotency.PurgeAll(ctx)
			return err
		})
	})

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.Logger.InfoContext(ctx, "punchcard serving", "addr", ln.Addr().String(), "database", string(a.DB.Dialect()), "version", buildinfo.String())

	select {
	case err = <-errc:
	case <-ctx.Done():
		a.Logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
	}
	stopWorkers()
	wg.Wait()
	// Seal what the last requests wrote, so a restart finds nothing pending.
	fctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if serr := a.Audit.SealAll(fctx); serr != nil {
		a.Logger.Error("final audit sealing failed", "error", serr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// every runs fn after first, then every interval until ctx ends, logging its
// failures as what at level.
func every(ctx context.Context, first, interval time.Duration, logger *slog.Logger, level slog.Level, what string, fn func(context.Context) error) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			logger.Log(ctx, level, what, "error", err)
		}
		t.Reset(interval)
	}
}
