package policies

import (
	"crypto/sha256"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A decision is a function of the policy version and of the parts of the input
// document the policy reads. When the compiled modules show which parts those
// are, the engine memoizes decisions keyed by the tenant, kind, version and the
// values at those paths: a fraud decision reads the customer's velocity counts,
// the tenant's thresholds and how many redeemables the request names, and
// repeats for every request with the same three.
//
// A policy is memoized only when its reads can be named exactly:
//   - every reference to the input starts with constant keys (input.velocity[name]
//     reads input.velocity whole; input[k] or input itself reads everything);
//   - it calls no non-deterministic builtin (time.now_ns, rand.intn, a
//     certificate check against the clock, …) and no function the engine does
//     not know;
//   - it replaces nothing with `with`;
//   - it reads none of the per-request parts (now, local, request), which differ
//     on every request, so that memoizing would only cost.
//
// A reference passed straight to count, is_array and the other type and size
// builtins reads only the type and size of its value. The compiler passes it
// through a variable of its own (__local1__ = input.redeemables;
// count(__local1__, n)); such a variable used only there counts as passed
// straight.

// memoTTL bounds how long a memoized decision is kept. Decisions do not go
// stale (versions are immutable); the TTL only lets unused entries go.
const memoTTL = 10 * time.Minute

// DefaultMemoEntries is the default bound of Options.MemoEntries.
const DefaultMemoEntries = 100_000

// maxMemoKey bounds the text of the values read. A larger projection (an
// order of hundreds of items) is evaluated each time rather than hashed.
const maxMemoKey = 4096

// perRequest are the top-level input keys that differ on every request.
var perRequest = []string{"now", "local", "request"}

// clockBuiltins read the clock though OPA does not mark them non-deterministic:
// they check certificates against the current time.
var clockBuiltins = map[string]bool{
	"crypto.x509.parse_and_verify_certificates":              true,
	"crypto.x509.parse_and_verify_certificates_with_options": true,
}

// shapeBuiltins read only the type and size of their argument.
var shapeBuiltins = map[string]bool{
	"count": true, "is_array": true, "is_object": true, "is_set": true, "is_string": true,
	"is_number": true, "is_boolean": true, "is_null": true, "type_name": true,
}

// inputReads are the paths of the input a compiled policy reads, sorted; nil
// means the policy cannot be memoized.
type inputReads []inputRead

type inputRead struct {
	path  ast.Ref // input.velocity
	text  string  // its text, the key's label
	shape bool    // only the type and size are read
}

// analyzeReads names what the compiled modules read of their input, or returns
// nil when that cannot be named exactly (see above).
func analyzeReads(modules map[string]*ast.Module) inputReads {
	a := readAnalysis{value: map[string]ast.Ref{}, shape: map[string]ast.Ref{}, alias: map[ast.Var]ast.Ref{}, aliasValue: map[ast.Var]bool{}, ok: true}
	a.vis = ast.NewGenericVisitor(a.visit)
	// A variable is an alias only when it is bound to an input reference once in
	// all the modules: bound twice (x := input.a; x == input.b compiles to two
	// such bindings), or named alike in two rules, it is read as any other.
	bindings := map[ast.Var]int{}
	for _, name := range slices.Sorted(maps.Keys(modules)) {
		ast.WalkExprs(modules[name], func(x *ast.Expr) bool {
			if v, r, ok := inputAlias(x); ok {
				a.alias[v] = r
				bindings[v]++
			}
			return false
		})
	}
	for v, n := range bindings {
		if n > 1 {
			delete(a.alias, v)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(modules)) {
		a.vis.Walk(modules[name])
	}
	for v, r := range a.alias {
		a.read(r, !a.aliasValue[v])
	}
	if !a.ok {
		return nil
	}
	out := inputReads{}
	for text, p := range a.value {
		out = append(out, inputRead{path: p, text: text})
	}
	for text, p := range a.shape {
		if _, whole := a.value[text]; !whole {
			out = append(out, inputRead{path: p, text: text, shape: true})
		}
	}
	for _, r := range out {
		if k, ok := r.path[1].Value.(ast.String); ok && slices.Contains(perRequest, string(k)) {
			return nil
		}
	}
	return out.normal()
}

// normal is r sorted, without the reads of paths inside a path read whole.
func (r inputReads) normal() inputReads {
	out := make(inputReads, 0, len(r))
	for _, x := range r {
		if !slices.ContainsFunc(r, func(y inputRead) bool { return !y.shape && len(y.path) < len(x.path) && x.path.HasPrefix(y.path) }) {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b inputRead) int { return a.path.Compare(b.path) })
	return out
}

// merge is the reads of two policies evaluated together (a split version and
// the base), nil when either cannot be memoized.
func (r inputReads) merge(o inputReads) inputReads {
	if r == nil || o == nil {
		return nil
	}
	out := slices.Clone(r)
	for _, x := range o {
		if i := slices.IndexFunc(out, func(y inputRead) bool { return y.text == x.text }); i >= 0 {
			out[i].shape = out[i].shape && x.shape
			continue
		}
		out = append(out, x)
	}
	return out.normal()
}

type readAnalysis struct {
	vis        *ast.GenericVisitor
	value      map[string]ast.Ref
	shape      map[string]ast.Ref
	alias      map[ast.Var]ast.Ref // compiler variables bound to a constant input reference
	aliasValue map[ast.Var]bool    // aliases used other than as a type or size argument
	ok         bool
}

// inputAlias reports whether x binds a compiler variable to a constant input
// reference (__local1__ = input.redeemables).
func inputAlias(x *ast.Expr) (ast.Var, ast.Ref, bool) {
	if !x.IsEquality() || x.Negated || len(x.With) > 0 {
		return "", nil, false
	}
	v, isVar := x.Operand(0).Value.(ast.Var)
	r, isRef := x.Operand(1).Value.(ast.Ref)
	if !isVar || !v.IsGenerated() || !isRef || !r.HasPrefix(ast.InputRootRef) || len(constantPrefix(r)) != len(r) {
		return "", nil, false
	}
	return v, r, true
}

func (a *readAnalysis) visit(x any) bool {
	if !a.ok {
		return true
	}
	switch x := x.(type) {
	case *ast.Import:
		return true // the compiler resolved imports into the references below
	case *ast.Head:
		a.vis.Walk(x.Reference) // m[input.a].flag := true; the visitor walks the rest
	case ast.Var:
		if x.Equal(ast.InputRootDocument.Value) {
			a.ok = false // the input as a whole
		}
		if _, ok := a.alias[x]; ok {
			a.aliasValue[x] = true
		}
	case *ast.Expr:
		if len(x.With) > 0 {
			a.ok = false
			return true
		}
		if v, _, ok := inputAlias(x); ok && a.alias[v] != nil {
			return true // read once its uses are known
		}
		if x.IsCall() {
			return a.call(x.Operator(), x.Operands())
		}
	case ast.Call:
		return a.call(x[0].Value.(ast.Ref), x[1:])
	case ast.Ref:
		if !x.HasPrefix(ast.InputRootRef) {
			return false
		}
		a.read(x, false)
		for _, t := range x[1:] {
			a.vis.Walk(t)
		}
		return true
	}
	return false
}

// call checks a call's operator and walks its operands, noting the input
// references a type or size builtin is given directly.
func (a *readAnalysis) call(op ast.Ref, operands []*ast.Term) bool {
	name := op.String()
	if !op.HasPrefix(ast.DefaultRootRef) {
		b, known := ast.BuiltinMap[name]
		if !known || b.Nondeterministic || clockBuiltins[name] {
			a.ok = false
			return true
		}
	}
	for i, t := range operands {
		if shapeBuiltins[name] && i == 0 {
			if r, isRef := t.Value.(ast.Ref); isRef && r.HasPrefix(ast.InputRootRef) && len(constantPrefix(r)) == len(r) {
				a.read(r, true)
				continue
			}
			if v, isVar := t.Value.(ast.Var); isVar && a.alias[v] != nil {
				continue
			}
		}
		a.vis.Walk(t)
	}
	return true
}

// read notes a reference to the input, by its constant prefix.
func (a *readAnalysis) read(r ast.Ref, shape bool) {
	p := constantPrefix(r)
	if len(p) < 2 {
		a.ok = false
		return
	}
	if shape {
		a.shape[p.String()] = p
	} else {
		a.value[p.String()] = p
	}
}

// constantPrefix is r up to its first key that is not a string or an array
// index written as a plain integer. Other spellings of a number (1e0) compare
// equal to the integer but index nothing, so a read under one is not folded
// into a read of the index.
func constantPrefix(r ast.Ref) ast.Ref {
	for i := 1; i < len(r); i++ {
		switch k := r[i].Value.(type) {
		case ast.String:
		case ast.Number:
			if n, err := strconv.Atoi(string(k)); err != nil || n < 0 || strconv.Itoa(n) != string(k) {
				return r[:i]
			}
		default:
			return r[:i]
		}
	}
	return r
}

// key is the memo key of a decision of kind by version for tenantID on input,
// and false when the values read are too large to be worth hashing.
func (r inputReads) key(tenantID string, kind Kind, version string, input ast.Value) ([32]byte, bool) {
	bp := keyBuffers.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= 16*maxMemoKey { // a buffer grown past that is not kept
			*bp = buf[:0]
			keyBuffers.Put(bp)
		}
	}()
	buf = append(buf, tenantID...)
	buf = append(buf, 0)
	buf = append(buf, kind...)
	buf = append(buf, 0)
	buf = append(buf, version...)
	for _, x := range r {
		buf = append(buf, 0)
		buf = append(buf, x.text...)
		v, err := input.Find(x.path[1:])
		switch {
		case err != nil:
			buf = append(buf, '!') // undefined
		case x.shape:
			buf = append(buf, '~')
			buf = appendShape(buf, v)
		default:
			buf = append(buf, '=')
			if buf, err = ast.NewTerm(v).AppendText(buf); err != nil { // canonical: keys and set elements sorted
				return [32]byte{}, false
			}
		}
		if len(buf) > maxMemoKey {
			return [32]byte{}, false
		}
	}
	return sha256.Sum256(buf), true
}

// keyBuffers hold the text of memo keys while they are hashed.
var keyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendShape appends what the type and size builtins see of v.
func appendShape(buf []byte, v ast.Value) []byte {
	buf = append(buf, ast.ValueName(v)...)
	n := -1
	switch v := v.(type) {
	case *ast.Array:
		n = v.Len()
	case ast.Object:
		n = v.Len()
	case ast.Set:
		n = v.Len()
	case ast.String:
		n = utf8.RuneCountInString(string(v))
	}
	if n >= 0 {
		buf = append(buf, ':')
		buf = strconv.AppendInt(buf, int64(n), 10)
	}
	return buf
}

// clone is d with slices of its own, so that a memoized decision is never
// changed through one handed out.
func (d Decision) clone() Decision {
	d.Deny, d.Review, d.Members = slices.Clone(d.Deny), slices.Clone(d.Review), slices.Clone(d.Members)
	return d
}
