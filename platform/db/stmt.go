package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"
)

// MaxListArity is the longest IN list a Statement prepares; longer lists run
// unprepared. A list of up to 8 is prepared at its length; a longer one at the
// next power of two, its last argument repeated to fill the list (which an IN
// list does not mind), so that a statement is prepared at most 11 times per pool.
const MaxListArity = 64

// exactArity is the longest IN list prepared at its own length.
const exactArity = 8

// listArity is the length an IN list of n is prepared at.
func listArity(n int) int {
	if n <= exactArity {
		return n
	}
	a := exactArity
	for a < n {
		a *= 2
	}
	return a
}

// Statement is a query that every validation or redemption runs. It is prepared
// once per pooled connection and reused, so neither SQLite nor PostgreSQL parses
// or plans it again, and no query text is built per request. Its text is
// rendered once per pool by bun, with ? placeholders for the arguments, so that
// bun's column lists and scanning stay the single description of a table.
//
// A Statement runs prepared only inside a transaction of Read or InTx (or the
// instance variants) and in ReadEach; anywhere else it runs as an ordinary bun
// query.
type Statement struct {
	op, table string // for the span and metrics, as the query hook names bun's queries
	render    func(q bun.IDB, n int) string
}

// NewStatement describes a statement of operation op (SELECT, UPDATE…) on table.
// render builds its text on q with bun, writing Placeholder for each argument and
// List(n) for an IN list of n arguments; n is 0 for a statement without a list.
func NewStatement(op, table string, render func(q bun.IDB, n int) string) *Statement {
	return &Statement{op: op, table: table, render: render}
}

// NewRawStatement describes a statement written as SQL with ? placeholders.
func NewRawStatement(op, table, query string) *Statement {
	return NewStatement(op, table, func(bun.IDB, int) string { return query })
}

// List is the placeholder of an IN list of n arguments, for a Statement's render.
// A statement has at most one, after every other placeholder: its arguments come
// last, where Scan repeats the last to fill a list prepared longer.
func List(n int) bun.Safe {
	return bun.Safe(strings.TrimSuffix(strings.Repeat("?, ", n), ", "))
}

// Placeholder is the placeholder of one argument, for a Statement's render.
const Placeholder = bun.Safe("?")

// Scan runs the statement in tx with args and scans the result into dest: every
// row into a slice with bun, or the first row into a bun model or a scalar, where
// no row is sql.ErrNoRows as with SelectQuery.Scan. n is the length of the
// statement's IN list (0 for none), whose arguments come last in args.
//
// A statement not yet prepared on the transaction's pool runs unprepared while it
// is prepared in the background: the pool may have no other connection free
// until this transaction ends (the SQLite writer has one).
func (s *Statement) Scan(ctx context.Context, tx bun.IDB, dest any, n int, args ...any) error {
	a := listArity(n)
	btx, ref, p := s.use(ctx, tx, a)
	if p == nil {
		return tx.NewRaw(s.render(tx, n), args...).Scan(ctx, dest)
	}
	if n > len(args) {
		return fmt.Errorf("%s %s: an IN list of %d with %d arguments", strings.ToLower(s.op), s.table, n, len(args))
	}
	if a > n {
		args = append(args[:len(args):len(args)], slices.Repeat(args[len(args)-1:], a-n)...)
	}
	ctx, done := ref.start(ctx, s, p.text)
	rows, err := p.in(ctx, btx).QueryContext(ctx, ref.args(args)...)
	if err == nil {
		err = scan(ctx, ref.h, rows, dest)
	}
	done(err)
	return err
}

// Exec runs the statement, which has no IN list, in tx with args.
func (s *Statement) Exec(ctx context.Context, tx bun.IDB, args ...any) (sql.Result, error) {
	btx, ref, p := s.use(ctx, tx, 0)
	if p == nil {
		return tx.ExecContext(ctx, s.render(tx, 0), args...)
	}
	ctx, done := ref.start(ctx, s, p.text)
	res, err := p.in(ctx, btx).ExecContext(ctx, ref.args(args)...)
	done(err)
	return res, err
}

// use is the transaction (none for ReadEach's pool), its pool and the
// statement prepared on it for a list of n, or a nil statement when it is to
// run unprepared.
func (s *Statement) use(ctx context.Context, tx bun.IDB, n int) (bun.Tx, *poolRef, *prepared) {
	ref, _ := ctx.Value(poolKey{}).(*poolRef)
	if ref == nil || n > MaxListArity {
		return bun.Tx{}, nil, nil
	}
	btx, inTx := tx.(bun.Tx)
	if !inTx && (tx != ref.h || ref == ref.db.writeRef) {
		// Outside a transaction, only the reader pool of ReadEach: a writer's
		// statement must not escape its transaction.
		return bun.Tx{}, nil, nil
	}
	return btx, ref, ref.prepared(s, n)
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

// poolKey carries, in a transaction's context, the pool that transaction runs
// on, so that a Statement can use the statements prepared on it.
type poolKey struct{}

// poolRef is one pool of a DB and the statements prepared on it.
type poolRef struct {
	h  *bun.DB
	db *DB

	stmts sync.Map // stmtKey → *prepared

	// Background preparations run under ctx; closing the pool cancels ctx and
	// waits for them.
	ctx       context.Context
	cancel    context.CancelFunc
	preparing sync.WaitGroup
}

type stmtKey struct {
	s *Statement
	n int
}

type prepared struct {
	stmt *sql.Stmt // nil while being prepared
	text string
}

// in is the statement bound to btx, or on its pool when btx is none (ReadEach).
func (p *prepared) in(ctx context.Context, btx bun.Tx) *sql.Stmt {
	if btx.Tx == nil {
		return p.stmt
	}
	return btx.Tx.StmtContext(ctx, p.stmt)
}

func newPoolRef(h *bun.DB, d *DB) *poolRef {
	ctx, cancel := context.WithCancel(context.Background())
	return &poolRef{h: h, db: d, ctx: ctx, cancel: cancel}
}

// close stops the pool's preparations and closes what was prepared on it.
func (r *poolRef) close() {
	r.cancel()
	r.preparing.Wait()
	r.stmts.Range(func(k, v any) bool {
		if p := v.(*prepared); p.stmt != nil {
			_ = p.stmt.Close()
		}
		r.stmts.Delete(k)
		return true
	})
}

// prepared is s prepared on the pool for a list of n, or nil while it is being
// prepared.
func (r *poolRef) prepared(s *Statement, n int) *prepared {
	key := stmtKey{s, n}
	if v, ok := r.stmts.Load(key); ok {
		if p := v.(*prepared); p.stmt != nil {
			return p
		}
		return nil
	}
	if r.ctx.Err() != nil {
		return nil // the pool is closing
	}
	placeholder := &prepared{}
	if _, loaded := r.stmts.LoadOrStore(key, placeholder); loaded {
		return nil
	}
	r.preparing.Go(func() {
		ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
		defer cancel()
		p, err := r.prepare(ctx, s, n)
		if err != nil {
			// Unprepared until a later call tries again (the tables may not exist
			// yet, or the pool was closing).
			r.stmts.CompareAndDelete(key, placeholder)
			return
		}
		r.keep(key, p)
	})
	return nil
}

// prepare prepares s for a list of n on the pool.
func (r *poolRef) prepare(ctx context.Context, s *Statement, n int) (*prepared, error) {
	text := s.render(r.h, n)
	q := text
	if r.db.dialect == Postgres {
		q = numbered(text)
	}
	stmt, err := r.h.DB.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare %s %s: %w", strings.ToLower(s.op), s.table, err)
	}
	return &prepared{stmt: stmt, text: text}, nil
}

// keep stores p for key, unless a statement prepared concurrently is there
// already: p is closed then.
func (r *poolRef) keep(key stmtKey, p *prepared) {
	for {
		v, loaded := r.stmts.LoadOrStore(key, p)
		if !loaded {
			return
		}
		old := v.(*prepared)
		if old.stmt != nil {
			_ = p.stmt.Close()
			return
		}
		if r.stmts.CompareAndSwap(key, old, p) {
			return
		}
	}
}

// Prepare prepares s, with an IN list of n, on the pools of tenant reads and
// writes now, where its first use would prepare it in the background and run
// unprepared meanwhile (tests of the prepared path use it). A list longer than
// MaxListArity always runs unprepared: Prepare refuses it.
func (d *DB) Prepare(ctx context.Context, s *Statement, n int) error {
	if n > MaxListArity {
		return fmt.Errorf("db: an IN list of %d is longer than the %d a statement is prepared for", n, MaxListArity)
	}
	n = listArity(n)
	for _, r := range []*poolRef{d.readRef, d.writeRef} {
		if v, ok := r.stmts.Load(stmtKey{s, n}); ok && v.(*prepared).stmt != nil {
			continue
		}
		if r.ctx.Err() != nil {
			return errors.New("db: prepare on a closed database")
		}
		p, err := r.prepare(ctx, s, n)
		if err != nil {
			return err
		}
		r.keep(stmtKey{s, n}, p)
	}
	return nil
}

// start opens a prepared statement's span as the query hook does for bun's
// queries; done times the statement and ends the span.
func (r *poolRef) start(ctx context.Context, s *Statement, text string) (context.Context, func(err error)) {
	h := r.db.hook
	if h == nil {
		return ctx, func(error) {}
	}
	begin := time.Now()
	ctx = h.BeforeQuery(ctx, nil)
	span := trace.SpanFromContext(ctx)
	return ctx, func(err error) {
		h.finish(ctx, span, begin, s.op, s.table, func() string { return text }, err)
		span.End()
	}
}

// args are a statement's arguments as the pool's driver takes them: on SQLite,
// times as bun writes them there, so that comparisons with stored timestamps
// stay comparisons of one textual format.
func (r *poolRef) args(args []any) []any {
	if r.db.dialect != SQLite {
		return args
	}
	var out []any
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			if out == nil {
				out = append([]any(nil), args...)
			}
			lit := r.h.Dialect().AppendTime(nil, t) // a quoted literal
			out[i] = string(lit[1 : len(lit)-1])
		}
	}
	if out == nil {
		return args
	}
	return out
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
