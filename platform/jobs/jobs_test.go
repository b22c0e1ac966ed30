package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
	"github.com/punchcard-loyalty/punchcard/platform/jobs"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

func eachDB(t *testing.T, test func(t *testing.T, d *db.DB, c *dbtest.Clock, tenantA, tenantB string)) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		c := &dbtest.Clock{}
		ids := dbtest.Tenants(t, d, c.Now, 2)
		test(t, d, c, ids[0], ids[1])
	})
}

// An action whose worker dies mid-way is resumed, from its last committed step, by
// the next worker once the lease has run out.
func TestActionsResumeAfterACrash(t *testing.T) {
	eachDB(t, func(t *testing.T, d *db.DB, c *dbtest.Clock, a, b string) {
		q := jobs.New(d, c.Now, slog.New(slog.DiscardHandler))
		typ := "TEST.COUNT-" + ulid.Make().String()
		var mu sync.Mutex
		var units []int64
		crash := true
		crashCtx, stopNode := context.WithCancel(context.Background())
		q.Handle(typ, func(ctx context.Context, act jobs.Action, step jobs.Step) (any, error) {
			var p struct{ N int64 }
			if err := json.Unmarshal(act.Payload, &p); err != nil {
				return nil, err
			}
			for done := act.Progress; done < p.N; done++ {
				mu.Lock()
				if crash && done == 3 {
					crash = false
					mu.Unlock()
					stopNode() // the node stops here
					return nil, ctx.Err()
				}
				units = append(units, done)
				mu.Unlock()
				if err := step(ctx, func(ctx context.Context, tx bun.Tx) (int64, error) { return done + 1, nil }); err != nil {
					return nil, err
				}
			}
			return map[string]int64{"units": p.N}, nil
		})
		ctx := context.Background()
		var id string
		if err := d.InTx(ctx, a, func(ctx context.Context, tx bun.Tx) error {
			var err error
			id, err = q.Enqueue(ctx, tx, a, typ, map[string]int64{"N": 5})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if worked, _ := q.RunOne(crashCtx); !worked {
			t.Fatal("the first worker found nothing")
		}
		act, err := q.Get(ctx, a, id)
		if err != nil || act.Status != jobs.InProgress || act.Progress != 3 {
			t.Fatalf("after the crash: %+v, %v", act, err)
		}
		if worked, _ := q.RunOne(ctx); worked {
			t.Fatal("an action under a live lease was taken")
		}
		c.Add(jobs.Lease + time.Second)
		if worked, err := q.RunOne(ctx); !worked || err != nil {
			t.Fatalf("resume: %v, %v", worked, err)
		}
		act, _ = q.Get(ctx, a, id)
		var result struct{ Units int }
		_ = json.Unmarshal(act.Result, &result)
		if act.Status != jobs.Done || act.Progress != 5 || result.Units != 5 {
			t.Fatalf("finished: %+v (%s)", act, act.Result)
		}
		if len(units) != 5 {
			t.Fatalf("units done %v: some twice or not at all", units)
		}
		// Another tenant does not see it.
		_, err = q.Get(ctx, b, id)
		var p *problem.Error
		if !errors.As(err, &p) || p.Kind != problem.KindNotFound {
			t.Fatalf("another tenant's action: %v", err)
		}
	})
}

// A worker that stalls past its lease loses the action to the worker that
// claims it next: while the new owner works, the old one's next step changes
// nothing (ErrLeaseLost), and it records no end over the new owner's.
func TestStalledWorkerLosesItsAction(t *testing.T) {
	eachDB(t, func(t *testing.T, d *db.DB, c *dbtest.Clock, a, _ string) {
		typ := "TEST.STALL-" + ulid.Make().String()
		type pause struct {
			at              int64
			stalled, resume chan struct{}
		}
		pauses := map[string]pause{
			"A": {2, make(chan struct{}), make(chan struct{})},
			"B": {4, make(chan struct{}), make(chan struct{})},
		}
		var stalledErr error
		handler := func(node string) jobs.Handler {
			return func(ctx context.Context, act jobs.Action, step jobs.Step) (any, error) {
				for done := act.Progress; done < 5; done++ {
					if p := pauses[node]; done == p.at {
						close(p.stalled)
						<-p.resume
					}
					if err := step(ctx, func(ctx context.Context, tx bun.Tx) (int64, error) { return done + 1, nil }); err != nil {
						if node == "A" {
							stalledErr = err
						}
						return nil, err
					}
				}
				return map[string]string{"by": node}, nil
			}
		}
		ctx := context.Background()
		nodes, id := twoNodes(t, d, c, a, typ, handler)
		type run struct {
			worked bool
			err    error
		}
		ran := map[string]chan run{"A": make(chan run, 1), "B": make(chan run, 1)}
		start := func(n string) {
			go func() {
				worked, err := nodes[n].RunOne(ctx)
				ran[n] <- run{worked, err}
			}()
		}
		start("A")
		<-pauses["A"].stalled // A has done 2 of 5 and stalls
		c.Add(jobs.Lease + time.Second)
		start("B")
		<-pauses["B"].stalled // B took over and has done 4
		close(pauses["A"].resume)
		if r := <-ran["A"]; !r.worked || r.err != nil || !errors.Is(stalledErr, jobs.ErrLeaseLost) {
			t.Fatalf("node A: %+v, its step: %v; want ErrLeaseLost", r, stalledErr)
		}
		close(pauses["B"].resume)
		if r := <-ran["B"]; !r.worked || r.err != nil {
			t.Fatalf("node B: %+v", r)
		}
		act, err := nodes["A"].Get(ctx, a, id)
		var result struct{ By string }
		_ = json.Unmarshal(act.Result, &result)
		if err != nil || act.Status != jobs.Done || act.Progress != 5 || result.By != "B" {
			t.Fatalf("the action: %+v (%s), %v; want done by B", act, act.Result, err)
		}
	})
}

// A worker whose lease lapsed after its last step, and whose action another
// worker claimed, records no end: the action stays the new owner's, in
// progress, until the new owner ends it.
func TestStalledWorkerRecordsNoEnd(t *testing.T) {
	eachDB(t, func(t *testing.T, d *db.DB, c *dbtest.Clock, a, _ string) {
		typ := "TEST.STALL-END-" + ulid.Make().String()
		stalled := map[string]chan struct{}{"A": make(chan struct{}), "B": make(chan struct{})}
		resume := map[string]chan struct{}{"A": make(chan struct{}), "B": make(chan struct{})}
		handler := func(node string) jobs.Handler {
			return func(ctx context.Context, act jobs.Action, step jobs.Step) (any, error) {
				for done := act.Progress; done < 3; done++ {
					if err := step(ctx, func(ctx context.Context, tx bun.Tx) (int64, error) { return done + 1, nil }); err != nil {
						return nil, err
					}
				}
				close(stalled[node]) // every step done; the end not yet recorded
				<-resume[node]
				return map[string]string{"by": node}, nil
			}
		}
		ctx := context.Background()
		nodes, id := twoNodes(t, d, c, a, typ, handler)
		ran := map[string]chan error{"A": make(chan error, 1), "B": make(chan error, 1)}
		for _, n := range []string{"A", "B"} {
			go func() {
				if n == "B" {
					<-stalled["A"] // A has done every step, and stalls
					c.Add(jobs.Lease + time.Second)
				}
				worked, err := nodes[n].RunOne(ctx)
				if err == nil && !worked {
					err = errors.New("found no action")
				}
				ran[n] <- err
			}()
		}
		<-stalled["B"] // B claimed the action after A's lease lapsed, and holds it
		close(resume["A"])
		if err := <-ran["A"]; err != nil {
			t.Fatalf("node A: %v", err)
		}
		act, err := nodes["A"].Get(ctx, a, id)
		if err != nil || act.Status != jobs.InProgress || len(act.Result) > 0 && string(act.Result) != "null" {
			t.Fatalf("after the stalled worker ended: %+v (%s), %v; want still in progress, B's", act, act.Result, err)
		}
		close(resume["B"])
		if err := <-ran["B"]; err != nil {
			t.Fatalf("node B: %v", err)
		}
		act, err = nodes["A"].Get(ctx, a, id)
		var result struct{ By string }
		_ = json.Unmarshal(act.Result, &result)
		if err != nil || act.Status != jobs.Done || result.By != "B" {
			t.Fatalf("the action: %+v (%s), %v; want done by B", act, act.Result, err)
		}
	})
}

// twoNodes are queues A and B on d, each handling typ with handler(its name),
// and the id of one action of typ enqueued for tenant.
func twoNodes(t *testing.T, d *db.DB, c *dbtest.Clock, tenant, typ string, handler func(node string) jobs.Handler) (map[string]*jobs.Queue, string) {
	t.Helper()
	nodes := map[string]*jobs.Queue{}
	for _, n := range []string{"A", "B"} {
		nodes[n] = jobs.New(d, c.Now, slog.New(slog.DiscardHandler))
		nodes[n].Handle(typ, handler(n))
	}
	var id string
	if err := d.InTx(context.Background(), tenant, func(ctx context.Context, tx bun.Tx) error {
		var err error
		id, err = nodes["A"].Enqueue(ctx, tx, tenant, typ, map[string]int64{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return nodes, id
}
