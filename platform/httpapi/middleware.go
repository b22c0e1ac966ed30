package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/ids"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
	"github.com/punchcard-loyalty/punchcard/tenants"
)

const principalKey = "punchcard.principal"

// acceptedRequestID is what an inbound X-Request-Id may look like to be reused;
// anything else is replaced so callers cannot inject text into logs.
var acceptedRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,64}$`)

func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if !acceptedRequestID.MatchString(id) {
		id = ids.New(ids.Request)
	}
	c.Request = c.Request.WithContext(telemetry.WithRequestID(c.Request.Context(), id))
	c.Header("X-Request-Id", id)
	c.Next()
}

// observe returns the trace id on write requests, so a caller can quote it and an
// operator can find the trace; keeps personal data out of the server span (the raw
// path may hold a customer's source id, often an email, so url.path becomes the
// route template); and writes one access log line per request, without the query
// string for the same reason.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	ctx := c.Request.Context()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	trace.SpanFromContext(ctx).SetAttributes(semconv.URLPath(route))
	if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
		if tid := telemetry.TraceID(ctx); tid != "" {
			c.Header("X-Trace-Id", tid)
		}
	}
	c.Next()
	s.logger.LogAttrs(c.Request.Context(), slog.LevelInfo, "request",
		slog.String("method", c.Request.Method), slog.String("route", route),
		slog.Int("status", c.Writer.Status()), slog.Duration("duration", time.Since(start)))
}

func (s *Server) recovered(c *gin.Context, err any) {
	s.logger.ErrorContext(c.Request.Context(), "panic while serving request",
		"path", c.FullPath(), "panic", fmt.Sprint(err), "stack", string(debug.Stack()))
	s.renderError(c, fmt.Errorf("panic: %v", err))
}

func (s *Server) bodyLimit(c *gin.Context) {
	if c.Request.Body != nil {
		if c.Request.ContentLength > s.BodyLimit {
			s.renderError(c, &problem.Error{Kind: problem.KindTooLarge, Key: "request_too_large", Message: "Request too large",
				Details: fmt.Sprintf("body: request body exceeds the limit of %d bytes", s.BodyLimit), Field: "body"})
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.BodyLimit)
	}
	c.Next()
}

// authenticate resolves the API key to a tenant. The tenant comes from the key and
// from nothing the caller sends otherwise.
func (s *Server) authenticate(c *gin.Context) {
	bearer := ""
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			s.renderError(c, problem.Unauthorized("the Authorization header must be 'Bearer <secret key>'"))
			return
		}
		bearer = strings.TrimSpace(token)
	}
	p, err := s.Tenants.Authenticate(c.Request.Context(), bearer, c.GetHeader("X-App-Id"), c.GetHeader("X-App-Token"))
	if err != nil {
		s.renderError(c, err)
		return
	}
	ctx := telemetry.WithTenant(c.Request.Context(), p.Tenant.ID)
	ctx = audit.WithActor(ctx, audit.Actor{Type: audit.ActorAPIKey, ID: p.KeyID})
	trace.SpanFromContext(ctx).SetAttributes(telemetry.TenantAttr(p.Tenant.ID))
	c.Request = c.Request.WithContext(ctx)
	c.Set(principalKey, p)
	c.Next()
}

func principal(c *gin.Context) tenants.Principal {
	p, _ := c.Get(principalKey)
	return p.(tenants.Principal)
}

func (s *Server) authorize(roles []tenants.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		if p.Role != tenants.RoleAdmin && !slices.Contains(roles, p.Role) {
			s.renderError(c, problem.Forbidden("forbidden_role",
				fmt.Sprintf("an API key with role %q may not call %s %s", p.Role, c.Request.Method, c.FullPath())))
			return
		}
		c.Next()
	}
}

func (s *Server) operatorOnly(c *gin.Context) {
	if s.OperatorToken == "" {
		s.renderError(c, problem.Forbidden("operator_api_disabled", "the operator API is disabled: set PUNCHCARD_OPERATOR_TOKEN"))
		return
	}
	scheme, token, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	got, want := sha256.Sum256([]byte(strings.TrimSpace(token))), sha256.Sum256([]byte(s.OperatorToken))
	if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		s.renderError(c, problem.Unauthorized("send Authorization: Bearer <operator token>"))
		return
	}
	c.Request = c.Request.WithContext(audit.WithActor(c.Request.Context(), audit.Actor{Type: audit.ActorOperator, ID: "operator"}))
	c.Next()
}

func (s *Server) rateLimit(c *gin.Context) {
	tenantID := principal(c).Tenant.ID
	if ok, wait := s.limiter.allow(tenantID); !ok {
		c.Header("Retry-After", strconv.Itoa(wait))
		s.renderError(c, &problem.Error{Kind: problem.KindTooMany, Key: "too_many_requests", Message: "Too many requests",
			Details: fmt.Sprintf("this tenant is limited to %g requests per second; retry after %d s", s.RateLimit, wait)})
		return
	}
	c.Next()
}

// tenantLimiter is a token bucket per tenant. The map is bounded: when it grows past
// maxTenants, idle buckets (full again) are dropped, which loses nothing.
type tenantLimiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	buckets map[string]*rate.Limiter
}

const maxTenants = 10000

func newTenantLimiter(perSecond float64, burst int) *tenantLimiter {
	l := rate.Limit(perSecond)
	if perSecond <= 0 {
		l = rate.Inf
	}
	if burst <= 0 {
		burst = int(math.Max(1, perSecond))
	}
	return &tenantLimiter{limit: l, burst: burst, buckets: map[string]*rate.Limiter{}}
}

// allow takes one token for tenantID, or reports the seconds to wait.
func (t *tenantLimiter) allow(tenantID string) (bool, int) {
	if t.limit == rate.Inf {
		return true, 0
	}
	t.mu.Lock()
	b, ok := t.buckets[tenantID]
	if !ok {
		if len(t.buckets) >= maxTenants {
			for id, lb := range t.buckets {
				if lb.Tokens() >= float64(t.burst) {
					delete(t.buckets, id)
				}
			}
		}
		b = rate.NewLimiter(t.limit, t.burst)
		t.buckets[tenantID] = b
	}
	t.mu.Unlock()
	r := b.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return false, int(math.Ceil(d.Seconds()))
	}
	return true, 0
}
