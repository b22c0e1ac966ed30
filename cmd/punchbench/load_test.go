package main

import (
	"context"
	"net/http"
	"net/http/httptest"
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
			w.WriteHeader(http.StatusInternalServerError)
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
		if r.P50 > r.P99 || r.P99 > r.P999 || r.P999 > r.Max {
			t.Fatalf("percentiles out of order: %+v", r)
		}
		n.Store(0)
	}
}
