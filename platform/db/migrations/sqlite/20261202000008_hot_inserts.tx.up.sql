-- PostgreSQL drops the tenants references of the tables a redemption inserts
-- into here, for the row lock each reference takes on the tenant. SQLite's
-- check is a lookup without a lock, and dropping a reference there means
-- rebuilding the table: SQLite keeps them.
SELECT 1;
