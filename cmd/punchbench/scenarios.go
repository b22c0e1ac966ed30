package main

import (
	"context"
	"fmt"
	"net/http"
)

// workload is one side of a comparison: a request generator and what to release
// afterwards.
type workload struct {
	next  request
	close func()
}

// scenario compares a Punchcard workload with the floor it cannot beat, measured in
// the same run on the same machine. Later capabilities add their scenarios to
// scenarios.
type scenario struct {
	name     string
	what     string // the Punchcard side
	baseline string // the floor
	// perDatabase scenarios run once per configured database.
	perDatabase bool
	// setupBaseline and setupTarget build the two workloads; db is the database URL
	// of this round ("" for SQLite).
	setupBaseline func(ctx context.Context, env *env, db string) (workload, error)
	setupTarget   func(ctx context.Context, env *env, db string) (workload, error)
}

// env is what scenarios share: the load client.
type env struct {
	client *http.Client
}

var scenarios = []scenario{
	{
		name:          "customer-get",
		what:          "GET /v1/customers/{id}",
		baseline:      "gin hello-world",
		perDatabase:   true,
		setupBaseline: helloWorkload,
		setupTarget: func(ctx context.Context, e *env, db string) (workload, error) {
			p, err := startPunchcard(ctx, db, e.client)
			if err != nil {
				return workload{}, err
			}
			var c struct {
				ID string `json:"id"`
			}
			if err := p.call(ctx, "POST", "/v1/customers", "Bearer "+p.secret, map[string]any{
				"source_id": "bench-customer", "name": "Bench Customer", "email": "bench@example.com",
				"metadata": map[string]any{"tier": "gold"},
			}, &c); err != nil {
				p.stop()
				return workload{}, err
			}
			url, auth := p.base+"/v1/customers/"+c.ID, "Bearer "+p.secret
			return workload{
				next: func(ctx context.Context, _, _ int) (*http.Request, error) {
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
					if err == nil {
						req.Header.Set("Authorization", auth)
					}
					return req, err
				},
				close: p.stop,
			}, nil
		},
	},
}

// helloWorkload is the HTTP floor for every scenario served over HTTP.
func helloWorkload(ctx context.Context, _ *env, _ string) (workload, error) {
	base, stop, err := helloServer(ctx)
	if err != nil {
		return workload{}, fmt.Errorf("hello-world server: %w", err)
	}
	return workload{
		next: func(ctx context.Context, _, _ int) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, base+"/hello", nil)
		},
		close: stop,
	}, nil
}
