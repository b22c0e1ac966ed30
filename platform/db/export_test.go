package db

import (
	"context"

	"github.com/uptrace/bun"
)

// PreparedOn reports whether s, with a list prepared at length n (listArity:
// 16 for a list of 12), is prepared on d's pool for tenant reads.
func PreparedOn(s *Statement, d *DB, n int) bool {
	v, ok := d.readRef.stmts.Load(stmtKey{s, n})
	return ok && v.(*prepared).stmt != nil
}

// RunsPrepared reports whether s, with a list of n, runs prepared on q in ctx
// (a context of Read, InTx or ReadEach).
func RunsPrepared(ctx context.Context, s *Statement, q bun.IDB, n int) bool {
	_, ref, p := s.use(ctx, q, listArity(n))
	return ref != nil && p != nil
}

// ListArity is the length a list of n is prepared at.
func ListArity(n int) int { return listArity(n) }
