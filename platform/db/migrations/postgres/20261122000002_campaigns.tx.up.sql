-- Campaigns and their vouchers. Counters change only through conditional updates in
-- the redemption transaction; the CHECKs are the last line of defence.
CREATE TABLE campaigns (
    tenant_id                  text NOT NULL REFERENCES tenants (id),
    id                         text NOT NULL,
    name                       text NOT NULL,
    description                text,
    campaign_type              text NOT NULL,
    type                       text NOT NULL,
    category                   text,
    active                     boolean NOT NULL,
    start_date                 timestamptz,
    expiration_date            timestamptz,
    validity_day_of_week       jsonb,
    validity_hours             jsonb,
    voucher                    jsonb NOT NULL,
    limits                     jsonb NOT NULL,
    rules                      jsonb NOT NULL,
    metadata                   jsonb,
    vouchers_count             bigint NOT NULL DEFAULT 0,
    vouchers_generation_status text NOT NULL,
    redemptions_count          bigint NOT NULL DEFAULT 0 CHECK (redemptions_count >= 0),
    discount_total             bigint NOT NULL DEFAULT 0 CHECK (discount_total >= 0),
    order_total                bigint NOT NULL DEFAULT 0 CHECK (order_total >= 0),
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

--bun:split
CREATE UNIQUE INDEX campaigns_name ON campaigns (tenant_id, name);

--bun:split
CREATE INDEX campaigns_created ON campaigns (tenant_id, created_at, id);

--bun:split
CREATE TABLE vouchers (
    tenant_id           text NOT NULL REFERENCES tenants (id),
    id                  text NOT NULL,
    code                text NOT NULL,
    campaign_id         text,
    category            text,
    type                text NOT NULL,
    discount            jsonb,
    gift_amount         bigint NOT NULL DEFAULT 0 CHECK (gift_amount >= 0),
    gift_balance        bigint NOT NULL DEFAULT 0 CHECK (gift_balance >= 0 AND gift_balance <= gift_amount),
    gift_effect         text,
    redemption_quantity bigint CHECK (redemption_quantity > 0),
    redeemed_quantity   bigint NOT NULL DEFAULT 0 CHECK (redeemed_quantity >= 0),
    active              boolean NOT NULL,
    holder_id           text,
    start_date          timestamptz,
    expiration_date     timestamptz,
    metadata            jsonb,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
);

--bun:split
CREATE UNIQUE INDEX vouchers_code ON vouchers (tenant_id, code);

--bun:split
CREATE INDEX vouchers_campaign ON vouchers (tenant_id, campaign_id, id);

--bun:split
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['campaigns', 'vouchers'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = punchcard_tenant()) WITH CHECK (tenant_id = punchcard_tenant())', t);
    END LOOP;
END
$$;

--bun:split
GRANT SELECT, INSERT, UPDATE, DELETE ON campaigns, vouchers TO punchcard_serving;
