package db

// PreparedOn reports whether s, with a list of n, is prepared on d's pool for
// tenant reads.
func PreparedOn(s *Statement, d *DB, n int) bool {
	v, ok := d.readRef.stmts.Load(stmtKey{s, n})
	return ok && v.(*prepared).stmt != nil
}
