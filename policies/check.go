package policies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"
)

// Check validates a tenant's policy version for kind as the engine compiles it
// when it cannot split it from the base modules (see build), so that every
// error surfaces when the version is published rather than when it is first
// evaluated:
//
//   - module names end in .rego; _test.rego files must parse (and pass the
//     sandbox's checks) but are not compiled into the policy;
//   - every other module declares package punchcard.<kind> or a subpackage of it;
//   - the size limits (MaxModules, MaxModuleBytes, MaxSourceBytes), the nesting
//     limit (MaxASTDepth) and the constant numbers.range limit (MaxRangeElements);
//   - no forbidden builtin (http.send, net.*, opa.runtime, trace);
//   - a strict compile together with the base modules of kind (without them for
//     a stacking policy with ReplaceBase; ReplaceBase on another kind is an error),
//     which also catches a tenant rule conflicting with a base rule (deny := set());
//   - Data, when set, is a JSON object of at most MaxDataBytes;
//   - the decision query prepares.
//
// Problems turns the error into located problems (file, row, column, message).
func Check(ctx context.Context, kind Kind, p TenantPolicy) error {
	store, dataBytes, tenant, err := prepareVersion(kind, p)
	if err == nil {
		_, err = buildSet(ctx, kind, p, tenant, store, dataBytes, false)
	}
	if err != nil {
		return fmt.Errorf("check %s policy: %w", kind, err)
	}
	return nil
}

// Problem is one located error of a policy version, for the API's 422 body and
// the command line. File, Row and Col are zero when the error has no location.
type Problem struct {
	File    string `json:"file,omitempty"`
	Row     int    `json:"row,omitempty"`
	Col     int    `json:"col,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	switch {
	case p.File == "":
		return p.Message
	case p.Row == 0:
		return p.File + ": " + p.Message
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Row, p.Col, p.Message)
}

// Problems lists the problems in err (an error from Check, CheckModules or
// RunTenantTests): one per located Rego error, or the whole error as one
// problem without location. It is nil for a nil error.
func Problems(err error) []Problem {
	if err == nil {
		return nil
	}
	var astErrs ast.Errors
	if !errors.As(err, &astErrs) || len(astErrs) == 0 {
		var one *ast.Error
		if errors.As(err, &one) {
			astErrs = ast.Errors{one}
		} else {
			return []Problem{{Message: err.Error()}}
		}
	}
	out := make([]Problem, 0, len(astErrs))
	for _, e := range astErrs {
		p := Problem{Message: e.Message}
		if e.Location != nil {
			p.File, p.Row, p.Col = e.Location.File, e.Location.Row, e.Location.Col
		}
		// A message that already starts with the file name (size errors) does
		// not repeat it.
		p.Message = strings.TrimPrefix(p.Message, p.File+": ")
		out = append(out, p)
	}
	return out
}

// compiled is a tenant version's prepared decision query and the memory it is
// estimated to hold in the cache.
type compiled struct {
	query rego.PreparedEvalQuery // safe for concurrent Eval
	// split is set when query is the tenant's modules compiled alone: a decision
	// is the union of query's and the shared base query's (see independent).
	split  bool
	weight int64
	// reads is what the modules read of their input (nil: not memoized).
	reads inputReads
}

// Memory estimate of a cached query. Calibrated by measuring the HeapAlloc
// growth (after GC) of 100 kept compilations, OPA v1.22: the 3 eligibility
// tenant modules of BenchmarkTenantCompile (3.3 KB of Rego) compiled alone, as
// a split version: 140 KiB (145 with their data document); the same compiled
// with the base modules (9.3 KB): 315 KiB; the base modules alone: 204 KiB; one
// 120-byte fraud module: 34 KiB. Compiles allow only the builtins the modules
// name (capabilitiesFor), so the type environment every ast.Compiler builds of
// its builtins is small (it was ~40 KiB with the whole sandbox); what remains is
// a fixed ~35 KiB per compiler and prepared query plus the parsed and rewritten
// modules, their locations and rule indices: ~33 bytes per byte of tenant Rego
// (short rules, many terms) and ~19 per byte of the base modules. The estimate
// is within a few percent of each measurement above. BenchmarkTenantCompile
// reports measured and estimated KiB/tenant side by side. The data document is
// held once as AST values.
const (
	weightFixed       = 36 << 10 // bytes per entry: compiler, builtin types, prepared query
	weightPerSrcByte  = 33       // bytes per byte of tenant Rego compiled
	weightPerBaseByte = 19       // bytes per byte of base Rego compiled
	weightPerDataB    = 8        // bytes per byte of the JSON data document
)

// build is the engine's compilation of p: its tenant modules alone when they
// are independent of the base modules (split), otherwise together with them as
// Check compiles them. Both compile with the builtins the modules use only
// (capabilitiesFor), falling back to the whole sandbox should that fail, so
// that errors read as Check's.
func build(ctx context.Context, kind Kind, p TenantPolicy) (*compiled, error) {
	store, dataBytes, tenant, err := prepareVersion(kind, p)
	if err != nil {
		return nil, err
	}
	if !p.ReplaceBase {
		if c := buildSplit(ctx, kind, p, tenant, store, dataBytes); c != nil {
			return c, nil
		}
	}
	return buildSet(ctx, kind, p, tenant, store, dataBytes, true)
}

// prepareVersion checks kind and p's flags, loads p's data document and parses
// p's modules.
func prepareVersion(kind Kind, p TenantPolicy) (storage.Store, int, map[string]*ast.Module, error) {
	if !kind.Valid() {
		return nil, 0, nil, fmt.Errorf("unknown kind %q", kind)
	}
	if p.ReplaceBase && kind != Stacking {
		return nil, 0, nil, fmt.Errorf("replace_base is only allowed for stacking policies, not %s", kind)
	}
	store, dataBytes, err := dataStore(p.Data)
	if err != nil {
		return nil, 0, nil, err
	}
	tenant, err := parseTenant(kind, p.Modules)
	if err != nil {
		return nil, 0, nil, err
	}
	return store, dataBytes, tenant, nil
}

// buildSplit compiles p's modules (tests left out) without the base modules of
// kind. It returns nil when they do not compile alone or are not independent of
// the base modules: then they must be compiled together.
func buildSplit(ctx context.Context, kind Kind, p TenantPolicy, tenant map[string]*ast.Module, store storage.Store, dataBytes int) *compiled {
	mods := make(map[string]*ast.Module, len(tenant))
	n := 0
	for name, m := range tenant {
		if !IsTestFile(name) {
			mods[name] = m.Copy() // tenant is compiled with the base modules if this fails
			n += len(p.Modules[name])
		}
	}
	if len(mods) == 0 {
		return nil
	}
	caps := capabilitiesFor(kind, mods)
	c := newCompiler().WithCapabilities(caps)
	if c.Compile(mods); c.Failed() || !independent(kind, c.Modules) {
		return nil
	}
	pq, err := prepare(ctx, kind, c, caps, store)
	if err != nil {
		return nil
	}
	return &compiled{query: pq, split: true, weight: weight(n, 0, dataBytes), reads: analyzeReads(c.Modules)}
}

// buildSet prepares p's decision query with the base modules of kind unless
// p.ReplaceBase. With restrict it first compiles with the builtins the modules
// use only.
func buildSet(ctx context.Context, kind Kind, p TenantPolicy, tenant map[string]*ast.Module, store storage.Store, dataBytes int, restrict bool) (*compiled, error) {
	all, srcBytes := compileSet(kind, p, tenant, false)
	baseBytes := 0
	if !p.ReplaceBase {
		for _, src := range baseSource()[kind] {
			baseBytes += len(src)
		}
	}
	w := weight(srcBytes-baseBytes, baseBytes, dataBytes)
	if len(all) > MaxModules {
		return nil, fmt.Errorf("%d modules with the base modules, at most %d allowed", len(all), MaxModules)
	}
	if restrict {
		mods := make(map[string]*ast.Module, len(all))
		for name, m := range all {
			mods[name] = m.Copy() // all is compiled with the whole sandbox if this fails
		}
		caps := capabilitiesFor(kind, mods)
		c := newCompiler().WithCapabilities(caps)
		if c.Compile(mods); !c.Failed() {
			if pq, err := prepare(ctx, kind, c, caps, store); err == nil {
				return &compiled{query: pq, weight: w, reads: analyzeReads(c.Modules)}, nil
			}
		}
	}
	c := newCompiler()
	if c.Compile(all); c.Failed() {
		return nil, c.Errors
	}
	pq, err := prepare(ctx, kind, c, capabilities, store)
	if err != nil {
		return nil, err
	}
	return &compiled{query: pq, weight: w, reads: analyzeReads(c.Modules)}, nil
}

// prepare prepares kind's decision query on the compiled modules of c.
func prepare(ctx context.Context, kind Kind, c *ast.Compiler, caps *ast.Capabilities, store storage.Store) (rego.PreparedEvalQuery, error) {
	opts := []func(*rego.Rego){
		rego.Compiler(c),
		// A copy of the query parsed once shares its locations with every other.
		rego.ParsedQuery(parsedQueries()[kind].Copy()),
		rego.Capabilities(caps),
		rego.SetRegoVersion(ast.RegoV1),
		rego.Strict(true),
		rego.StrictBuiltinErrors(true),
	}
	if store != nil {
		opts = append(opts, rego.Store(store))
	}
	pq, err := rego.New(opts...).PrepareForEval(context.WithoutCancel(ctx))
	if err != nil {
		return rego.PreparedEvalQuery{}, fmt.Errorf("prepare: %w", err)
	}
	return pq, nil
}

// weight is the estimated memory of a cached query compiled from srcBytes of
// tenant Rego and baseBytes of base Rego, with dataBytes of JSON data.
func weight(srcBytes, baseBytes, dataBytes int) int64 {
	return weightFixed + weightPerSrcByte*int64(srcBytes) + weightPerBaseByte*int64(baseBytes) + weightPerDataB*int64(dataBytes)
}

// parseTenant parses a tenant's modules (tests included) in the sandbox and
// checks their names and packages.
func parseTenant(kind Kind, modules Modules) (map[string]*ast.Module, error) {
	var errs ast.Errors
	for _, name := range slices.Sorted(maps.Keys(modules)) {
		if !strings.HasSuffix(name, ".rego") {
			errs = append(errs, located(name, nil, "%s: module names must end in .rego", name))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	parsed, err := parse(modules)
	if err != nil {
		return nil, err
	}
	pkg := ast.MustParseRef("data." + kind.Package())
	for _, name := range slices.Sorted(maps.Keys(parsed)) {
		m := parsed[name]
		if IsTestFile(name) || m.Package.Path.HasPrefix(pkg) {
			continue
		}
		errs = append(errs, located(name, m.Package.Location,
			"package %s is not allowed in a %s policy: declare package %s or a subpackage of it",
			strings.TrimPrefix(m.Package.Path.String(), "data."), kind, kind.Package()))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return parsed, nil
}

// compileSet is what the compiler is given for p: copies of the base modules of
// kind (none with ReplaceBase) and the tenant's modules, test files only when
// tests is set, and how many bytes of source that is. Base modules are keyed
// apart so that a tenant file named like a base file cannot replace it.
func compileSet(kind Kind, p TenantPolicy, tenant map[string]*ast.Module, tests bool) (map[string]*ast.Module, int) {
	out := make(map[string]*ast.Module, len(tenant)+2)
	n := 0
	if !p.ReplaceBase {
		for name, m := range parsedBase()[kind] {
			out["\x00"+name] = m.Copy()
			n += len(baseSource()[kind][strings.TrimPrefix(name, "base/")])
		}
	}
	for name, m := range tenant {
		if IsTestFile(name) && !tests {
			continue
		}
		out[name] = m
		n += len(p.Modules[name])
	}
	return out, n
}

// parsedBase is the base policies, parsed once; compiles take copies, since the
// compiler rewrites the modules it is given.
var parsedBase = sync.OnceValue(func() map[Kind]map[string]*ast.Module {
	out := make(map[Kind]map[string]*ast.Module, len(Kinds))
	for _, k := range Kinds {
		src := Modules{}
		for name, s := range Base(k) {
			src["base/"+name] = s // so that an error located in a base module says so
		}
		parsed, err := parse(src)
		if err != nil {
			panic("policies: parse embedded base policies: " + err.Error())
		}
		out[k] = parsed
	}
	return out
})

// baseSource is the source of the base policies per kind.
var baseSource = sync.OnceValue(func() map[Kind]Modules {
	out := make(map[Kind]Modules, len(Kinds))
	for _, k := range Kinds {
		out[k] = Base(k)
	}
	return out
})

// dataStore is the store holding a tenant's data document at data.tenant, and
// the document's size as JSON; nil when there is no document.
func dataStore(data map[string]any) (storage.Store, int, error) {
	if data == nil {
		return nil, 0, nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, 0, fmt.Errorf("data: not a JSON object: %w", err)
	}
	if len(raw) > MaxDataBytes {
		return nil, 0, fmt.Errorf("data: %d bytes of JSON, at most %d allowed", len(raw), MaxDataBytes)
	}
	var doc any
	if err := util.UnmarshalJSON(raw, &doc); err != nil {
		return nil, 0, fmt.Errorf("data: %w", err)
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		return nil, 0, fmt.Errorf("data: %w", err)
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, 0, errors.New("data: not a JSON object")
	}
	return inmem.NewFromASTObject(ast.NewObject(ast.Item(ast.StringTerm("tenant"), ast.NewTerm(obj)))), len(raw), nil
}
