-- A customer's wallet, newest first: what a qualification pages through with
-- options.starting_after (a created_at cursor). Without it, every qualification of a
-- customer scanned all of the tenant's vouchers.
CREATE INDEX vouchers_holder ON vouchers (tenant_id, holder_id, created_at DESC, id DESC) WHERE holder_id IS NOT NULL;
