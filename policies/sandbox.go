package policies

import (
	"errors"
	"fmt"
	"maps"
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
const (
	MaxModules     = 100       // modules per compilation, base modules included
	MaxModuleBytes = 256 << 10 // bytes of one module
	MaxSourceBytes = 1 << 20   // bytes of all modules together
)

// checkSize enforces the size limits.
func checkSize(modules map[string]string) error {
	if len(modules) > MaxModules {
		return fmt.Errorf("%d modules, at most %d allowed", len(modules), MaxModules)
	}
	total := 0
	for _, name := range slices.Sorted(maps.Keys(modules)) {
		n := len(modules[name])
		if n > MaxModuleBytes {
			return fmt.Errorf("%s: %d bytes, at most %d allowed", name, n, MaxModuleBytes)
		}
		total += n
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
// come out in a stable order. It collects every file's errors.
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
		parsed[name] = m
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return parsed, nil
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

// CheckModules parses and compiles modules (file name → Rego source) exactly as
// the engine would: Rego v1, strict mode, sandboxed builtins. Modules may
// include _test.rego files and may extend the base packages; include the base
// modules (BaseModules) when checking additions to them. Sources over the size
// limits (MaxModules, MaxModuleBytes, MaxSourceBytes) are refused. The error, when there
// is one, wraps ast.Errors, each carrying the file, row and column; a module
// calling http.send, any net.* builtin, opa.runtime or trace fails with
// "undefined function".
func CheckModules(modules map[string]string) error {
	if len(modules) == 0 {
		return errors.New("check modules: no modules")
	}
	if _, err := compile(modules); err != nil {
		return fmt.Errorf("check modules: %w", err)
	}
	return nil
}
