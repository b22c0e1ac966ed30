package policies

import (
	"testing"
	"testing/fstest"
)

func TestKindOfPackage(t *testing.T) {
	for pkg, want := range map[string]Kind{
		"punchcard.eligibility":           Eligibility,
		"punchcard.eligibility.lib":       Eligibility,
		"punchcard.eligibility_test":      Eligibility,
		"punchcard.stacking_test.helpers": Stacking,
		"punchcard.segments":              Segments,
		"punchcard.pricing":               "",
		"acme.eligibility":                "",
		"punchcard":                       "",
	} {
		got, ok := KindOfPackage(pkg)
		if ok != (want != "") || (ok && got != want) {
			t.Errorf("KindOfPackage(%q) = %q, %v; want %q", pkg, got, ok, want)
		}
	}
}

func TestReadDir(t *testing.T) {
	fsys := fstest.MapFS{
		"eligibility/blocked.rego":      {Data: []byte(blockedCustomers)},
		"eligibility/blocked_test.rego": {Data: []byte("# Tests.\npackage punchcard.eligibility_test\n")},
		"eligibility.data.json":         {Data: []byte(`{"blocked_customers": ["cust_bad"], "limit": 10}`)},
		"fraud.data.json":               {Data: []byte(`{}`)},
		"notes.txt":                     {Data: []byte("package punchcard.stacking")},
	}
	got, err := ReadDir(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[Eligibility].Modules) != 2 || got[Eligibility].Data["limit"] == nil || got[Fraud].Data == nil || len(got[Fraud].Modules) != 0 {
		t.Fatalf("ReadDir = %+v", got)
	}
	if err := Check(t.Context(), Eligibility, got[Eligibility]); err != nil {
		t.Errorf("Check: %v", err)
	}
	fsys["odd.rego"] = &fstest.MapFile{Data: []byte("x := 1\n")}
	if ps := Problems(func() error { _, err := ReadDir(fsys); return err }()); len(ps) != 1 || ps[0].File != "odd.rego" {
		t.Errorf("problems = %v, want one about odd.rego", ps)
	}
}
