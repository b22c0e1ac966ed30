package policies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
	"github.com/punchcard-loyalty/punchcard/platform/ttlcache"
)

// Defaults for Options.
const (
	DefaultTimeout    = 25 * time.Millisecond
	DefaultCacheBytes = 512 << 20
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
	attrMemoized  = attribute.Key("policy.memoized")
)

// TenantPolicy is one version of a tenant's policy for one kind.
type TenantPolicy struct {
	// Version identifies the immutable version; "" means BaseVersion (no tenant
	// modules, and then Modules, Data and ReplaceBase must be empty). The engine
	// caches one prepared query per (tenant, kind, version), so publishing or
	// activating a version takes effect on the next evaluation.
	Version string
	// Modules are the tenant-authored modules. They decide as if compiled
	// together with the base modules of the kind, so rules they add to the same
	// package (deny contains …, review contains …) merge with the base rules:
	// any deny from either side denies. Modules independent of the base modules
	// are compiled alone and evaluated beside the shared base query (see
	// independent). Test files (_test.rego) are left out.
	Modules Modules
	// Data is the version's JSON data document, which its modules read at
	// data.tenant (input.customer.id in data.tenant.blocked_customers). Nil
	// means no document (data.tenant is undefined).
	Data map[string]any
	// ReplaceBase compiles a stacking policy's modules without the base stacking
	// modules: the tenant replaces the base stacking behaviour. It is an error
	// for other kinds.
	ReplaceBase bool
}

// Options configure an Engine. The zero value is usable.
type Options struct {
	// Timeout bounds each evaluation (compilation excluded); the caller's context
	// deadline applies too, whichever is sooner. It defaults to DefaultTimeout.
	Timeout time.Duration
	// TracerProvider creates the policies.Evaluate spans; nil uses the
	// OpenTelemetry global provider.
	TracerProvider trace.TracerProvider
	// CacheBytes bounds the estimated memory of the prepared tenant queries
	// kept, least recently used evicted first. It defaults to DefaultCacheBytes.
	// Each entry's weight is estimated when it is compiled, from the source and
	// data compiled into it (see compiled). Base-only evaluations share one
	// query per kind, outside this cache.
	CacheBytes int64
	// CacheEntries, when positive, also bounds the number of prepared tenant
	// queries kept. Zero means no bound on the count.
	CacheEntries int
	// MemoEntries bounds the decisions memoized (see memo.go): zero means
	// DefaultMemoEntries, a negative value memoizes none.
	MemoEntries int
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
	base          map[Kind]*baseQuery
	memo          *ttlcache.Cache[[32]byte, Decision] // nil: decisions are not memoized
	tenantModules func(ctx context.Context, tenantID string, kind Kind) (TenantPolicy, error)
}

// baseQuery is the prepared query of the base policies of one kind, shared by
// every tenant without a version of its own, compiled on first use.
type baseQuery struct {
	once sync.Once
	q    *compiled
	err  error
}

// New returns an Engine. Policies are compiled lazily, on the first evaluation
// of each (tenant, kind, version).
func New(opts Options) (*Engine, error) {
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("new policy engine: negative timeout %s", opts.Timeout)
	}
	if opts.CacheEntries < 0 || opts.CacheBytes < 0 {
		return nil, fmt.Errorf("new policy engine: negative cache size")
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = otel.GetTracerProvider()
	}
	base := make(map[Kind]*baseQuery, len(Kinds))
	for _, k := range Kinds {
		base[k] = &baseQuery{}
	}
	e := &Engine{
		timeout:       opts.Timeout,
		tracer:        opts.TracerProvider.Tracer(tracerName),
		cache:         newQueryCache(opts.CacheEntries, opts.CacheBytes),
		base:          base,
		tenantModules: opts.TenantModules,
	}
	if opts.MemoEntries == 0 {
		opts.MemoEntries = DefaultMemoEntries
	}
	if opts.MemoEntries > 0 {
		e.memo = ttlcache.New[[32]byte, Decision](memoTTL, opts.MemoEntries)
	}
	return e, nil
}

// Evaluate decides kind for tenantID on input (the document described in
// policies/README.md). It never allows on failure: when the policy cannot be
// compiled or evaluated the Decision denies with CodeError and err says why
// (for logging; the Decision is still the answer to act on); when evaluation
// runs past its deadline the Decision denies with CodeTimeout and err is nil.
//
// A segments decision (kind Segments) lists the customer's segments in
// Decision.Members; for a tenant without a segments version it has no members
// and nothing is compiled or evaluated.
func (e *Engine) Evaluate(ctx context.Context, tenantID string, kind Kind, input map[string]any) (Decision, error) {
	return e.evaluate(ctx, tenantID, kind, campaignOf(input), e.active, true, func() (ast.Value, error) { return ast.InterfaceToValue(input) })
}

// EvaluatePolicy is Evaluate against the given version p of the tenant's policy
// instead of its active one (the dry run of the policy API): the same cache,
// keyed (tenant, kind, p.Version), the same span and the same deadline. p is
// trusted to have passed Check when it was published; a p that does not
// compile denies with CodeError.
func (e *Engine) EvaluatePolicy(ctx context.Context, tenantID string, kind Kind, p TenantPolicy, input map[string]any) (Decision, error) {
	given := func(context.Context, string, Kind) (TenantPolicy, error) { return p, nil }
	return e.evaluate(ctx, tenantID, kind, campaignOf(input), given, false, func() (ast.Value, error) { return ast.InterfaceToValue(input) })
}

// active is the tenant's active version of kind.
func (e *Engine) active(ctx context.Context, tenantID string, kind Kind) (TenantPolicy, error) {
	if e.tenantModules == nil {
		return TenantPolicy{}, nil
	}
	return e.tenantModules(ctx, tenantID, kind)
}

// EvaluateDocument is Evaluate on shared plus the decision's own top-level keys:
// the decisions of one request share the converted shared part instead of
// converting the whole input document for each.
func (e *Engine) EvaluateDocument(ctx context.Context, tenantID string, kind Kind, shared Document, own map[string]any) (Decision, error) {
	return e.evaluate(ctx, tenantID, kind, campaignOf(own), e.active, true, func() (ast.Value, error) { return shared.with(own) })
}

type policyFunc func(ctx context.Context, tenantID string, kind Kind) (TenantPolicy, error)

// evaluate decides kind for tenantID with the version policy names. With memo,
// a decision the memo holds is answered from it, and one evaluated is kept
// there; the dry run of a version passes false.
func (e *Engine) evaluate(ctx context.Context, tenantID string, kind Kind, campaignID string, policy policyFunc, memo bool, input func() (ast.Value, error)) (d Decision, err error) {
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
	tp, err := policy(ctx, tenantID, kind)
	if err != nil {
		return failed(kind, fmt.Errorf("evaluate %s policy: load tenant policy: %w", kind, err))
	}
	version := tp.Version
	if version == "" {
		version = BaseVersion
		if len(tp.Modules) > 0 || tp.Data != nil || tp.ReplaceBase {
			return failed(kind, fmt.Errorf("evaluate %s policy: a policy with modules, data or replace_base needs a version", kind))
		}
	}
	span.SetAttributes(attrVersion.String(version))
	if kind == Segments && version == BaseVersion {
		// The base segments policy has no members: nothing to evaluate.
		return Decision{Kind: kind}, nil
	}

	// A split version decides as the union of its own query and the base query
	// (but for segments: the base segments policy has no members, as above).
	var query, base rego.PreparedEvalQuery
	var reads inputReads
	split := false
	if version == BaseVersion {
		var c *compiled
		if c, err = e.baseQuery(kind); err == nil {
			query, reads = c.query, c.reads
		}
	} else {
		var p *prepared
		if p, err = e.prepared(ctx, cacheKey{tenantID: tenantID, kind: kind, version: version}, tp); err == nil {
			query, split, reads = p.query, p.split && kind != Segments, p.reads
		}
		if err == nil && split {
			var c *compiled
			if c, err = e.baseQuery(kind); err == nil {
				base = c.query
			}
		}
	}
	if err != nil {
		return failed(kind, fmt.Errorf("evaluate %s policy %s: %w", kind, version, err))
	}
	value, err := input()
	if err != nil {
		return failed(kind, fmt.Errorf("evaluate %s policy: input: %w", kind, err))
	}
	var key [32]byte
	timedOut := false
	memo = memo && e.memo != nil && reads != nil
	if memo {
		key, memo = reads.key(tenantID, kind, version, value)
	}
	if memo {
		if m, ok := e.memo.Get(key); ok {
			span.SetAttributes(attrMemoized.Bool(true))
			return m.clone(), nil
		}
		defer func() {
			if err == nil && !timedOut {
				e.memo.Put(key, d.clone())
			}
		}()
	}

	// One deadline covers both evaluations of a split version.
	evalCtx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	rs, err := query.Eval(evalCtx, rego.EvalParsedInput(value))
	if err == nil && split {
		var brs rego.ResultSet
		if brs, err = base.Eval(evalCtx, rego.EvalParsedInput(value)); err == nil {
			rs, err = union(rs, brs)
		}
	}
	if err != nil {
		if errors.Is(evalCtx.Err(), context.DeadlineExceeded) && (topdown.IsCancel(err) || errors.Is(err, context.DeadlineExceeded)) {
			span.SetStatus(codes.Error, "policy evaluation timed out")
			timedOut = true
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

// with is the document plus own's keys (which win over shared ones).
func (d Document) with(own map[string]any) (ast.Value, error) {
	return extend(d.base, own)
}

// extend is a new object of obj's members (nil: none) plus extra's keys, which
// win, converted by ownValue. obj's terms are shared, not copied: evaluation
// only reads its input.
func extend(obj ast.Object, extra map[string]any) (ast.Object, error) {
	out := ast.NewObject()
	if obj != nil {
		obj.Foreach(func(k, v *ast.Term) { out.Insert(k, v) })
	}
	for k, v := range extra {
		val, err := ownValue(v)
		if err != nil {
			return nil, err
		}
		out.Insert(ast.StringTerm(k), ast.NewTerm(val))
	}
	return out, nil
}

// Value is part of an input document converted to OPA's form once, for the
// decisions of one request that each read it: a redeemable's document is read
// by its eligibility decision and by the stacking decisions, as the candidate
// and then among the applied. EvaluateDocument takes a Value, or a []Value as
// an array, as the value of an own key. Evaluation only reads it.
type Value struct{ v ast.Value }

// NewValue converts x.
func NewValue(x any) (Value, error) {
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		return Value{}, fmt.Errorf("policy input: %w", err)
	}
	return Value{v}, nil
}

// With is v, an object, plus the keys of extra (which win, and may be Values
// too); v is not changed.
func (v Value) With(extra map[string]any) (Value, error) {
	obj, ok := v.v.(ast.Object)
	if !ok {
		return Value{}, fmt.Errorf("policy input: %s, not an object", ast.ValueName(v.v))
	}
	out, err := extend(obj, extra)
	if err != nil {
		return Value{}, fmt.Errorf("policy input: %w", err)
	}
	return Value{out}, nil
}

// ownValue converts the value of an own key of EvaluateDocument.
func ownValue(x any) (ast.Value, error) {
	switch x := x.(type) {
	case Value:
		return x.v, nil
	case []Value:
		terms := make([]*ast.Term, len(x))
		for i, v := range x {
			terms[i] = ast.NewTerm(v.v)
		}
		return ast.NewArray(terms...), nil
	}
	return ast.InterfaceToValue(x)
}

// campaignIDPath is where a redeemable's document holds its campaign's id.
var campaignIDPath = ast.Ref{ast.StringTerm("campaign"), ast.StringTerm("id")}

// campaignOf is the id of the campaign a decision is about (the redeemable's or the
// stacking candidate's), for the span: an opaque id, never input values.
func campaignOf(input map[string]any) string {
	for _, k := range []string{"redeemable", "candidate"} {
		switch r := input[k].(type) {
		case map[string]any:
			if c, ok := r["campaign"].(map[string]any); ok {
				if id, ok := c["id"].(string); ok {
					return id
				}
			}
		case Value:
			if id, err := r.v.Find(campaignIDPath); err == nil {
				if s, ok := id.(ast.String); ok {
					return string(s)
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
	q[Segments] = "member := {m | some m in data.punchcard.segments.member}"
	return q
}()

// DecisionQuery is the query the engine evaluates for a decision of kind: what a
// raw OPA evaluation of the same policies must evaluate to decide alike.
func DecisionQuery(kind Kind) string { return queries[kind] }

// baseQuery is the shared compiled query of kind's base policies.
func (e *Engine) baseQuery(kind Kind) (*compiled, error) {
	b := e.base[kind]
	b.once.Do(func() { b.q, b.err = build(context.Background(), kind, TenantPolicy{}) })
	if b.err != nil {
		return nil, fmt.Errorf("compile: %w", b.err)
	}
	return b.q, nil
}

// prepared returns the cache entry of a tenant version, compiling it on a
// miss. Callers that arrive while another compiles the same key wait for that
// compilation.
func (e *Engine) prepared(ctx context.Context, key cacheKey, p TenantPolicy) (*prepared, error) {
	entry, fill := e.cache.get(key)
	if fill {
		var weight int64
		c, err := build(ctx, key.kind, p)
		if err == nil && c.split && key.kind != Segments { // as evaluate unions them
			var b *compiled
			if b, err = e.baseQuery(key.kind); err == nil {
				c.reads = c.reads.merge(b.reads)
			}
		}
		if err != nil {
			entry.err = fmt.Errorf("compile: %w", err)
		} else {
			entry.query, entry.split, entry.reads, weight = c.query, c.split, c.reads, c.weight
		}
		e.cache.done(entry, weight)
	} else {
		select {
		case <-entry.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if entry.err != nil {
		return nil, entry.err
	}
	return entry, nil
}

// union is the result of the decision query over two sets of modules evaluated
// apart (a split version's and the base's) as it would be over both compiled
// together: deny, review and member are the union of the two sets, in OPA's
// order of set elements, identical elements once; risk_score the greater (only
// one side can define it, see independent). Results that are not one set of
// bindings each are returned as they are, for decode to refuse.
func union(a, b rego.ResultSet) (rego.ResultSet, error) {
	if len(a) != 1 || len(b) != 1 {
		return a, nil
	}
	out := make(map[string]any, len(a[0].Bindings))
	for k, av := range a[0].Bindings {
		bv, inB := b[0].Bindings[k]
		switch {
		case !inB:
			out[k] = av
		case k == "risk_score":
			out[k] = maxScore(av, bv)
		default:
			v, err := unionSet(av, bv)
			if err != nil {
				return nil, fmt.Errorf("merge %s: %w", k, err)
			}
			out[k] = v
		}
	}
	for k, bv := range b[0].Bindings {
		if _, inA := a[0].Bindings[k]; !inA {
			out[k] = bv
		}
	}
	return rego.ResultSet{{Bindings: out}}, nil
}

// unionSet is the union of two sets as query results ([]any, elements in OPA's
// order), in the same form.
func unionSet(a, b any) (any, error) {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	switch {
	case !aok || !bok:
		return a, nil // not sets: decode refuses them
	case len(bs) == 0:
		return a, nil
	case len(as) == 0:
		return b, nil
	}
	s := ast.NewSet()
	for _, x := range slices.Concat(as, bs) {
		v, err := ast.InterfaceToValue(x)
		if err != nil {
			return nil, err
		}
		s.Add(ast.NewTerm(v))
	}
	return ast.JSON(s)
}

// maxScore is the array of at most one risk score (the query's risk_score) with
// the greater score of a and b.
func maxScore(a, b any) any {
	as, _ := a.([]any)
	bs, _ := b.([]any)
	if len(as) == 0 {
		return b
	}
	if len(bs) == 0 {
		return a
	}
	x, errA := number(as[0])
	y, errB := number(bs[0])
	if errA == nil && errB == nil && y > x {
		return b
	}
	return a
}

// decode turns the query's bindings into a Decision.
func decode(kind Kind, rs rego.ResultSet) (Decision, error) {
	if len(rs) != 1 {
		return Decision{}, fmt.Errorf("decode decision: %d results, want 1", len(rs))
	}
	b := rs[0].Bindings
	d := Decision{Kind: kind}
	if kind == Segments {
		members, err := stringSet(b["member"])
		if err != nil {
			return Decision{}, fmt.Errorf("decode member: %w", err)
		}
		d.Members = members
		return d, nil
	}
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
		if r.Rule == "" {
			r.Rule = RuleTenant
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

// stringSet reads a set of strings, sorted.
func stringSet(v any) ([]string, error) {
	elems, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("got %T, want a set", v)
	}
	if len(elems) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(elems))
	for _, el := range elems {
		s, ok := el.(string)
		if !ok {
			return nil, fmt.Errorf("element %v is a %T, want a string", el, el)
		}
		out = append(out, s)
	}
	slices.Sort(out)
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
