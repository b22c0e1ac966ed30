// Package telemetry owns Punchcard's observability plumbing: it builds the process's
// OpenTelemetry tracer and meter providers from the standard OTEL_* environment
// variables, serves metrics for Prometheus from a private registry, fixes the
// propagator to W3C trace context only, carries the tenant and request ids through
// the context, and provides the JSON logger whose records are stamped with those ids
// and the current trace and span.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// defaultServiceName is used when Options.ServiceName is empty and OTEL_SERVICE_NAME
// is not set, so traces and metrics are never attributed to "unknown_service".
const defaultServiceName = "punchcard"

// Options configure Setup.
type Options struct {
	// ServiceName is the service.name resource attribute; it defaults to "punchcard".
	// OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) overrides it.
	ServiceName string
	// ServiceVersion is the service.version resource attribute, normally the build
	// version; it is omitted when empty.
	ServiceVersion string
	// SpanProcessors receive every span in addition to the configured exporter; tests
	// use them to read what the process records.
	SpanProcessors []sdktrace.SpanProcessor
}

// Telemetry owns the process's tracer and meter providers.
type Telemetry struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagator     propagation.TextMapPropagator
	metricsHandler http.Handler

	// shutdowns run in order on Shutdown; they flush and stop whatever Setup started.
	shutdowns    []func(context.Context) error
	shutdownOnce sync.Once
	shutdownErr  error
}

// Setup builds providers from the standard OTEL_* environment variables.
//
// OTEL_SDK_DISABLED=true gives no-op tracer and meter providers; /metrics then only
// shows the Go runtime and process metrics. Otherwise traces are exported through
// autoexport when OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; when none is set spans are still
// created, and so carry trace ids, but are not exported. The sampler follows
// OTEL_TRACES_SAMPLER. Metrics are always served by MetricsHandler; an
// OTEL_METRICS_EXPORTER of otlp or console additionally pushes them through autoexport.
// A malformed OTEL_* value is an error, so a misconfigured deployment fails at start
// rather than silently losing telemetry.
//
// Setup does not touch the global OpenTelemetry providers; see InstallGlobals.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	registry := prometheus.NewRegistry()
	if err := registry.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("register go collector: %w", err)
	}
	if err := registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("register process collector: %w", err)
	}
	t := &Telemetry{
		// Baggage is deliberately not propagated. The tenant is established only by
		// authentication and must never come from what a caller sends; with no
		// baggage propagator, nothing in an inbound `baggage` header (for example
		// tenant.id=ten_other) reaches the context, spans or logs, and nothing we
		// put in baggage leaks to downstream services.
		propagator: propagation.TraceContext{},
		metricsHandler: promhttp.HandlerFor(registry, promhttp.HandlerOpts{
			// One failing collector should cost its own series, not the whole scrape.
			ErrorHandling: promhttp.ContinueOnError,
		}),
	}

	if sdkDisabled() {
		t.tracerProvider = tracenoop.NewTracerProvider()
		t.meterProvider = metricnoop.NewMeterProvider()
		return t, nil
	}

	res, err := newResource(ctx, opts)
	if err != nil {
		return nil, err
	}

	tp, err := newTracerProvider(ctx, res, opts.SpanProcessors)
	if err != nil {
		return nil, err
	}
	t.tracerProvider = tp
	t.shutdowns = append(t.shutdowns, tp.Shutdown)

	mp, err := newMeterProvider(ctx, res, registry)
	if err != nil {
		// Stop the tracer provider already built so a failed Setup leaves no
		// exporter goroutines behind.
		return nil, errors.Join(err, tp.Shutdown(ctx))
	}
	t.meterProvider = mp
	t.shutdowns = append(t.shutdowns, mp.Shutdown)

	return t, nil
}

// sdkDisabled reports whether OTEL_SDK_DISABLED asks for the SDK to be turned off;
// the specification treats only a case-insensitive "true" as set.
func sdkDisabled() bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true")
}

// newResource describes this process. The explicit service attributes come first so
// that OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, merged after them, win.
func newResource(ctx context.Context, opts Options) (*resource.Resource, error) {
	name := opts.ServiceName
	if name == "" {
		name = defaultServiceName
	}
	service := []attribute.KeyValue{semconv.ServiceName(name)}
	if opts.ServiceVersion != "" {
		service = append(service, semconv.ServiceVersion(opts.ServiceVersion))
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(service...),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("build telemetry resource: %w", err)
	}
	return res, nil
}

// newTracerProvider always returns a real SDK provider, even with no exporter: every
// request needs a trace id to hand back to the caller and to store in audit events.
// The SDK reads OTEL_TRACES_SAMPLER and OTEL_BSP_* itself.
func newTracerProvider(ctx context.Context, res *resource.Resource, extra []sdktrace.SpanProcessor) (*sdktrace.TracerProvider, error) {
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, sp := range extra {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	if tracesExportConfigured() {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			// autoexport's errors do not say which setting was wrong.
			return nil, fmt.Errorf("create span exporter (OTEL_TRACES_EXPORTER=%q): %w", os.Getenv("OTEL_TRACES_EXPORTER"), err)
		}
		// A "none" exporter would only cost a batching goroutine for nothing.
		if !autoexport.IsNoneSpanExporter(exp) {
			tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
		}
	}
	return sdktrace.NewTracerProvider(tpOpts...), nil
}

// tracesExportConfigured reports whether the environment asks for spans to be
// exported. An OTLP endpoint alone is enough, because autoexport defaults to OTLP.
func tracesExportConfigured() bool {
	for _, key := range []string{
		"OTEL_TRACES_EXPORTER",
		"OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	} {
		if os.Getenv(key) != "" {
			return true
		}
	}
	return false
}

// newMeterProvider registers the Prometheus exporter on registry, which is private to
// this Telemetry: the process-wide default registry would make a second Setup (in
// tests, or two servers in one binary) fail with duplicate registrations and would
// expose whatever any imported library registered globally.
func newMeterProvider(ctx context.Context, res *resource.Resource, registry *prometheus.Registry) (*sdkmetric.MeterProvider, error) {
	prom, err := promexporter.New(promexporter.WithRegisterer(registry))
	if err != nil {
		return nil, fmt.Errorf("create prometheus exporter: %w", err)
	}
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(prom)}

	switch exporter := strings.TrimSpace(os.Getenv("OTEL_METRICS_EXPORTER")); exporter {
	case "", "none", "prometheus":
		// Prometheus is already served by MetricsHandler; letting autoexport handle
		// "prometheus" would open a second HTTP listener on its own port.
	default:
		reader, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("create metric reader (OTEL_METRICS_EXPORTER=%q): %w", exporter, err), prom.Shutdown(ctx))
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(reader))
	}
	return sdkmetric.NewMeterProvider(mpOpts...), nil
}

// TracerProvider returns the provider every tracer in the process should come from.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tracerProvider }

// MeterProvider returns the provider every meter in the process should come from;
// its instruments appear on MetricsHandler.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.meterProvider }

// Propagator returns the W3C trace-context propagator. It does not handle baggage,
// so no inbound baggage ever reaches the request context.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.propagator }

// MetricsHandler serves the meter provider's instruments and the Go runtime and
// process metrics in the Prometheus text exposition format, for /metrics.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metricsHandler }

// InstallGlobals makes t's providers and propagator the OpenTelemetry globals, for
// libraries that can only read those. Setup leaves this choice to the composition
// root, so that tests and embedders can build a Telemetry without side effects.
func (t *Telemetry) InstallGlobals() {
	otel.SetTracerProvider(t.tracerProvider)
	otel.SetMeterProvider(t.meterProvider)
	otel.SetTextMapPropagator(t.propagator)
}

// Shutdown flushes and stops exporters. It should be called once the server has
// stopped taking requests, with a deadline; later calls return the first result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		var errs []error
		for _, shutdown := range t.shutdowns {
			errs = append(errs, shutdown(ctx))
		}
		if err := errors.Join(errs...); err != nil {
			t.shutdownErr = fmt.Errorf("shut down telemetry: %w", err)
		}
	})
	return t.shutdownErr
}
