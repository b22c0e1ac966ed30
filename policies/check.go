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

// Check validates a tenant's policy version for kind exactly as the engine
// compiles it, so that every error surfaces when the version is published
// rather than when it is first evaluated:
//
//   - module names end in .rego; _test.rego files must parse (and pass the
//     sandbox's checks) but are not compiled into the policy;
//   - every other module declares package punchcard.<kind> or a subpackage of it;
//   - the size limits (MaxModules, MaxModuleBytes, MaxSourceBytes), the nesting
//     limit (MaxASTDepth) and the constant numbers.range limit (MaxRangeElements);
//   - no forbidden builtin (http.send, net.*, opa.runtime, trace);
//   - a strict compile together with the base modules of kind (without them for
//     a stacking policy with ReplaceBase; ReplaceBase on another kind is an error);
//   - Data, when set, is a JSON object of at most MaxDataBytes;
//   - the decision query prepares.
//
// Problems turns the error into located problems (file, row, column, message).
func Check(ctx context.Context, kind Kind, p TenantPolicy) error {
	if _, err := build(ctx, kind, p); err != nil {
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
	query  rego.PreparedEvalQuery // safe for concurrent Eval
	weight int64
}

// Memory estimate of a cached query. Calibrated by measuring the HeapAlloc
// growth (after GC) of 100 kept compilations each of the base eligibility
// policy alone (9.3 KB of Rego: 252 KiB), of 3 tenant modules alone (4.7 KB:
// 187 KiB) and of both (358 KiB), OPA v1.22: a fixed ~120 KiB per compiler
// (mostly the type environment of the sandbox's builtins, which every
// ast.Compiler rebuilds) plus ~19 bytes per byte of Rego compiled, base modules
// included. BenchmarkTenantCompile reports measured and estimated KiB/tenant
// side by side. The data document is held once as AST values.
const (
	weightFixed      = 120 << 10 // bytes per entry: compiler, builtin types, prepared query
	weightPerSrcByte = 19        // bytes per byte of Rego compiled
	weightPerDataB   = 8         // bytes per byte of the JSON data document
)

// build validates p as Check documents and prepares its decision query.
func build(ctx context.Context, kind Kind, p TenantPolicy) (*compiled, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	if p.ReplaceBase && kind != Stacking {
		return nil, fmt.Errorf("replace_base is only allowed for stacking policies, not %s", kind)
	}
	store, dataBytes, err := dataStore(p.Data)
	if err != nil {
		return nil, err
	}
	return buildSet(ctx, kind, p, p.ReplaceBase, store, dataBytes)
}

// buildSet prepares p's decision query, with the base modules of kind unless noBase.
func buildSet(ctx context.Context, kind Kind, p TenantPolicy, noBase bool, store storage.Store, dataBytes int) (*compiled, error) {
	tenant, err := parseTenant(kind, p.Modules)
	if err != nil {
		return nil, err
	}
	p.ReplaceBase = noBase
	all, srcBytes := compileSet(kind, p, tenant, false)
	if len(all) > MaxModules {
		return nil, fmt.Errorf("%d modules with the base modules, at most %d allowed", len(all), MaxModules)
	}
	c := newCompiler()
	if c.Compile(all); c.Failed() {
		return nil, c.Errors
	}
	opts := []func(*rego.Rego){
		rego.Compiler(c),
		rego.Query(queries[kind]),
		rego.Capabilities(capabilities),
		rego.SetRegoVersion(ast.RegoV1),
		rego.Strict(true),
		rego.StrictBuiltinErrors(true),
	}
	if store != nil {
		opts = append(opts, rego.Store(store))
	}
	pq, err := rego.New(opts...).PrepareForEval(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return &compiled{
		query:  pq,
		weight: weightFixed + weightPerSrcByte*int64(srcBytes) + weightPerDataB*int64(dataBytes),
	}, nil
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
