package policystore_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
	"github.com/punchcard-loyalty/punchcard/platform/policystore"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/policies"
)

const allowAll = "package punchcard.eligibility\n"

func module(rule string) policies.Modules {
	return policies.Modules{"tenant.rego": "package punchcard.eligibility\n\ndeny contains \"" + rule + "\" if input.customer.id == \"" + rule + "\"\n"}
}

// node is one server's store over a shared database.
func node(d *db.DB, clock *dbtest.Clock) *policystore.Store {
	return policystore.New(d, audit.New(d, clock.Now), clock.Now, policies.Check)
}

func active(t *testing.T, s *policystore.Store, tenantID string, kind policies.Kind) policies.TenantPolicy {
	t.Helper()
	p, err := s.Active(context.Background(), tenantID, kind)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPublishActivateAndPoll(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := &dbtest.Clock{}
		ids := dbtest.Tenants(t, d, clock.Now, 2)
		a, b := ids[0], ids[1]
		one, two := node(d, clock), node(d, clock)

		// Both nodes know tenant a before anything is published: the base alone.
		for _, n := range []*policystore.Store{one, two} {
			if p := active(t, n, a, policies.Eligibility); p.Version != "" {
				t.Fatalf("unpublished tenant has version %q", p.Version)
			}
		}
		if err := two.Poll(ctx); err != nil { // the first poll sets the watermark
			t.Fatal(err)
		}

		v1, err := one.Publish(ctx, a, policies.Eligibility, policystore.Draft{Modules: module("r1"), Data: map[string]any{"stores": []any{"s1"}}})
		if err != nil {
			t.Fatal(err)
		}
		if v1.Number != 1 || !strings.HasPrefix(v1.Digest, "sha256:") {
			t.Fatalf("first version = %+v", v1)
		}
		// The publishing node sees it at once; the other after its next poll.
		if p := active(t, one, a, policies.Eligibility); p.Version != "1" || p.Modules["tenant.rego"] == "" || p.Data["stores"] == nil {
			t.Fatalf("publishing node holds %+v", p)
		}
		if p := active(t, two, a, policies.Eligibility); p.Version != "" {
			t.Fatalf("other node holds %q before polling", p.Version)
		}
		if err := two.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		if p := active(t, two, a, policies.Eligibility); p.Version != "1" {
			t.Fatalf("other node holds %q after polling, want 1", p.Version)
		}

		if _, err := one.Publish(ctx, a, policies.Eligibility, policystore.Draft{Modules: module("r2")}); err != nil {
			t.Fatal(err)
		}
		// Rollback on the other node; the first learns it by polling.
		if err := one.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := two.Activate(ctx, a, policies.Eligibility, 1); err != nil {
			t.Fatal(err)
		}
		if err := one.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		for i, n := range []*policystore.Store{one, two} {
			if p := active(t, n, a, policies.Eligibility); p.Version != "1" {
				t.Fatalf("node %d holds %q after the rollback, want 1", i+1, p.Version)
			}
		}
		// A node that meets the tenant only now loads the active version.
		if p := active(t, node(d, clock), a, policies.Eligibility); p.Version != "1" {
			t.Fatalf("a fresh node loads %q, want 1", p.Version)
		}

		l, err := one.List(ctx, a, policies.Eligibility)
		if err != nil {
			t.Fatal(err)
		}
		if l.Active != 1 || len(l.Versions) != 2 || l.Versions[0].Number != 2 {
			t.Fatalf("listing = %+v", l)
		}
		// Tenant b sees none of it.
		if l, err := one.List(ctx, b, policies.Eligibility); err != nil || len(l.Versions) != 0 || l.Active != 0 {
			t.Fatalf("other tenant's listing = %+v, %v", l, err)
		}
		if _, _, err := one.Get(ctx, b, policies.Eligibility, 1); !problem.Is(err, problem.KindNotFound) {
			t.Fatalf("other tenant's version 1: %v, want not found", err)
		}
		if _, err := one.Activate(ctx, b, policies.Eligibility, 1); !problem.Is(err, problem.KindNotFound) {
			t.Fatalf("activating another tenant's version: %v, want not found", err)
		}
		if p := active(t, two, b, policies.Eligibility); p.Version != "" {
			t.Fatalf("tenant b holds %q", p.Version)
		}

		// Versions are immutable in the database itself.
		err = d.InTx(ctx, a, func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE policy_versions SET digest = 'x' WHERE tenant_id = ?", a)
			return err
		})
		if err == nil {
			t.Fatal("a policy version was updated")
		}
	})
}

func TestPublishRefusesWhatDoesNotCompile(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := &dbtest.Clock{}
		a := dbtest.Tenants(t, d, clock.Now, 1)[0]
		s := node(d, clock)
		if _, err := s.Publish(ctx, a, policies.Eligibility, policystore.Draft{Modules: policies.Modules{"ok.rego": allowAll}}); err != nil {
			t.Fatal(err)
		}
		_, err := s.Publish(ctx, a, policies.Eligibility, policystore.Draft{Modules: policies.Modules{"bad.rego": "package punchcard.eligibility\n\ndeny contains x if {\n\tx := http.send({})\n}\n"}})
		p, ok := problem.As(err)
		if !ok || p.Kind != problem.KindUnprocessable || p.Key != "policy_invalid" {
			t.Fatalf("publish of http.send: %v, want policy_invalid", err)
		}
		located, _ := p.Errors.([]policies.Problem)
		if len(located) == 0 || located[0].File != "bad.rego" || located[0].Row != 4 {
			t.Fatalf("problems = %+v, want bad.rego row 4", p.Errors)
		}
		if v := active(t, s, a, policies.Eligibility); v.Version != "1" {
			t.Fatalf("active after a refused publish = %q, want 1", v.Version)
		}
		if _, err := s.Publish(ctx, a, policies.Eligibility, policystore.Draft{ReplaceBase: true}); !problem.Is(err, problem.KindInvalid) {
			t.Fatalf("replace_base on eligibility: %v, want invalid", err)
		}
		if _, err := s.Publish(ctx, a, policies.Kind("pricing"), policystore.Draft{}); !problem.Is(err, problem.KindNotFound) {
			t.Fatalf("unknown kind: %v, want not found", err)
		}
	})
}

func TestConcurrentPublishesGetDistinctVersions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := &dbtest.Clock{}
		a := dbtest.Tenants(t, d, clock.Now, 1)[0]
		s := node(d, clock)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, err := s.Publish(ctx, a, policies.Fraud, policystore.Draft{Modules: policies.Modules{"f.rego": "package punchcard.fraud\n\n# " + string(rune('a'+i)) + "\n"}})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		published := 0
		for err := range errs {
			if err == nil {
				published++
				continue
			}
			t.Fatalf("concurrent publish: %v", err)
		}
		l, err := s.List(ctx, a, policies.Fraud)
		if err != nil {
			t.Fatal(err)
		}
		if published != n || len(l.Versions) != n {
			t.Fatalf("%d publishes succeeded, %d versions stored", published, len(l.Versions))
		}
		for i, v := range l.Versions {
			if v.Number != published-i {
				t.Fatalf("versions %+v are not 1…%d", l.Versions, published)
			}
		}
		if p := active(t, s, a, policies.Fraud); p.Version == "" {
			t.Fatal("no active version after concurrent publishes")
		}
	})
}

func TestDiff(t *testing.T) {
	prev := &policystore.Version{Modules: policies.Modules{"a.rego": "package p\n\nx := 1\n", "gone.rego": "package q\n"}}
	next := &policystore.Version{Modules: policies.Modules{"a.rego": "package p\n\nx := 2\n", "new.rego": "package r\n"}, Data: map[string]any{"k": "v"}}
	d := policystore.Diff(prev, next)
	for _, want := range []string{"--- a/a.rego\n+++ b/a.rego", "-x := 1\n+x := 2", "--- a/gone.rego\n+++ /dev/null", "--- /dev/null\n+++ b/new.rego", "+++ b/data.json", `+  "k": "v"`} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if d := policystore.Diff(next, next); d != "" {
		t.Errorf("diff of a version with itself = %q", d)
	}
}

// Readers of the index run while publishes, activations and polls change it
// (under the race detector in CI).
func TestActiveWhileChanging(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := &dbtest.Clock{}
		a := dbtest.Tenants(t, d, clock.Now, 1)[0]
		s, other := node(d, clock), node(d, clock)
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for range 4 {
			readers.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					for _, n := range []*policystore.Store{s, other} {
						if _, err := n.Active(ctx, a, policies.Eligibility); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		for i := range 5 {
			if _, err := s.Publish(ctx, a, policies.Eligibility, policystore.Draft{Modules: module("r" + string(rune('a'+i)))}); err != nil {
				t.Fatal(err)
			}
			if err := other.Poll(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := other.Activate(ctx, a, policies.Eligibility, 2); err != nil {
			t.Fatal(err)
		}
		if err := s.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		close(stop)
		readers.Wait()
		for _, n := range []*policystore.Store{s, other} {
			if p := active(t, n, a, policies.Eligibility); p.Version != "2" {
				t.Fatalf("a node holds %q, want 2", p.Version)
			}
		}
	})
}
