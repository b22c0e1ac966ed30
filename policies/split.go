package policies

import (
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A tenant version whose modules neither read nor define any document of the
// base modules of its kind decides exactly as the union of two evaluations: the
// shared base query and a query of the tenant's modules compiled alone. The
// engine then caches only the tenant's compilation (see build), a fraction of
// the memory of a compilation that includes its own copy of the base modules.
//
// The decision rules deny and review (and member for segments) are the only
// documents both sides may define, and only as multi-value rules (deny contains
// …), which the combined compilation unions. risk_score is defined by the base
// fraud policy (with a default), so a tenant defining it is compiled with the
// base modules, as is any tenant rule or reference whose path overlaps a base
// rule (a helper such as reason or now_ns, data.punchcard.<kind> as a whole, a
// subpackage named like a base rule) or a document the base modules read.

// splitRules are the decision rules whose multi-value definitions merge.
var splitRules = map[string]bool{"deny": true, "review": true, "member": true}

// basePaths are, per kind, the ground prefixes of the paths the base modules
// define or read under data; nil for a kind whose base modules read anything
// outside their own package (the shared base query has no tenant data, so such
// a kind is never split).
var basePaths = sync.OnceValue(func() map[Kind][]ast.Ref {
	out := make(map[Kind][]ast.Ref, len(Kinds))
	for _, k := range Kinds {
		pkg := ast.MustParseRef("data." + k.Package())
		var paths []ast.Ref
		ok := true
		for _, m := range parsedBase()[k] {
			for _, r := range m.Rules {
				paths = append(paths, m.Package.Path.Extend(r.Head.Ref().GroundPrefix()))
			}
			walkReads(m, func(ref ast.Ref) bool {
				if ref.HasPrefix(ast.DefaultRootRef) {
					g := ref.GroundPrefix()
					if len(g) <= len(pkg) || !g.HasPrefix(pkg) {
						ok = false
					}
					paths = append(paths, g)
				}
				return false
			})
		}
		if ok {
			out[k] = paths
		}
	}
	return out
})

// walkReads calls f on every reference in m's imports and rules (not in its
// package declaration) until f returns true.
func walkReads(m *ast.Module, f func(ast.Ref) bool) {
	for _, imp := range m.Imports {
		ast.WalkRefs(imp, f)
	}
	for _, r := range m.Rules {
		ast.WalkRefs(r, f)
	}
}

// overlaps reports whether one of a and b is a prefix of the other: a document
// at one path is part of, or contains, the document at the other.
func overlaps(a, b ast.Ref) bool { return a.HasPrefix(b) || b.HasPrefix(a) }

// independent reports whether the compiled tenant modules (no tests, compiled
// without the base modules, so that references to their own rules are resolved
// to full data references) can be evaluated apart from the base modules of kind.
func independent(kind Kind, modules map[string]*ast.Module) bool {
	base, ok := basePaths()[kind]
	if !ok || len(modules) == 0 {
		return false
	}
	pkg := ast.MustParseRef("data." + kind.Package())
	overlapsBase := func(p ast.Ref) bool {
		return slices.ContainsFunc(base, func(b ast.Ref) bool { return overlaps(p, b) })
	}
	for _, m := range modules {
		for _, r := range m.Rules {
			p := m.Package.Path.Extend(r.Head.Ref().GroundPrefix())
			if !overlapsBase(p) {
				continue
			}
			// Only a multi-value deny, review or member rule of the kind's
			// package itself may add to a base rule of the same name.
			if len(p) != len(pkg)+1 || !p.HasPrefix(pkg) || len(r.Head.Args) > 0 || r.Head.RuleKind() != ast.MultiValue || len(r.Head.Ref()) != 1 {
				return false
			}
			name, isStr := p[len(p)-1].Value.(ast.String)
			if !isStr || !splitRules[string(name)] {
				return false
			}
		}
		reads := false
		walkReads(m, func(ref ast.Ref) bool {
			if !reads && ref.HasPrefix(ast.DefaultRootRef) && overlapsBase(ref.GroundPrefix()) {
				reads = true
			}
			return reads
		})
		if reads {
			return false
		}
	}
	return true
}

// sandboxBuiltins are the sandbox's builtins by name.
var sandboxBuiltins = sync.OnceValue(func() map[string]*ast.Builtin {
	out := make(map[string]*ast.Builtin, len(capabilities.Builtins))
	for _, b := range capabilities.Builtins {
		out[b.Name] = b
	}
	return out
})

// coreBuiltins are kept in every restricted compile: the operators (=, :=, ==,
// +, in, …) and the internal builtins, which the compiler's rewriting may
// introduce without the source naming them.
var coreBuiltins = sync.OnceValue(func() []*ast.Builtin {
	var out []*ast.Builtin
	for _, b := range capabilities.Builtins {
		if b.Infix != "" || strings.HasPrefix(b.Name, "internal.") {
			out = append(out, b)
		}
	}
	return out
})

// parsedQueries are the decision queries, parsed.
var parsedQueries = sync.OnceValue(func() map[Kind]ast.Body {
	out := make(map[Kind]ast.Body, len(Kinds))
	for _, k := range Kinds {
		out[k] = ast.MustParseBodyWithOpts(queries[k], ast.ParserOptions{RegoVersion: ast.RegoV1, Capabilities: capabilities})
	}
	return out
})

// capabilitiesFor is the sandbox restricted to the builtins that modules and
// kind's decision query name (as calls, with targets or with values) plus
// coreBuiltins. Every ast.Compiler builds a type environment of the builtins it
// is allowed; restricting them keeps that environment small in a cached
// compilation. Forbidden builtins stay out: they are not in the sandbox.
func capabilitiesFor(kind Kind, modules map[string]*ast.Module) *ast.Capabilities {
	all := sandboxBuiltins()
	used := map[string]*ast.Builtin{}
	for _, b := range coreBuiltins() {
		used[b.Name] = b
	}
	visit := func(t *ast.Term) bool {
		switch v := t.Value.(type) {
		case ast.Var: // a with value may be a bare builtin name
			if b, ok := all[string(v)]; ok {
				used[b.Name] = b
			}
		case ast.Ref:
			if _, isVar := v[0].Value.(ast.Var); !isVar || v.HasPrefix(ast.DefaultRootRef) || v.HasPrefix(ast.InputRootRef) {
				return false
			}
			// Any prefix may name a builtin (time.now_ns, or count in count[x]).
			for i := len(v); i > 0; i-- {
				if b, ok := all[v[:i].String()]; ok {
					used[b.Name] = b
				}
			}
		}
		return false
	}
	for _, m := range modules {
		ast.WalkTerms(m, visit)
	}
	ast.WalkTerms(parsedQueries()[kind], visit)
	caps := *capabilities
	caps.Builtins = make([]*ast.Builtin, 0, len(used))
	for _, b := range capabilities.Builtins { // in the sandbox's order
		if used[b.Name] != nil {
			caps.Builtins = append(caps.Builtins, b)
		}
	}
	return &caps
}
