package main

import (
	"context"
	"errors"
	"io"
	"iter"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// request builds one request of a workload; i counts requests per worker.
type request func(ctx context.Context, worker, i int) (*http.Request, error)

// loadOptions shape one measured run.
type loadOptions struct {
	Clients  int           // concurrent clients (closed loop) or the in-flight bound (open loop)
	Rate     float64       // requests per second; 0 runs a closed loop as fast as the server answers
	Warmup   time.Duration // requests sent but not recorded
	Duration time.Duration // the measured window
}

// result is what a measured run observed.
type result struct {
	Requests int `json:"requests"`
	Errors   int `json:"errors"`
	// Failures counts the errors by answer ("503", or "transport" for a request
	// that got none); FirstFailure is the first one with the start of its body.
	Failures     map[string]int `json:"failures,omitempty"`
	FirstFailure string         `json:"first_failure,omitempty"`
	Dropped      int            `json:"dropped,omitempty"` // open loop: sends skipped because every client was busy
	Throughput   float64        `json:"throughput_rps"`
	P50          time.Duration  `json:"p50_ns"`
	P99          time.Duration  `json:"p99_ns"`
	P999         time.Duration  `json:"p999_ns"`
	Max          time.Duration  `json:"max_ns"`
	// Open loop: how late the driver sent requests, a part of their latencies.
	// The driver shares the machine's CPUs with the server, so when both are
	// busy its sends slip behind their schedule.
	SendLateP50 time.Duration `json:"send_late_p50_ns,omitempty"`
	SendLateP99 time.Duration `json:"send_late_p99_ns,omitempty"`
}

// run drives client with next for opts.Warmup + opts.Duration. A request counts as
// an error when it fails or answers outside 2xx; its latency is still recorded. In
// the open loop, latency runs from the moment the request was due, so a server that
// falls behind is charged for the queueing it causes.
func run(ctx context.Context, client *http.Client, next request, opts loadOptions) (result, error) {
	if opts.Clients < 1 {
		opts.Clients = 1
	}
	start := time.Now()
	measureFrom := start.Add(opts.Warmup)
	stop := measureFrom.Add(opts.Duration)

	var (
		mu        sync.Mutex
		latencies []time.Duration
		dropped   atomic.Int64
		fatal     error
		failures  map[string]int
		first     string
		late      []time.Duration // open loop: send time - due time, measured window
	)
	fail := func(err error) {
		mu.Lock()
		fatal = err
		mu.Unlock()
	}
	record := func(local []time.Duration) {
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	}
	// failed notes a failure of the measured window: the errors are their count.
	failed := func(due time.Time, kind, detail string) {
		if due.Before(measureFrom) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if failures == nil {
			failures = map[string]int{}
			first = kind + " " + detail
		}
		failures[kind]++
	}
	do := func(worker, i int, due time.Time) (time.Duration, error) {
		req, err := next(ctx, worker, i)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			lat := time.Since(due)
			failed(due, "transport", err.Error())
			return lat, nil
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			_, _ = io.Copy(io.Discard, resp.Body)
		} else {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			_, _ = io.Copy(io.Discard, resp.Body)
			failed(due, strconv.Itoa(resp.StatusCode), string(body))
		}
		_ = resp.Body.Close()
		return time.Since(due), nil
	}

	var wg sync.WaitGroup
	if opts.Rate <= 0 {
		for w := 0; w < opts.Clients; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := make([]time.Duration, 0, 4096)
				for i := 0; ; i++ {
					due := time.Now()
					if !due.Before(stop) || ctx.Err() != nil {
						break
					}
					lat, err := do(w, i, due)
					if err != nil {
						fail(err)
						return
					}
					if !due.Before(measureFrom) {
						local = append(local, lat)
					}
				}
				record(local)
			}()
		}
	} else {
		interval := time.Duration(float64(time.Second) / opts.Rate)
		slots := make(chan struct{}, opts.Clients)
		for i := 0; ; i++ {
			due := start.Add(time.Duration(i) * interval)
			if !due.Before(stop) || ctx.Err() != nil {
				break
			}
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			select {
			case slots <- struct{}{}:
			default:
				if !due.Before(measureFrom) {
					dropped.Add(1)
				}
				continue
			}
			if !due.Before(measureFrom) {
				late = append(late, time.Since(due))
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				lat, err := do(i%opts.Clients, i, due)
				if err != nil {
					fail(err)
					return
				}
				if !due.Before(measureFrom) {
					record([]time.Duration{lat})
				}
			}()
		}
	}
	wg.Wait()
	if fatal != nil {
		return result{}, fatal
	}
	if len(latencies) == 0 {
		return result{}, errors.New("no request completed in the measured window")
	}
	slices.Sort(latencies)
	r := result{
		Requests:     len(latencies),
		Errors:       sum(maps.Values(failures)),
		Failures:     failures,
		FirstFailure: first,
		Dropped:      int(dropped.Load()),
		Throughput:   float64(len(latencies)) / opts.Duration.Seconds(),
		P50:          quantile(latencies, 0.50),
		P99:          quantile(latencies, 0.99),
		P999:         quantile(latencies, 0.999),
		Max:          latencies[len(latencies)-1],
	}
	if len(late) > 0 {
		slices.Sort(late)
		r.SendLateP50, r.SendLateP99 = quantile(late, 0.50), quantile(late, 0.99)
	}
	return r, nil
}

// quantile reads q from sorted latencies (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func sum(vs iter.Seq[int]) int {
	n := 0
	for v := range vs {
		n += v
	}
	return n
}
