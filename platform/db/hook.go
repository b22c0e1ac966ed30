package db

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
)

// queryHook traces and times every query. Each span carries the tenant of the
// transaction, the operation, the table and the query text with placeholders, never
// with values: bound values are customers' data. A failed query's span records the
// SQLSTATE only, since database error messages quote the offending values.
type queryHook struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	system   attribute.KeyValue
	sets     sync.Map // opTable → attribute.Set, the duration's attributes
}

// opTable is an operation on a table, as the duration metric labels it.
type opTable struct{ op, table string }

var _ bun.QueryHook = (*queryHook)(nil)

const instrumentation = "github.com/punchcard-loyalty/punchcard/platform/db"

func newQueryHook(d Dialect, tp trace.TracerProvider, mp metric.MeterProvider) (*queryHook, error) {
	h := &queryHook{tracer: tp.Tracer(instrumentation), system: attribute.String("db.system.name", map[Dialect]string{Postgres: "postgresql", SQLite: "sqlite"}[d])}
	var err error
	h.duration, err = mp.Meter(instrumentation).Float64Histogram("db.client.operation.duration",
		metric.WithDescription("Duration of database client operations."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
	return h, err
}

func (h *queryHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	ctx, span := h.tracer.Start(ctx, "db", trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(h.system)
		if t := telemetry.TenantID(ctx); t != "" {
			span.SetAttributes(telemetry.TenantAttr(t))
		}
	}
	return ctx
}

func (h *queryHook) AfterQuery(ctx context.Context, e *bun.QueryEvent) {
	table := ""
	if e.IQuery != nil {
		// bun quotes a name given as Table("…"), not a model's.
		table = strings.Trim(e.IQuery.GetTableName(), "\"`")
	}
	span := trace.SpanFromContext(ctx)
	h.finish(ctx, span, e.StartTime, e.Operation(), table, func() string { return queryText(e) }, e.Err)
	if span.IsRecording() {
		span.End()
	}
}

// finish times a query begun by BeforeQuery and completes its span: named by
// operation and table, with the text (rendered only for a recording span) and,
// on failure, the SQLSTATE.
func (h *queryHook) finish(ctx context.Context, span trace.Span, start time.Time, op, table string, text func() string, err error) {
	h.duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributeSet(h.attributes(op, table)))
	if !span.IsRecording() {
		return
	}
	name := op
	span.SetAttributes(attribute.String("db.operation.name", op))
	if table != "" {
		name += " " + table
		span.SetAttributes(attribute.String("db.collection.name", table))
	}
	span.SetName(name)
	span.SetAttributes(attribute.String("db.query.text", text()))
	setErrorStatus(span, err)
}

// attributes is the duration metric's attribute set for op on table, built once
// per pair: the pairs are the application's queries, a small fixed set.
func (h *queryHook) attributes(op, table string) attribute.Set {
	key := opTable{op, table}
	if s, ok := h.sets.Load(key); ok {
		return s.(attribute.Set)
	}
	attrs := []attribute.KeyValue{h.system, attribute.String("db.operation.name", op)}
	if table != "" {
		attrs = append(attrs, attribute.String("db.collection.name", table))
	}
	s, _ := h.sets.LoadOrStore(key, attribute.NewSet(attrs...))
	return s.(attribute.Set)
}

// setErrorStatus marks a failed query's span with the SQLSTATE only.
func setErrorStatus(span trace.Span, err error) {
	if err == nil || errors.Is(err, sql.ErrNoRows) || errors.Is(err, sql.ErrTxDone) {
		return
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		span.SetAttributes(attribute.String("db.response.status_code", pgErr.Code))
		span.SetStatus(codes.Error, "SQLSTATE "+pgErr.Code)
	} else {
		span.SetStatus(codes.Error, "database error")
	}
}

// queryText renders the query with placeholders in place of values, capped in size.
func queryText(e *bun.QueryEvent) string {
	const limit = 4000
	var q string
	if e.IQuery != nil {
		if b, err := e.IQuery.AppendQuery(schema.NewNopQueryGen(), nil); err == nil {
			q = string(b)
		}
	}
	if q == "" {
		q = e.QueryTemplate // raw queries: the text as written, with ? placeholders
	}
	if len(q) > limit {
		q = q[:limit]
	}
	return q
}
