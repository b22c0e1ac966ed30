package policystore

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// Diff is the unified diff from prev's modules and data document to next's, one
// file after another in name order ("data.json" for the data document). prev nil
// means no earlier version: every module is added. Identical sources give "".
func Diff(prev, next *Version) string {
	var a, b map[string]string
	if prev != nil {
		a = files(prev)
	}
	if next != nil {
		b = files(next)
	}
	seen := make(map[string]bool, len(a)+len(b))
	for n := range a {
		seen[n] = true
	}
	for n := range b {
		seen[n] = true
	}
	names := slices.Sorted(maps.Keys(seen))
	var out strings.Builder
	for _, name := range names {
		from, to := "a/"+name, "b/"+name
		if _, ok := a[name]; !ok {
			from = "/dev/null"
		}
		if _, ok := b[name]; !ok {
			to = "/dev/null"
		}
		d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(a[name]), B: difflib.SplitLines(b[name]),
			FromFile: from, ToFile: to, Context: 3,
		})
		out.WriteString(d)
	}
	return out.String()
}

// files is a version's modules plus its data document as indented JSON.
func files(v *Version) map[string]string {
	f := maps.Clone(map[string]string(v.Modules))
	if f == nil {
		f = map[string]string{}
	}
	if v.Data != nil {
		if b, err := json.MarshalIndent(v.Data, "", "  "); err == nil {
			f["data.json"] = string(b) + "\n"
		}
	}
	return f
}
