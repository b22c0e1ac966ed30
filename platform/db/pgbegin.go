package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// On PostgreSQL a transaction's row-level security settings travel with its BEGIN:
// "BEGIN; SELECT set_config(…, true)" in one simple-protocol round trip, where
// database/sql would send BEGIN and the settings one after the other. Every
// tenant transaction saves a round trip: a validation makes five instead of six.
//
// run puts the settings in the context it begins with; beginConn.BeginTx finds
// them there and marks them applied. When it cannot apply them (an isolation level
// of its own, a value it will not quote) it begins as pgx does and run sets them
// with bind parameters, as before.

// txSettings are the name, value pairs of one transaction's set_config calls.
// committed is set when a batch's statement carried the transaction's COMMIT
// (DB.WriteLast), so that Commit has nothing left to send.
type txSettings struct {
	pairs     []string
	applied   bool
	committed bool
}

type txSettingsKey struct{}

// beginConnector connects through pgx's database/sql connector and wraps each
// connection in a beginConn.
type beginConnector struct{ driver.Connector }

func (c beginConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if sc, ok := conn.(*stdlib.Conn); ok {
		return &beginConn{Conn: sc}, nil
	}
	return conn, nil
}

// beginConn is pgx's database/sql connection with a BeginTx that applies the
// transaction's settings; every other method is pgx's.
type beginConn struct{ *stdlib.Conn }

func (c *beginConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	s, _ := ctx.Value(txSettingsKey{}).(*txSettings)
	if s == nil || sql.IsolationLevel(opts.Isolation) != sql.LevelDefault {
		return c.Conn.BeginTx(ctx, opts)
	}
	q, ok := beginQuery(opts.ReadOnly, s.pairs)
	if !ok {
		return c.Conn.BeginTx(ctx, opts)
	}
	pc := c.Conn.Conn()
	if pc.IsClosed() {
		return nil, driver.ErrBadConn
	}
	tx, err := pc.BeginTx(ctx, pgx.TxOptions{BeginQuery: q})
	if err != nil {
		return nil, err
	}
	s.applied = true
	return pgxTx{ctx: ctx, tx: tx, s: s}, nil
}

// beginQuery is BEGIN with the settings, or false when a value is not one it
// quotes as a literal (set_config then takes it as a bind parameter).
func beginQuery(readOnly bool, pairs []string) (string, bool) {
	var b strings.Builder
	b.WriteString("BEGIN")
	if readOnly {
		b.WriteString(" READ ONLY")
	}
	b.WriteString("; SELECT ")
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("set_config(")
		for j, v := range pairs[i : i+2] {
			if !literal(v) {
				return "", false
			}
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("'" + v + "'")
		}
		b.WriteString(", true)")
	}
	return b.String(), true
}

// literal reports whether v can be written between single quotes as it is: ids,
// setting names and scopes are, and anything else goes as a bind parameter.
func literal(v string) bool {
	for _, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

// pgxTx is a pgx transaction as database/sql's driver.Tx.
type pgxTx struct {
	ctx context.Context
	tx  pgx.Tx
	s   *txSettings
}

func (t pgxTx) Commit() error {
	if t.s.committed {
		return nil
	}
	return t.tx.Commit(t.ctx)
}

func (t pgxTx) Rollback() error {
	if t.s.committed {
		return errCommitted
	}
	return t.tx.Rollback(t.ctx)
}

// errCommitted is the rollback of a transaction that a batch has committed.
var errCommitted = errors.New("db: the transaction was committed by its last batch")
