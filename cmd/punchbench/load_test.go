package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

func TestQuantileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 1000; i++ {
		ds = append(ds, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 500, 0.99: 990, 0.999: 999, 1: 1000, 0: 1} {
		if got := quantile(ds, q); got != want {
			t.Errorf("quantile(%v) = %d, want %d", q, got, want)
		}
	}
	if got := quantile([]time.Duration{7}, 0.999); got != 7 {
		t.Errorf("single sample: %d", got)
	}
}

// The driver counts every answer outside 2xx as an error and records only the
// measured window.
func TestRunCountsErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	next := func(ctx context.Context, _, _ int) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	}
	for _, opts := range []loadOptions{
		{Clients: 1, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond},
		{Clients: 4, Rate: 200, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond},
	} {
		r, err := run(context.Background(), srv.Client(), next, opts)
		if err != nil {
			t.Fatal(err)
		}
		if r.Requests == 0 || int64(r.Requests) > n.Load() {
			t.Fatalf("%+v: recorded %d of %d requests sent", opts, r.Requests, n.Load())
		}
		// Every second answer fails; the window's edges may cut the alternation by
		// up to the requests in flight there.
		if d := r.Requests - 2*r.Errors; d < -2*opts.Clients || d > 2*opts.Clients {
			t.Fatalf("%+v: %d errors among %d requests, want half", opts, r.Errors, r.Requests)
		}
		// The errors are all 500s, and the first says what it answered.
		if len(r.Failures) != 1 || r.Failures["500"] != r.Errors || r.FirstFailure != "500 boom\n" {
			t.Fatalf("%+v: failures %v (first %q), want %d × 500 boom", opts, r.Failures, r.FirstFailure, r.Errors)
		}
		if r.P50 > r.P99 || r.P99 > r.P999 || r.P999 > r.Max {
			t.Fatalf("percentiles out of order: %+v", r)
		}
		if opts.Rate > 0 && (r.SendLateP50 <= 0 || r.SendLateP50 > r.SendLateP99 || r.SendLateP99 > r.Max) {
			t.Fatalf("open loop: send lateness %v/%v not within (0, max %v]", r.SendLateP50, r.SendLateP99, r.Max)
		}
		if opts.Rate == 0 && r.SendLateP99 != 0 {
			t.Fatalf("closed loop reports send lateness %v", r.SendLateP99)
		}
		n.Store(0)
	}
}

// The summary judges a ratio by its median over the repetitions, each
// scenario, database and ratio on its own.
func TestSummarizeTakesTheMedianPerRatio(t *testing.T) {
	cmp := func(scenario, db string, p50, tput float64) comparison {
		return comparison{Punchcard: measurement{Scenario: scenario, Database: db},
			Ratios: []ratio{{Name: "p50", Value: p50, Target: "≤ 1.3"}, {Name: "throughput", Value: tput}}}
	}
	got := summarize([]comparison{
		cmp("validate", "sqlite", 1.5, 0.2), cmp("validate", "postgres", 3, 0.1),
		cmp("validate", "sqlite", 1.2, 0.4), cmp("validate", "sqlite", 1.3, 0.3),
		cmp("validate", "postgres", 2, 0.3),
	})
	want := []summary{
		{Scenario: "validate", Database: "sqlite", Name: "p50", Median: 1.3, Values: []float64{1.5, 1.2, 1.3}, Target: "≤ 1.3"},
		{Scenario: "validate", Database: "sqlite", Name: "throughput", Median: 0.3, Values: []float64{0.2, 0.4, 0.3}},
		{Scenario: "validate", Database: "postgres", Name: "p50", Median: 2.5, Values: []float64{3, 2}, Target: "≤ 1.3"},
		{Scenario: "validate", Database: "postgres", Name: "throughput", Median: 0.2, Values: []float64{0.1, 0.3}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("summarize:\n got %+v\nwant %+v", got, want)
	}
}
