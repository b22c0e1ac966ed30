package policies

import (
	"embed"
	"io/fs"
	"maps"
	"path"
	"strings"
)

// base holds the base policies and their tests, one directory per kind.
//
//go:embed base
var base embed.FS

// Modules is the Rego source of a policy: file name → source. Names are
// slash-separated paths ending in .rego; files ending in _test.rego hold tests,
// which RunTests runs and the engine leaves out.
type Modules map[string]string

// BaseModules returns the embedded base policies of every kind with their tests,
// keyed by their path under base/, e.g. "eligibility/eligibility.rego". The map
// is a fresh copy the caller may change.
func BaseModules() Modules {
	mods := Modules{}
	err := fs.WalkDir(base, "base", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".rego" {
			return err
		}
		src, err := base.ReadFile(p)
		if err != nil {
			return err
		}
		mods[strings.TrimPrefix(p, "base/")] = string(src)
		return nil
	})
	if err != nil {
		// The files are compiled into the binary; failing to read them is a build defect.
		panic("policies: read embedded base policies: " + err.Error())
	}
	return mods
}

// Base returns the base policy modules of kind, without tests.
func Base(kind Kind) Modules {
	return BaseModules().ForKind(kind).Policies()
}

// ForKind returns the modules under kind's directory ("<kind>/…").
func (m Modules) ForKind(kind Kind) Modules {
	out := Modules{}
	for name, src := range m {
		if strings.HasPrefix(name, string(kind)+"/") {
			out[name] = src
		}
	}
	return out
}

// Policies returns the modules that are not tests.
func (m Modules) Policies() Modules {
	out := Modules{}
	for name, src := range m {
		if !IsTestFile(name) {
			out[name] = src
		}
	}
	return out
}

// With returns a new set holding m and extra; a name in extra replaces the same
// name in m.
func (m Modules) With(extra Modules) Modules {
	out := maps.Clone(m)
	if out == nil {
		out = Modules{}
	}
	maps.Copy(out, extra)
	return out
}

// IsTestFile reports whether name holds Rego tests (it ends in _test.rego).
func IsTestFile(name string) bool { return strings.HasSuffix(name, "_test.rego") }
