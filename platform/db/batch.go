package db

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
)

// Batch is writes that a transaction makes together: inserts, then guards, then
// updates. A guard is a conditional UPDATE or upsert that changes one row when its
// condition holds and none when it does not (a limit reached, a balance too low);
// an update is the same kind of write whose row count does not matter.
//
// On PostgreSQL Write sends the whole batch as one statement, with each write in a
// data-modifying WITH, and WriteLast sends it with the COMMIT, so a redemption's
// rows, audit event, outbox event and guards cost one round trip rather than one
// each. On SQLite, where a writer holds the database's single write lock from
// BEGIN anyway, both run the writes one after another, the guards and updates as
// prepared statements.
//
// Within one statement PostgreSQL does not let two writes change the same row,
// nor one see another's rows, so the writes of a batch must touch different rows
// and no guard may depend on the batch's inserts: a caller merges what it asks of
// one row into one guard.
type Batch struct {
	inserts []*bun.InsertQuery
	guards  []stmtArgs
	updates []stmtArgs
}

// stmtArgs is a Statement with its arguments.
type stmtArgs struct {
	stmt *Statement
	args []any
}

// Insert adds inserts, which run in the order added.
func (b *Batch) Insert(q ...*bun.InsertQuery) { b.inserts = append(b.inserts, q...) }

// Guard adds a guard: s (a Statement without an IN list or RETURNING clause,
// written with ? placeholders) with its arguments.
func (b *Batch) Guard(s *Statement, args ...any) { b.guards = append(b.guards, stmtArgs{s, args}) }

// Update adds a write like a guard's whose row count does not matter (it may find
// no row to change). Updates run after the guards.
func (b *Batch) Update(s *Statement, args ...any) { b.updates = append(b.updates, stmtArgs{s, args}) }

// WriteLast is Write for a batch that is its transaction's last work. On
// PostgreSQL, in a transaction begun by InTx, it sends the batch and the COMMIT
// in one round trip, as statements in this order: the inserts, the guards (one
// statement, ending in punchcard_require), the updates, COMMIT. The rows the
// guards lock are then held only for the rest of that round trip: not while the
// inserts run, and not while the caller is scheduled to ask for the commit. A
// guard that does not hold makes punchcard_require raise, so nothing after it
// runs and the transaction is left to roll back. Either way the transaction can
// run nothing more: the function given to InTx returns right after WriteLast,
// with an error when a guard did not hold.
func (d *DB) WriteLast(ctx context.Context, tx bun.IDB, b *Batch) (int, error) {
	s, _ := ctx.Value(txSettingsKey{}).(*txSettings)
	if d.dialect != Postgres || s == nil || !s.applied || len(b.guards) == 0 {
		return d.Write(ctx, tx, b)
	}
	var (
		q    strings.Builder
		args []any
	)
	for _, ins := range b.inserts {
		q.WriteString("?; ")
		args = append(args, ins)
	}
	g, gargs := d.statement(tx, &Batch{guards: b.guards})
	q.WriteString(g + " SELECT punchcard_require(" + counts(len(b.guards)) + "); ")
	args = append(args, gargs...)
	for _, u := range b.updates {
		q.WriteString(u.stmt.render(tx, 0) + "; ")
		args = append(args, u.args...)
	}
	q.WriteString("COMMIT")
	// Without arguments (bun writes them into the text), pgx sends the text as
	// one simple-protocol query, which may hold several statements.
	_, err := tx.NewRaw(q.String(), args...).Exec(ctx)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "PC001" {
		if i, aerr := strconv.Atoi(pgErr.Detail); aerr == nil && i >= 0 && i < len(b.guards) {
			return i, nil
		}
	}
	if err != nil {
		return -1, fmt.Errorf("write: %w", err)
	}
	s.committed = true
	return -1, nil
}

// Write runs b in tx. It returns the index of the first guard that changed no
// row, or -1 when every guard held. The caller rolls back a batch whose guard did
// not hold; on SQLite the writes after that guard have not run, on PostgreSQL
// they have.
func (d *DB) Write(ctx context.Context, tx bun.IDB, b *Batch) (int, error) {
	if d.dialect == Postgres && len(b.inserts)+len(b.guards)+len(b.updates) > 1 {
		return d.writeOne(ctx, tx, b)
	}
	for _, q := range b.inserts {
		if _, err := q.Exec(ctx); err != nil {
			return -1, fmt.Errorf("insert: %w", err)
		}
	}
	for i, g := range b.guards {
		res, err := g.stmt.Exec(ctx, tx, g.args...)
		if err != nil {
			return -1, fmt.Errorf("%s %s: %w", strings.ToLower(g.stmt.op), g.stmt.table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return -1, err
		}
		if n == 0 {
			return i, nil
		}
	}
	for _, u := range b.updates {
		if _, err := u.stmt.Exec(ctx, tx, u.args...); err != nil {
			return -1, fmt.Errorf("%s %s: %w", strings.ToLower(u.stmt.op), u.stmt.table, err)
		}
	}
	return -1, nil
}

// writeOne sends b as one PostgreSQL statement:
//
//	WITH w0 AS (INSERT …), …, g0 AS (UPDATE … RETURNING 1), …, u0 AS (UPDATE …), …
//	SELECT (SELECT count(*) FROM g0), …
//
// The guards run in order as the select list reads them; the inserts and
// updates, which nothing reads, run to completion before the statement ends.
func (d *DB) writeOne(ctx context.Context, tx bun.IDB, b *Batch) (int, error) {
	q, args := d.statement(tx, b)
	if len(b.guards) == 0 {
		q += " SELECT 1"
	} else {
		q += " SELECT " + counts(len(b.guards))
	}
	n := make([]int64, max(len(b.guards), 1))
	dest := make([]any, len(n))
	for i := range n {
		dest[i] = &n[i]
	}
	if err := tx.NewRaw(q, args...).Scan(ctx, dest...); err != nil {
		return -1, fmt.Errorf("write: %w", err)
	}
	for i := range b.guards {
		if n[i] == 0 {
			return i, nil
		}
	}
	return -1, nil
}

// statement is the WITH clause of b's PostgreSQL statement, with its arguments.
func (d *DB) statement(tx bun.IDB, b *Batch) (string, []any) {
	var (
		q    strings.Builder
		args []any
	)
	with := func(name string, i int, body string) {
		if q.Len() == 0 {
			q.WriteString("WITH ")
		} else {
			q.WriteString(", ")
		}
		q.WriteString(name + strconv.Itoa(i) + " AS (" + body + ")")
	}
	for i, ins := range b.inserts {
		with("w", i, "?")
		args = append(args, ins)
	}
	for i, g := range b.guards {
		with("g", i, g.stmt.render(tx, 0)+" RETURNING 1")
		args = append(args, g.args...)
	}
	for i, u := range b.updates {
		with("u", i, u.stmt.render(tx, 0))
		args = append(args, u.args...)
	}
	return q.String(), args
}

// counts is the list of the guards' row counts, "(SELECT count(*) FROM g0), …".
func counts(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(SELECT count(*) FROM g" + strconv.Itoa(i) + ")")
	}
	return b.String()
}
