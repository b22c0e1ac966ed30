package policies

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// packageLine finds a module's package declaration without parsing the module,
// so that a module with a syntax error is still grouped with its kind and its
// errors are reported by Check.
var packageLine = regexp.MustCompile(`(?m)^[ \t]*package[ \t]+([A-Za-z0-9_.]+)`)

// KindOfPackage is the kind a module of package pkg belongs to: punchcard.<kind>
// and its subpackages, and the test packages punchcard.<kind>_test and
// punchcard.<kind>_test.… (or any subpackage ending in _test). ok is false for
// any other package.
func KindOfPackage(pkg string) (Kind, bool) {
	rest, ok := strings.CutPrefix(pkg, "punchcard.")
	if !ok {
		return "", false
	}
	first, _, _ := strings.Cut(rest, ".")
	k := Kind(strings.TrimSuffix(first, "_test"))
	return k, k.Valid()
}

// ReadDir reads a tenant's policies from a directory tree, as the command line
// checks and tests them before they are published: every *.rego file under the
// root, named by its slash path relative to it, goes to the kind of its package
// (KindOfPackage), test files included; <kind>.data.json at the root is that
// kind's data document. The result holds a TenantPolicy (without Version) for
// each kind that has modules or data. A module whose package is not a Punchcard
// policy package, or a data file that is not a JSON object, is an error that
// Problems locates by file.
func ReadDir(fsys fs.FS) (map[Kind]TenantPolicy, error) {
	out := map[Kind]TenantPolicy{}
	policy := func(k Kind) TenantPolicy {
		p, ok := out[k]
		if !ok {
			p = TenantPolicy{Modules: Modules{}}
		}
		return p
	}
	var errs ast.Errors
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || path.Ext(name) != ".rego" {
			return nil
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		m := packageLine.FindSubmatch(src)
		if m == nil {
			errs = append(errs, located(name, nil, "%s: no package declaration", name))
			return nil
		}
		k, ok := KindOfPackage(string(m[1]))
		if !ok {
			errs = append(errs, located(name, nil, "%s: package %s is not a Punchcard policy package: use punchcard.<kind> (%s) or punchcard.<kind>_test", name, m[1], kindList()))
			return nil
		}
		p := policy(k)
		p.Modules[name] = string(src)
		out[k] = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	for _, k := range Kinds {
		name := string(k) + ".data.json"
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			continue
		}
		var data map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil || data == nil {
			errs = append(errs, located(name, nil, "%s: not a JSON object", name))
			continue
		}
		p := policy(k)
		p.Data = data
		out[k] = p
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func kindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
