package policies

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// forbiddenBuiltins are left out of the sandbox: policies are pure functions of
// their input, so nothing may reach the network, read the host's runtime
// (environment, configuration) or write to the server's trace output. Every
// net.* builtin is removed as well (see sandboxed).
var forbiddenBuiltins = map[string]bool{
	"http.send":   true,
	"opa.runtime": true,
	"trace":       true,
}

// capabilities is built once: ast.CapabilitiesForThisVersion returns a fresh
// value on every call, and the result is only read afterwards.
var capabilities = sandboxed(ast.CapabilitiesForThisVersion())

// sandboxed returns caps without the forbidden builtins and with no network
// access at compile time (AllowNet empty means no host, nil would mean any).
func sandboxed(caps *ast.Capabilities) *ast.Capabilities {
	caps.Builtins = slices.DeleteFunc(caps.Builtins, func(b *ast.Builtin) bool {
		return forbiddenBuiltins[b.Name] || strings.HasPrefix(b.Name, "net.")
	})
	caps.AllowNet = []string{}
	return caps
}

// Size limits, checked before parsing: OPA's compiler cannot be interrupted, so
// the amount of source it is given is what bounds compilation time.
// MaxASTDepth bounds the nesting of one module (rules, expressions, terms,
// comprehensions, collections), which bounds the recursion of the compiler and
// the evaluator. MaxRangeElements bounds numbers.range and numbers.range_step
// calls whose bounds are constants; bounds that come from the input or the data
// document are cut off by the evaluation deadline instead (OPA checks for
// cancellation while it generates a range).
const (
	MaxModules       = 100       // modules per compilation, base modules included
	MaxModuleBytes   = 256 << 10 // bytes of one module
	MaxSourceBytes   = 1 << 20   // bytes of all modules together
	MaxDataBytes     = 1 << 20   // bytes of a tenant's data document, as JSON
	MaxASTDepth      = 64        // nesting of a module's syntax tree
	MaxRangeElements = 1_000_000 // numbers in a numbers.range with constant bounds
)

// located is an ast.Error about file at loc (which may be nil: file only).
func located(file string, loc *ast.Location, format string, a ...any) *ast.Error {
	l := &ast.Location{File: file}
	if loc != nil {
		l = &ast.Location{File: file, Row: loc.Row, Col: loc.Col}
	}
	return ast.NewError(ast.CompileErr, l, format, a...)
}

// checkSize enforces the size limits. Errors about one module name it.
func checkSize(modules map[string]string) error {
	if len(modules) > MaxModules {
		return fmt.Errorf("%d modules, at most %d allowed", len(modules), MaxModules)
	}
	total := 0
	var errs ast.Errors
	for _, name := range slices.Sorted(maps.Keys(modules)) {
		n := len(modules[name])
		if n > MaxModuleBytes {
			errs = append(errs, located(name, nil, "%s: %d bytes, at most %d allowed", name, n, MaxModuleBytes))
		}
		total += n
	}
	if len(errs) > 0 {
		return errs
	}
	if total > MaxSourceBytes {
		return fmt.Errorf("%d bytes of Rego, at most %d allowed", total, MaxSourceBytes)
	}
	return nil
}

// parserOptions parse every module as Rego v1 against the sandbox.
func parserOptions() ast.ParserOptions {
	return ast.ParserOptions{RegoVersion: ast.RegoV1, Capabilities: capabilities}
}

// newCompiler returns a strict compiler restricted to the sandbox.
func newCompiler() *ast.Compiler {
	return ast.NewCompiler().
		WithCapabilities(capabilities).
		WithStrict(true).
		WithDefaultRegoVersion(ast.RegoV1)
}

// parse parses modules (file name → source) in file-name order, so that errors
// come out in a stable order, and inspects each for what the sandbox refuses
// before compiling (see inspect). It collects every file's errors.
func parse(modules map[string]string) (map[string]*ast.Module, error) {
	if err := checkSize(modules); err != nil {
		return nil, err
	}
	parsed := make(map[string]*ast.Module, len(modules))
	var errs ast.Errors
	for _, name := range slices.Sorted(maps.Keys(modules)) {
		m, err := ast.ParseModuleWithOpts(name, modules[name], parserOptions())
		if err != nil {
			var astErrs ast.Errors
			if errors.As(err, &astErrs) {
				errs = append(errs, astErrs...)
				continue
			}
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		if m == nil {
			// An empty file parses to nothing; the compiler needs a package.
			errs = append(errs, located(name, nil, "%s: empty module, a package declaration is required", name))
			continue
		}
		if ie := inspect(name, m); len(ie) > 0 {
			errs = append(errs, ie...)
			continue
		}
		parsed[name] = m
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return parsed, nil
}

// inspect walks m once and reports, with their locations, calls of forbidden
// builtins (a clearer message than the compiler's "undefined function"),
// numbers.range calls with constant bounds over MaxRangeElements, and nesting
// deeper than MaxASTDepth (reported once, at the first node too deep).
func inspect(file string, m *ast.Module) ast.Errors {
	// Names the module defines or imports shadow builtins of the same name.
	local := map[ast.Var]bool{}
	for _, imp := range m.Imports {
		if imp.Alias != "" {
			local[imp.Alias] = true
		} else if ref, ok := imp.Path.Value.(ast.Ref); ok && len(ref) > 1 {
			if s, ok := ref[len(ref)-1].Value.(ast.String); ok {
				local[ast.Var(s)] = true
			}
		}
	}
	for _, r := range m.Rules {
		if ref := r.Head.Ref(); len(ref) > 0 {
			if v, ok := ref[0].Value.(ast.Var); ok {
				local[v] = true
			}
		}
	}

	var errs ast.Errors
	call := func(op ast.Ref, args []*ast.Term, loc *ast.Location) {
		if len(op) == 0 {
			return
		}
		if head, ok := op[0].Value.(ast.Var); !ok || local[head] {
			return
		}
		name := op.String()
		switch {
		case forbiddenBuiltins[name] || strings.HasPrefix(name, "net."):
			errs = append(errs, located(file, loc, "%s is not allowed in Punchcard policies: policies cannot reach the network, the host's runtime or trace output", name))
		case name == "numbers.range" || name == "numbers.range_step":
			if n, ok := rangeSize(args); ok && n.Cmp(big.NewRat(MaxRangeElements, 1)) > 0 {
				errs = append(errs, located(file, loc, "%s would generate %s numbers, at most %d allowed", name, n.FloatString(0), MaxRangeElements))
			}
		}
	}

	depth, tooDeep := 0, false
	var last *ast.Location
	ast.NewBeforeAfterVisitor(func(x any) bool {
		depth++
		var loc *ast.Location
		switch x := x.(type) {
		case *ast.Rule:
			loc = x.Location
		case *ast.Expr:
			loc = x.Location
			if x.IsCall() {
				call(x.Operator(), x.Operands(), x.Location)
			}
		case *ast.Term:
			loc = x.Location
			if c, ok := x.Value.(ast.Call); ok && len(c) > 0 {
				if op, ok := c[0].Value.(ast.Ref); ok {
					call(op, c[1:], x.Location)
				}
			}
		}
		if loc != nil {
			last = loc
		}
		if depth > MaxASTDepth {
			if !tooDeep {
				tooDeep = true
				errs = append(errs, located(file, last, "nesting deeper than %d levels, simplify the expression", MaxASTDepth))
			}
			return true
		}
		return false
	}, func(any) { depth-- }).Walk(m)
	return errs
}

// rangeSize is how many numbers a numbers.range(_step) call with constant
// bounds generates; ok is false when a bound or the step is not a constant.
func rangeSize(args []*ast.Term) (n *big.Rat, ok bool) {
	if len(args) < 2 {
		return nil, false
	}
	num := func(t *ast.Term) (*big.Rat, bool) {
		v, isNum := t.Value.(ast.Number)
		if !isNum {
			return nil, false
		}
		return new(big.Rat).SetString(string(v))
	}
	x, okX := num(args[0])
	y, okY := num(args[1])
	if !okX || !okY {
		return nil, false
	}
	span := new(big.Rat).Sub(y, x)
	span.Abs(span)
	if len(args) > 2 {
		if step, ok := num(args[2]); ok && step.Sign() > 0 {
			span.Quo(span, step)
		}
	}
	return span.Add(span, big.NewRat(1, 1)), true
}

// compile parses and strictly compiles modules in the sandbox.
func compile(modules map[string]string) (*ast.Compiler, error) {
	parsed, err := parse(modules)
	if err != nil {
		return nil, err
	}
	c := newCompiler()
	if c.Compile(parsed); c.Failed() {
		return nil, c.Errors
	}
	return c, nil
}

// CheckModules parses and compiles modules (file name → Rego source) in the
// engine's sandbox: Rego v1, strict mode, sandboxed builtins, the size, depth
// and range limits. Modules may include _test.rego files and may extend the
// base packages; include the base modules (BaseModules) when checking additions
// to them. Check is the stricter check of one tenant policy version as the
// engine compiles it. The error, when there is one, wraps ast.Errors, each
// carrying the file, row and column; a module calling http.send, any net.*
// builtin, opa.runtime or trace fails with "<builtin> is not allowed in
// Punchcard policies".
func CheckModules(modules map[string]string) error {
	if len(modules) == 0 {
		return errors.New("check modules: no modules")
	}
	if _, err := compile(modules); err != nil {
		return fmt.Errorf("check modules: %w", err)
	}
	return nil
}
