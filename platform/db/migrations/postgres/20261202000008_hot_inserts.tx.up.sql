-- The tables a redemption inserts into stop referencing tenants. A foreign key
-- check takes a FOR KEY SHARE lock on the referenced row, and every concurrent
-- redemption of a tenant references the same tenants row, so PostgreSQL turns
-- the shared locks into multixacts: a quarter of the redemptions insert's time
-- with 16 concurrent redemptions. The tenant of these rows is
-- still checked on every write: row-level security's WITH CHECK holds tenant_id
-- to the transaction's tenant, which comes from an authenticated API key, and
-- tenants are never deleted (audit_events, written with every change, never
-- had the reference). TestRowLevelSecurityBackstop forges rows in all four.
ALTER TABLE redemptions DROP CONSTRAINT redemptions_tenant_id_fkey;

--bun:split
ALTER TABLE redemption_usage DROP CONSTRAINT redemption_usage_tenant_id_fkey;

--bun:split
ALTER TABLE outbox DROP CONSTRAINT outbox_tenant_id_fkey;

--bun:split
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_tenant_id_fkey;
