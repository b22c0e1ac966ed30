package db

import (
	"context"
	"database/sql"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
)

// MaxListArity is the longest IN list a Statement prepares; longer lists run
// unprepared.
const MaxListArity = 8

// Statement is a query that every validation or redemption runs. It is prepared
// once per pooled connection and reused, so neither SQLite nor PostgreSQL parses
// or plans it again, and no query text is built per request. Its text is
// rendered once per pool by bun, with ? placeholders for the arguments, so that
// bun's column lists and scanning stay the single description of a table.
//
// A Statement runs prepared only inside a transaction of Read or InTx (or the
// instance variants); anywhere else it runs as an ordinary bun query.
type Statement struct {
	name   string // the span name: operation and table, e.g. "SELECT vouchers"
	render func(q bun.IDB, n int) string
	cache  sync.Map // stmtKey → *prepared
}

type stmtKey struct {
	pool *sql.DB
	n    int
}

type prepared struct {
	stmt *sql.Stmt // nil while being prepared
	text string
}

// NewStatement describes a statement. render builds its text on q with bun,
// writing bun.Safe("?") for each argument and List(n) for an IN list of n
// arguments; n is 0 for a statement without a list.
func NewStatement(name string, render func(q bun.IDB, n int) string) *Statement {
	s := &Statement{name: name, render: render}
	statementsMu.Lock()
	statements = append(statements, s)
	statementsMu.Unlock()
	return s
}

// statements are every Statement described, so that closing a pool can close
// what was prepared on it.
var (
	statementsMu sync.Mutex
	statements   []*Statement
)

// forget closes and drops the statements prepared on pool.
func forget(pool *sql.DB) {
	statementsMu.Lock()
	all := statements
	statementsMu.Unlock()
	for _, s := range all {
		s.cache.Range(func(k, v any) bool {
			if k.(stmtKey).pool == pool {
				if p := v.(*prepared); p.stmt != nil {
					_ = p.stmt.Close()
				}
				s.cache.Delete(k)
			}
			return true
		})
	}
}

// NewRawStatement describes a statement written as SQL with ? placeholders.
func NewRawStatement(name, query string) *Statement {
	return NewStatement(name, func(bun.IDB, int) string { return query })
}

// List is the placeholder of an IN list of n arguments, for a Statement's render.
func List(n int) bun.Safe {
	return bun.Safe(strings.TrimSuffix(strings.Repeat("?, ", n), ", "))
}

// Placeholder is the placeholder of one argument, for a Statement's render.
const Placeholder = bun.Safe("?")

// poolKey carries, in a transaction's context, the pool that transaction
// runs on, so that a Statement can use the statements prepared on it.
type poolKey struct{}

type poolRef struct {
	h    *bun.DB
	hook *queryHook
	d    Dialect

	// Background preparations run under ctx; closing the pool cancels ctx and
	// waits for them.
	ctx       context.Context
	cancel    context.CancelFunc
	preparing sync.WaitGroup
}

func newPoolRef(h *bun.DB, hook *queryHook, d Dialect) *poolRef {
	ctx, cancel := context.WithCancel(context.Background())
	return &poolRef{h: h, hook: hook, d: d, ctx: ctx, cancel: cancel}
}

// close stops the pool's preparations and closes what was prepared on it.
func (r *poolRef) close() {
	r.cancel()
	r.preparing.Wait()
	forget(r.h.DB)
}

// Scan runs the statement in tx with args and scans the result into dest: every
// row into a slice with bun, or the first row into a bun model or a scalar, where
// no row is sql.ErrNoRows as with SelectQuery.Scan. n is the length of the
// statement's IN list (0 for none).
//
// A statement not yet prepared on the transaction's pool runs unprepared while it
// is prepared in the background: the pool may have no other connection free
// until this transaction ends (the SQLite writer has one).
func (s *Statement) Scan(ctx context.Context, tx bun.IDB, dest any, n int, args ...any) error {
	btx, ref, p := s.use(ctx, tx, n)
	if p == nil {
		return tx.NewRaw(s.render(tx, n), args...).Scan(ctx, dest)
	}
	ctx, done := ref.start(ctx, s.name)
	rows, err := btx.Tx.StmtContext(ctx, p.stmt).QueryContext(ctx, ref.args(args)...)
	if err == nil {
		err = scan(ctx, ref.h, rows, dest)
	}
	done(p.text, err)
	return err
}

// Exec runs the statement, which has no IN list, in tx with args.
func (s *Statement) Exec(ctx context.Context, tx bun.IDB, args ...any) (sql.Result, error) {
	btx, ref, p := s.use(ctx, tx, 0)
	if p == nil {
		return tx.ExecContext(ctx, s.render(tx, 0), args...)
	}
	ctx, done := ref.start(ctx, s.name)
	res, err := btx.Tx.StmtContext(ctx, p.stmt).ExecContext(ctx, ref.args(args)...)
	done(p.text, err)
	return res, err
}

// use is the transaction, its pool and the statement prepared on it for a
// list of n, or a nil statement when it is to run unprepared.
func (s *Statement) use(ctx context.Context, tx bun.IDB, n int) (bun.Tx, *poolRef, *prepared) {
	btx, inTx := tx.(bun.Tx)
	ref, _ := ctx.Value(poolKey{}).(*poolRef)
	if !inTx || ref == nil || n > MaxListArity {
		return btx, nil, nil
	}
	return btx, ref, s.prepared(ref, n)
}

// start opens a prepared statement's span; done times the statement and ends
// the span, as the query hook does for bun's queries.
func (r *poolRef) start(ctx context.Context, name string) (context.Context, func(text string, err error)) {
	if r.hook == nil {
		return ctx, func(string, error) {}
	}
	begin := time.Now()
	ctx, span := r.hook.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
	return ctx, func(text string, err error) {
		r.hook.record(ctx, span, begin, name, text, err)
		span.End()
	}
}

// args are a statement's arguments as the pool's driver takes them.
func (r *poolRef) args(args []any) []any {
	if r.d == SQLite {
		return sqliteArgs(args)
	}
	return args
}

func scan(ctx context.Context, h *bun.DB, rows *sql.Rows, dest any) error {
	if t := reflect.TypeOf(dest); t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Slice {
		return h.ScanRows(ctx, rows, dest)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	var err error
	if t := reflect.TypeOf(dest); t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
		err = h.ScanRow(ctx, rows, dest)
	} else {
		err = rows.Scan(dest)
	}
	if err != nil {
		return err
	}
	return rows.Close()
}

// prepared is the statement prepared on ref's pool for a list of n, or nil
// while it is being prepared.
func (s *Statement) prepared(ref *poolRef, n int) *prepared {
	key := stmtKey{ref.h.DB, n}
	if v, ok := s.cache.Load(key); ok {
		if p := v.(*prepared); p.stmt != nil {
			return p
		}
		return nil
	}
	if ref.ctx.Err() != nil {
		return nil // the pool is closing
	}
	p := &prepared{}
	if _, loaded := s.cache.LoadOrStore(key, p); loaded {
		return nil
	}
	ref.preparing.Go(func() {
		ctx, cancel := context.WithTimeout(ref.ctx, time.Minute)
		defer cancel()
		text := s.render(ref.h, n)
		q := text
		if ref.d == Postgres {
			q = numbered(text)
		}
		stmt, err := ref.h.DB.PrepareContext(ctx, q)
		if err != nil {
			// Unprepared until a later call tries again (the tables may not exist
			// yet, or the pool was closing).
			s.cache.Delete(key)
			return
		}
		s.cache.Store(key, &prepared{stmt: stmt, text: text})
	})
	return nil
}

// numbered rewrites ? placeholders as PostgreSQL's $1, $2…. The statements
// rendered for it quote identifiers and hold no literal question mark.
func numbered(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sqliteArgs formats times as bun stores them in SQLite, so that comparisons
// with stored timestamps stay textual comparisons of one format.
func sqliteArgs(args []any) []any {
	out := args
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			if &out[0] == &args[0] {
				out = append([]any(nil), args...)
			}
			out[i] = t.UTC().Format("2006-01-02 15:04:05.999999-07:00")
		}
	}
	return out
}

// record times a prepared statement and completes its span, as the query hook
// does for bun's queries: operation, table and the text with placeholders.
func (h *queryHook) record(ctx context.Context, span trace.Span, start time.Time, name, text string, err error) {
	op, table, _ := strings.Cut(name, " ")
	attrs := []attribute.KeyValue{h.system, attribute.String("db.operation.name", op), attribute.String("db.collection.name", table)}
	h.duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attrs...))
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attrs...)
	span.SetAttributes(attribute.String("db.query.text", text))
	if t := telemetry.TenantID(ctx); t != "" {
		span.SetAttributes(telemetry.TenantAttr(t))
	}
	setErrorStatus(span, err)
}
