-- A customer's wallet, newest first: what a qualification pages through with
-- options.starting_after (a created_at cursor). Without it, every qualification of a
-- customer scanned all of the tenant's vouchers.
--
-- Built concurrently (outside a transaction), so that redemptions keep updating
-- vouchers while it builds on a large table. A failed build leaves an invalid
-- index behind: DROP INDEX vouchers_holder and migrate again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS vouchers_holder ON vouchers (tenant_id, holder_id, created_at DESC, id DESC) WHERE holder_id IS NOT NULL;
