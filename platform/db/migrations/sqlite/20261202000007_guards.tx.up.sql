-- PostgreSQL adds punchcard_require here, for batches of guarded writes that
-- commit in the same round trip. SQLite commits where it writes, and needs no
-- such function.
SELECT 1;
