package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	// Every variable Setup or the SDK reads is cleared, so each test starts from a
	// known environment regardless of the developer's shell.
	for _, k := range []string{
		"OTEL_SDK_DISABLED",
		"OTEL_SERVICE_NAME",
		"OTEL_RESOURCE_ATTRIBUTES",
		"OTEL_TRACES_EXPORTER",
		"OTEL_TRACES_SAMPLER",
		"OTEL_TRACES_SAMPLER_ARG",
		"OTEL_METRICS_EXPORTER",
		"OTEL_METRICS_PRODUCERS",
		"OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
	} {
		t.Setenv(k, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func setup(t *testing.T, env map[string]string) *Telemetry {
	t.Helper()
	setEnv(t, env)
	tel, err := Setup(t.Context(), Options{ServiceName: "punchcard", ServiceVersion: "test"})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

func TestSetupTraces(t *testing.T) {
	tests := []struct {
		name          string
		env           map[string]string
		wantRecording bool
		wantTraceID   bool
	}{
		{name: "nothing configured", env: nil, wantRecording: true, wantTraceID: true},
		{name: "exporter none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none"}, wantRecording: true, wantTraceID: true},
		{name: "sampler always_off still assigns trace ids", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}, wantRecording: false, wantTraceID: true},
		{name: "sdk disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true"}, wantRecording: false, wantTraceID: false},
		{name: "sdk disabled is case-insensitive", env: map[string]string{"OTEL_SDK_DISABLED": "TRUE"}, wantRecording: false, wantTraceID: false},
		{name: "sdk disabled=false keeps tracing", env: map[string]string{"OTEL_SDK_DISABLED": "false"}, wantRecording: true, wantTraceID: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := setup(t, tt.env)
			ctx, span := tel.TracerProvider().Tracer("test").Start(t.Context(), "op")
			defer span.End()

			if got := span.IsRecording(); got != tt.wantRecording {
				t.Errorf("IsRecording = %v, want %v", got, tt.wantRecording)
			}
			id := TraceID(ctx)
			if tt.wantTraceID {
				if len(id) != 32 || !span.SpanContext().IsValid() {
					t.Errorf("TraceID = %q, want a 32-hex-digit id of a valid span", id)
				}
			} else if id != "" {
				t.Errorf("TraceID = %q, want empty", id)
			}
		})
	}
}

func TestSetupRejectsMisconfiguration(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{name: "unknown traces exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "carrier-pigeon"}},
		{name: "endpoint with unknown protocol", env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "smoke-signals",
		}},
		{name: "unknown metrics exporter", env: map[string]string{"OTEL_METRICS_EXPORTER": "carrier-pigeon"}},
		{name: "otlp metrics with unknown protocol", env: map[string]string{
			"OTEL_METRICS_EXPORTER":               "otlp",
			"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "smoke-signals",
		}},
		{name: "malformed resource attributes", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "no-equals-sign"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			tel, err := Setup(t.Context(), Options{ServiceName: "punchcard"})
			if err == nil {
				_ = tel.Shutdown(t.Context())
				t.Fatal("Setup succeeded, want an error")
			}
		})
	}
}

func TestSetupWithOTLPEndpointExportsSpans(t *testing.T) {
	// A collector stand-in: the span must arrive when Shutdown flushes.
	received := make(chan string, 8)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received <- r.URL.Path
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()

	setEnv(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL})
	tel, err := Setup(t.Context(), Options{ServiceName: "punchcard"})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	_, span := tel.TracerProvider().Tracer("test").Start(t.Context(), "op")
	span.End()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case path := <-received:
		if path != "/v1/traces" {
			t.Errorf("collector got %s, want /v1/traces", path)
		}
	default:
		t.Fatal("collector received nothing after Shutdown")
	}
	if err := tel.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestMetricsHandler(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		wantCounter bool
	}{
		{name: "default", wantCounter: true},
		{name: "metrics exporter prometheus", env: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"}, wantCounter: true},
		{name: "sdk disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true"}, wantCounter: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := setup(t, tt.env)
			counter, err := tel.MeterProvider().Meter("test").Int64Counter("punchcard.redemptions")
			if err != nil {
				t.Fatalf("Int64Counter: %v", err)
			}
			counter.Add(t.Context(), 3)

			body, contentType := scrape(t, tel)
			if !strings.HasPrefix(contentType, "text/plain") {
				t.Errorf("Content-Type = %q, want Prometheus text format", contentType)
			}
			if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
				t.Errorf("body lacks Go runtime or process metrics:\n%s", body)
			}
			const sample = "punchcard_redemptions_total{"
			hasCounter := strings.Contains(body, sample) && strings.Contains(body, "# TYPE punchcard_redemptions_total counter")
			if hasCounter != tt.wantCounter {
				t.Errorf("counter served = %v, want %v; body:\n%s", hasCounter, tt.wantCounter, body)
			}
			if tt.wantCounter && !hasLineWithSuffix(body, sample, " 3") {
				t.Errorf("counter value is not 3; body:\n%s", body)
			}
		})
	}
}

func TestMetricsRegistriesArePrivate(t *testing.T) {
	// Two Telemetry values in one process must not clash or see each other's metrics.
	a := setup(t, nil)
	b := setup(t, nil)
	counter, err := a.MeterProvider().Meter("test").Int64Counter("only.in.a")
	if err != nil {
		t.Fatalf("Int64Counter: %v", err)
	}
	counter.Add(t.Context(), 1)

	if body, _ := scrape(t, a); !strings.Contains(body, "only_in_a_total") {
		t.Errorf("a's handler does not serve a's counter:\n%s", body)
	}
	if body, _ := scrape(t, b); strings.Contains(body, "only_in_a") {
		t.Errorf("b's handler serves a's counter:\n%s", body)
	}
}

func TestSetupResource(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{name: "from options", want: []string{`service_name="punchcard"`, `service_version="test"`}},
		{name: "OTEL_SERVICE_NAME overrides", env: map[string]string{"OTEL_SERVICE_NAME": "punchcard-worker"}, want: []string{`service_name="punchcard-worker"`}},
		{name: "OTEL_RESOURCE_ATTRIBUTES adds", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=staging"}, want: []string{`service_name="punchcard"`, `deployment_environment_name="staging"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The resource is visible to operators as the target_info series.
			body, _ := scrape(t, setup(t, tt.env))
			var info string
			for line := range strings.SplitSeq(body, "\n") {
				if strings.HasPrefix(line, "target_info{") {
					info = line
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(info, w) {
					t.Errorf("target_info %q lacks %s", info, w)
				}
			}
		})
	}
}

func scrape(t *testing.T, tel *Telemetry) (body, contentType string) {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200", rec.Code)
	}
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b), rec.Header().Get("Content-Type")
}

func hasLineWithSuffix(body, prefix, suffix string) bool {
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, prefix) && strings.HasSuffix(line, suffix) {
			return true
		}
	}
	return false
}

func TestPropagatorIgnoresBaggage(t *testing.T) {
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	tel := setup(t, nil)
	carrier := propagation.HeaderCarrier(http.Header{
		"Traceparent": []string{"00-" + traceID + "-00f067aa0ba902b7-01"},
		"Baggage":     []string{"tenant.id=ten_evil,user=mallory"},
	})

	ctx := tel.Propagator().Extract(t.Context(), carrier)

	if got := TraceID(ctx); got != traceID {
		t.Errorf("TraceID after Extract = %q, want %q", got, traceID)
	}
	if !trace.SpanContextFromContext(ctx).IsRemote() {
		t.Error("extracted span context is not marked remote")
	}
	if bag := baggage.FromContext(ctx); bag.Len() != 0 {
		t.Errorf("baggage.FromContext = %q, want empty", bag.String())
	}
	if got := TenantID(ctx); got != "" {
		t.Errorf("TenantID = %q, want empty", got)
	}

	// A span started from the inbound context continues the caller's trace.
	child, span := tel.TracerProvider().Tracer("test").Start(ctx, "op")
	defer span.End()
	if got := TraceID(child); got != traceID {
		t.Errorf("child TraceID = %q, want %q", got, traceID)
	}

	// Outbound, only trace context is written, even if the context holds baggage.
	member, err := baggage.NewMember("tenant.id", "ten_ours")
	if err != nil {
		t.Fatal(err)
	}
	bag, err := baggage.New(member)
	if err != nil {
		t.Fatal(err)
	}
	out := propagation.HeaderCarrier(http.Header{})
	tel.Propagator().Inject(baggage.ContextWithBaggage(child, bag), out)
	if out.Get("traceparent") == "" {
		t.Error("Inject wrote no traceparent")
	}
	if got := out.Get("baggage"); got != "" {
		t.Errorf("Inject wrote baggage %q, want none", got)
	}
}

func TestInstallGlobals(t *testing.T) {
	prevTP, prevMP, prevProp := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetMeterProvider(prevMP)
		otel.SetTextMapPropagator(prevProp)
	})
	tel := setup(t, nil)

	tel.InstallGlobals()

	ctx, span := otel.Tracer("test").Start(t.Context(), "op")
	defer span.End()
	if TraceID(ctx) == "" {
		t.Error("global tracer does not produce trace ids after InstallGlobals")
	}
	if got := otel.GetTextMapPropagator().Fields(); len(got) != 2 || got[0] != "traceparent" || got[1] != "tracestate" {
		t.Errorf("global propagator fields = %v, want [traceparent tracestate]", got)
	}
}
