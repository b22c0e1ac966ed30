-- Redemptions: a parent per request and a child per redeemable, Voucherify's shape.
-- Rollbacks are rows of their own that name what they reverse.
CREATE TABLE redemptions (
    tenant_id       text NOT NULL REFERENCES tenants (id),
    id              text NOT NULL,
    parent_id       text,
    kind            text NOT NULL CHECK (kind IN ('redemption', 'rollback')),
    redemption_id   text,            -- rollbacks: the redemption they reverse
    status          text NOT NULL CHECK (status IN ('SUCCEEDED', 'FAILED', 'ROLLED_BACK')),
    customer_id     text,
    voucher_id      text,
    voucher_code    text,
    campaign_id     text,
    order_id        text,
    order_data      jsonb,
    amount          bigint NOT NULL DEFAULT 0,
    discount_amount bigint NOT NULL DEFAULT 0,
    gift_credits    bigint NOT NULL DEFAULT 0,
    channel         text,
    local_date      text NOT NULL,  -- YYYY-MM-DD in the tenant's zone, for day and month limits
    reason          text,
    metadata        jsonb,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

--bun:split
CREATE INDEX redemptions_parent ON redemptions (tenant_id, parent_id);

--bun:split
CREATE INDEX redemptions_created ON redemptions (tenant_id, created_at, id);

--bun:split
CREATE INDEX redemptions_campaign ON redemptions (tenant_id, campaign_id, created_at);

--bun:split
CREATE INDEX redemptions_customer ON redemptions (tenant_id, customer_id, created_at);

--bun:split
-- Usage counters behind the per-customer and per-period limits: one row per
-- (campaign, customer or '' for everyone, period: '' for all time, YYYY-MM-DD, YYYY-MM).
CREATE TABLE redemption_usage (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    campaign_id text NOT NULL,
    customer_id text NOT NULL,
    period      text NOT NULL,
    count       bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (tenant_id, campaign_id, customer_id, period)
);

--bun:split
-- Idempotency-Key: the stored reply of a request, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    tenant_id    text NOT NULL REFERENCES tenants (id),
    key          text NOT NULL,
    request_hash text NOT NULL,
    locked_until timestamptz,        -- set while the first request is in flight
    status       integer,
    body         bytea,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

--bun:split
CREATE INDEX idempotency_keys_created ON idempotency_keys (tenant_id, created_at);

--bun:split
-- Domain events written in the transaction of the change they describe, for
-- delivery later (webhooks).
CREATE TABLE outbox (
    tenant_id    text NOT NULL REFERENCES tenants (id),
    id           text NOT NULL,
    type         text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    delivered_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);

--bun:split
CREATE INDEX outbox_pending ON outbox (tenant_id, delivered_at, id);

--bun:split
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['redemptions', 'redemption_usage', 'idempotency_keys', 'outbox'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = punchcard_tenant()) WITH CHECK (tenant_id = punchcard_tenant())', t);
    END LOOP;
END
$$;

--bun:split
GRANT SELECT, INSERT, UPDATE, DELETE ON redemptions, redemption_usage, idempotency_keys, outbox TO punchcard_serving;

--bun:split
-- A tenant's stacking settings (Voucherify's stacking-rule object).
CREATE TABLE stacking_rules (
    tenant_id  text PRIMARY KEY REFERENCES tenants (id),
    rules      jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);

--bun:split
ALTER TABLE stacking_rules ENABLE ROW LEVEL SECURITY;

--bun:split
ALTER TABLE stacking_rules FORCE ROW LEVEL SECURITY;

--bun:split
CREATE POLICY tenant_isolation ON stacking_rules USING (tenant_id = punchcard_tenant()) WITH CHECK (tenant_id = punchcard_tenant());

--bun:split
GRANT SELECT, INSERT, UPDATE ON stacking_rules TO punchcard_serving;
