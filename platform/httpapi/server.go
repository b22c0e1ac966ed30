// Package httpapi is Punchcard's HTTP interface: one gin engine, one route table
// (routes.go) that also generates /openapi.json, a handler adapter so handlers return
// errors that are rendered in one place, the Voucherify-shaped error body, and the
// middleware every request passes: request id, tracing, panic recovery, body limit,
// authentication by API key, per-route roles and per-tenant rate limits. Only this
// package imports gin; handlers decode, make one service call and render.
package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/idempotency"
	"github.com/punchcard-loyalty/punchcard/platform/jobs"
	"github.com/punchcard-loyalty/punchcard/platform/policystore"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/platform/redemption"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
	"github.com/punchcard-loyalty/punchcard/policies"
	"github.com/punchcard-loyalty/punchcard/tenants"
)

// Deps are the services the API exposes.
type Deps struct {
	DB             *db.DB
	Tenants        *tenants.Service
	Customers      *customers.Service
	Campaigns      *campaigns.Service
	Redemptions    *redemption.Engine
	Settings       *redemption.Settings
	Policies       *policystore.Store
	PolicyEngine   *policies.Engine
	Idempotency    *idempotency.Store
	Jobs           *jobs.Queue
	Audit          *audit.Log
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	Metrics        http.Handler
	Now            func() time.Time

	// OperatorToken authorises /operator/v1; empty disables the operator API.
	OperatorToken string
	BodyLimit     int64
	// TrustedProxies are the addresses and CIDR ranges whose X-Forwarded-For
	// and X-Real-IP headers name the client (input.request.ip); from any other
	// peer the headers are ignored and the client is the peer. None by default.
	TrustedProxies []string
	RateLimit      float64 // requests per second per tenant
	RateBurst      int
}

// Server is the HTTP API.
type Server struct {
	Deps
	logger  *slog.Logger
	engine  *gin.Engine
	routes  []route
	limiter *tenantLimiter

	openAPIDoc []byte
}

// New builds the engine and registers every route.
func New(d Deps) *Server {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{Deps: d, logger: d.Logger.With("component", "httpapi")}
	if s.BodyLimit <= 0 {
		s.BodyLimit = 1 << 20
	}
	s.limiter = newTenantLimiter(d.RateLimit, d.RateBurst)
	e := gin.New()
	if err := e.SetTrustedProxies(d.TrustedProxies); err != nil {
		s.logger.Error("trusted proxies ignored: the client is the peer", "error", err)
		_ = e.SetTrustedProxies(nil)
	}
	e.ContextWithFallback = true
	e.HandleMethodNotAllowed = true
	e.Use(
		s.requestID,
		otelgin.Middleware("punchcard",
			otelgin.WithTracerProvider(telemetry.WithoutAttributes(d.TracerProvider, telemetry.PersonalAttributes...)),
			otelgin.WithPropagators(d.Propagator),
			otelgin.WithMeterProvider(d.MeterProvider),
		),
		s.observe,
		gin.CustomRecoveryWithWriter(nil, s.recovered),
		s.bodyLimit,
	)
	e.NoRoute(s.wrap(func(c *gin.Context) error {
		return notFoundRoute(c)
	}))
	e.NoMethod(s.wrap(func(c *gin.Context) error {
		return methodNotAllowed(c)
	}))
	s.engine = e
	s.routes = s.routeTable()
	for _, r := range s.routes {
		handlers := []gin.HandlerFunc{}
		switch r.auth {
		case authTenant:
			handlers = append(handlers, s.authenticate, s.authorize(r.roles), s.rateLimit)
		case authOperator:
			handlers = append(handlers, s.operatorOnly)
		}
		handlers = append(handlers, s.wrap(r.handler))
		e.Handle(r.method, r.path, handlers...)
	}
	doc, err := buildOpenAPI(s.routes)
	if err != nil {
		// The document is generated from static types; failing here is a programming error.
		panic(fmt.Sprintf("build openapi document: %v", err))
	}
	s.openAPIDoc = doc
	return s
}

// handlerFunc is the shape of every handler: bind, call, render; errors go to
// renderError.
type handlerFunc func(c *gin.Context) error

func (s *Server) wrap(h handlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		err := checkURLText(c)
		if err == nil {
			err = h(c)
		}
		if err != nil {
			s.renderError(c, err)
		}
	}
}

// checkURLText rejects path and query parameters that are not valid UTF-8 or hold
// U+0000: no identifier or filter value can contain them, and PostgreSQL refuses
// them in text, so they would otherwise surface as database errors.
func checkURLText(c *gin.Context) error {
	bad := func(v string) bool { return !utf8.ValidString(v) || strings.ContainsRune(v, 0) }
	for _, p := range c.Params {
		if bad(p.Value) {
			return problem.Invalidf(p.Key, "path parameter %s must be valid UTF-8 without NUL characters", p.Key)
		}
	}
	for k, vs := range c.Request.URL.Query() {
		if bad(k) {
			return problem.Invalid("query", "query parameter names must be valid UTF-8 without NUL characters")
		}
		for _, v := range vs {
			if bad(v) {
				return problem.Invalidf(k, "query parameter %s must be valid UTF-8 without NUL characters", k)
			}
		}
	}
	return nil
}

// NewHTTPServer returns an http.Server for addr with conservative timeouts.
func (s *Server) NewHTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.engine,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
