package policies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
)

// Defaults for Options.
const (
	DefaultTimeout      = 25 * time.Millisecond
	DefaultCacheEntries = 10000
)

// BaseVersion is the policy version of a tenant that has published no modules
// of its own for a kind: the base policies alone.
const BaseVersion = "base"

// CodeDenied is the code of a deny element that is not a {code, message, rule}
// object (a tenant module may write `deny contains "blocked"`); it still denies.
const CodeDenied = "policy_denied"

const tracerName = "github.com/punchcard-loyalty/punchcard/policies"

// Span attribute keys.
const (
	attrKind      = attribute.Key("policy.kind")
	attrVersion   = attribute.Key("policy.version")
	attrDecision  = attribute.Key("policy.decision")
	attrDenyCodes = attribute.Key("policy.deny_codes")
	attrCampaign  = attribute.Key("campaign.id")
)

// TenantPolicy is a tenant's active policy version for one kind.
type TenantPolicy struct {
	// Version identifies the immutable version; "" means BaseVersion (no tenant
	// modules). The engine caches one prepared query per (tenant, kind, version),
	// so publishing or activating a version takes effect on the next evaluation.
	Version string
	// Modules are the tenant-authored modules. They are compiled together with
	// the base modules of the kind, so rules they add to the same package
	// (deny contains …, review contains …) merge with the base rules: any deny
	// from either side denies. Test files (_test.rego) are left out.
	Modules Modules
}

// Options configure an Engine. The zero value is usable.
type Options struct {
	// Timeout bounds each evaluation (compilation excluded); the caller's context
	// deadline applies too, whichever is sooner. It defaults to DefaultTimeout.
	Timeout time.Duration
	// TracerProvider creates the policies.Evaluate spans; nil uses the
	// OpenTelemetry global provider.
	TracerProvider trace.TracerProvider
	// CacheEntries bounds the number of prepared queries kept, least recently
	// used evicted first. It defaults to DefaultCacheEntries.
	CacheEntries int
	// TenantModules returns the active policy version of kind for a tenant. It is
	// the seam through which tenant-authored modules reach the engine (the policy
	// store implements it); it is called on every evaluation, so it must be
	// cheap, e.g. read from an in-memory index. Nil means every tenant uses the
	// base policies only.
	TenantModules func(ctx context.Context, tenantID string, kind Kind) (TenantPolicy, error)
}

// Engine evaluates policy decisions for any tenant. It is safe for concurrent use.
type Engine struct {
	timeout       time.Duration
	tracer        trace.Tracer
	cache         *queryCache
	base          map[Kind]Modules
	tenantModules func(ctx context.Context, tenantID string, kind Kind) (TenantPolicy, error)
}

// New returns an Engine. Policies are compiled lazily, on the first evaluation
// of each (tenant, kind, version).
func New(opts Options) (*Engine, error) {
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("new policy engine: negative timeout %s", opts.Timeout)
	}
	if opts.CacheEntries < 0 {
		return nil, fmt.Errorf("new policy engine: negative cache size %d", opts.CacheEntries)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.CacheEntries == 0 {
		opts.CacheEntries = DefaultCacheEntries
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = otel.GetTracerProvider()
	}
	all := BaseModules()
	base := make(map[Kind]Modules, len(Kinds))
	for _, k := range Kinds {
		base[k] = all.ForKind(k).Policies()
	}
	return &Engine{
		timeout:       opts.Timeout,
		tracer:        opts.TracerProvider.Tracer(tracerName),
		cache:         newQueryCache(opts.CacheEntries),
		base:          base,
		tenantModules: opts.TenantModules,
	}, nil
}

// Evaluate decides kind for tenantID on input (the document described in
// policies/README.md). It never allows on failure: when the policy cannot be
// compiled or evaluated the Decision denies with CodeError and err says why
// (for logging; the Decision is still the answer to act on); when evaluation
// runs past its deadline the Decision denies with CodeTimeout and err is nil.
func (e *Engine) Evaluate(ctx context.Context, tenantID string, kind Kind, input map[string]any) (Decision, error) {
	return e.evaluate(ctx, tenantID, kind, campaignOf(input), func() (ast.Value, error) { return ast.InterfaceToValue(input) })
}

// EvaluateDocument is Evaluate on shared plus the decision's own top-level keys:
// the decisions of one request share the converted shared part instead of
// converting the whole input document for each.
func (e *Engine) EvaluateDocument(ctx context.Context, tenantID string, kind Kind, shared Document, own map[string]any) (Decision, error) {
	return e.evaluate(ctx, tenantID, kind, campaignOf(own), func() (ast.Value, error) { return shared.with(own) })
}

func (e *Engine) evaluate(ctx context.Context, tenantID string, kind Kind, campaignID string, input func() (ast.Value, error)) (d Decision, err error) {
	start := time.Now()
	ctx, span := e.tracer.Start(ctx, "policies.Evaluate", trace.WithAttributes(
		telemetry.TenantAttr(tenantID),
		attrKind.String(string(kind)),
	))
	if campaignID != "" {
		span.SetAttributes(attrCampaign.String(campaignID))
	}
	defer func() {
		d.Duration = time.Since(start)
		span.SetAttributes(
			attrDecision.String(d.outcome()),
			attrDenyCodes.StringSlice(d.denyCodes()),
		)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "policy evaluation failed")
		}
		span.End()
	}()

	if !kind.Valid() {
		return failed(kind, fmt.Errorf("evaluate policy: unknown kind %q", kind))
	}
	version := BaseVersion
	var tenantModules Modules
	if e.tenantModules != nil {
		tp, err := e.tenantModules(ctx, tenantID, kind)
		if err != nil {
			return failed(kind, fmt.Errorf("evaluate %s policy: load tenant policy: %w", kind, err))
		}
		if tp.Version != "" {
			version, tenantModules = tp.Version, tp.Modules
		}
	}
	span.SetAttributes(attrVersion.String(version))

	query, err := e.prepared(ctx, cacheKey{tenantID: tenantID, kind: kind, version: version}, tenantModules)
	if err != nil {
		return failed(kind, fmt.Errorf("evaluate %s policy %s: %w", kind, version, err))
	}
	value, err := input()
	if err != nil {
		return failed(kind, fmt.Errorf("evaluate %s policy: input: %w", kind, err))
	}

	evalCtx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	rs, err := query.Eval(evalCtx, rego.EvalParsedInput(value))
	if err != nil {
		if errors.Is(evalCtx.Err(), context.DeadlineExceeded) && (topdown.IsCancel(err) || errors.Is(err, context.DeadlineExceeded)) {
			span.SetStatus(codes.Error, "policy evaluation timed out")
			return Decision{Kind: kind, Deny: []Reason{{
				Code:    CodeTimeout,
				Message: "The policy took too long to decide.",
				Rule:    "engine.timeout",
			}}}, nil
		}
		return failed(kind, fmt.Errorf("evaluate %s policy %s: %w", kind, version, err))
	}
	d, err = decode(kind, rs)
	if err != nil {
		return failed(kind, fmt.Errorf("evaluate %s policy %s: %w", kind, version, err))
	}
	return d, nil
}

// Document is the part of an input document that several decisions of one
// request share (tenant, time, customer, order…), converted to OPA's form once.
type Document struct{ base ast.Object }

// NewDocument converts the shared part of an input document.
func NewDocument(shared map[string]any) (Document, error) {
	v, err := ast.InterfaceToValue(shared)
	if err != nil {
		return Document{}, fmt.Errorf("policy input: %w", err)
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return Document{}, fmt.Errorf("policy input: not an object")
	}
	return Document{base: obj}, nil
}

// with is the document plus own's keys (which win over shared ones). The shared
// terms are not copied: evaluation only reads its input.
func (d Document) with(own map[string]any) (ast.Value, error) {
	obj := ast.NewObject()
	if d.base != nil {
		d.base.Foreach(func(k, v *ast.Term) { obj.Insert(k, v) })
	}
	for k, v := range own {
		val, err := ast.InterfaceToValue(v)
		if err != nil {
			return nil, err
		}
		obj.Insert(ast.StringTerm(k), ast.NewTerm(val))
	}
	return obj, nil
}

// campaignOf is the id of the campaign a decision is about (the redeemable's or the
// stacking candidate's), for the span: an opaque id, never input values.
func campaignOf(input map[string]any) string {
	for _, k := range []string{"redeemable", "candidate"} {
		if r, ok := input[k].(map[string]any); ok {
			if c, ok := r["campaign"].(map[string]any); ok {
				if id, ok := c["id"].(string); ok {
					return id
				}
			}
		}
	}
	return ""
}

// failed is the fail-closed decision for err.
func failed(kind Kind, err error) (Decision, error) {
	return Decision{Kind: kind, Deny: []Reason{{
		Code:    CodeError,
		Message: "The policy could not be evaluated.",
		Rule:    "engine.error",
	}}}, err
}

// queries read every part of a decision in one evaluation. The comprehensions
// are always defined, so a kind whose package has no review (or risk_score)
// rule still yields a result, and only the decision rules are evaluated and
// copied out, not the package's helper rules.
var queries = func() map[Kind]string {
	q := make(map[Kind]string, len(Kinds))
	for _, k := range Kinds {
		ref := "data." + k.Package()
		q[k] = fmt.Sprintf("deny := {r | some r in %[1]s.deny}; review := {r | some r in %[1]s.review}; risk_score := [s | s := %[1]s.risk_score]", ref)
	}
	return q
}()

// prepared returns the prepared query for key, compiling it on a miss. Callers
// that arrive while another compiles the same key wait for that compilation.
func (e *Engine) prepared(ctx context.Context, key cacheKey, tenantModules Modules) (rego.PreparedEvalQuery, error) {
	p, fill := e.cache.get(key)
	if fill {
		p.query, p.err = prepare(ctx, key.kind, e.base[key.kind].With(tenantModules.Policies()))
		e.cache.done(p)
	} else {
		select {
		case <-p.ready:
		case <-ctx.Done():
			return rego.PreparedEvalQuery{}, ctx.Err()
		}
	}
	return p.query, p.err
}

// prepare compiles modules in the sandbox and prepares kind's decision query.
func prepare(ctx context.Context, kind Kind, modules Modules) (rego.PreparedEvalQuery, error) {
	c, err := compile(modules)
	if err != nil {
		return rego.PreparedEvalQuery{}, fmt.Errorf("compile: %w", err)
	}
	pq, err := rego.New(
		rego.Compiler(c),
		rego.Query(queries[kind]),
		rego.Capabilities(capabilities),
		rego.SetRegoVersion(ast.RegoV1),
		rego.Strict(true),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(context.WithoutCancel(ctx))
	if err != nil {
		return rego.PreparedEvalQuery{}, fmt.Errorf("prepare: %w", err)
	}
	return pq, nil
}

// decode turns the query's bindings into a Decision.
func decode(kind Kind, rs rego.ResultSet) (Decision, error) {
	if len(rs) != 1 {
		return Decision{}, fmt.Errorf("decode decision: %d results, want 1", len(rs))
	}
	b := rs[0].Bindings
	d := Decision{Kind: kind}
	var err error
	if d.Deny, err = reasons(b["deny"]); err != nil {
		return Decision{}, fmt.Errorf("decode deny: %w", err)
	}
	if d.Review, err = reasons(b["review"]); err != nil {
		return Decision{}, fmt.Errorf("decode review: %w", err)
	}
	if scores, ok := b["risk_score"].([]any); ok && len(scores) > 0 {
		if d.RiskScore, err = number(scores[0]); err != nil {
			return Decision{}, fmt.Errorf("decode risk_score: %w", err)
		}
	}
	return d, nil
}

// reasons reads a set of reasons. An element that is not a reason object still
// counts: a string becomes its code and message, anything else CodeDenied.
func reasons(v any) ([]Reason, error) {
	if v == nil {
		return nil, nil
	}
	elems, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("got %T, want a set", v)
	}
	if len(elems) == 0 {
		return nil, nil
	}
	out := make([]Reason, 0, len(elems))
	for _, el := range elems {
		var r Reason
		switch el := el.(type) {
		case map[string]any:
			r.Code, _ = el["code"].(string)
			r.Message, _ = el["message"].(string)
			r.Rule, _ = el["rule"].(string)
		case string:
			r.Code, r.Message = el, el
		}
		if r.Code == "" {
			r.Code = CodeDenied
		}
		if r.Message == "" {
			r.Message = "Denied by policy."
		}
		out = append(out, r)
	}
	return out, nil
}

func number(v any) (float64, error) {
	switch n := v.(type) {
	case json.Number:
		return n.Float64()
	case float64:
		return n, nil
	case int:
		return float64(n), nil
	case int64:
		return float64(n), nil
	}
	return 0, fmt.Errorf("got %T, want a number", v)
}
