-- Promotion tiers: the code-less, automatically applicable levels of a PROMOTION
-- campaign (Voucherify's promotion_tier).
CREATE TABLE promotion_tiers (
    tenant_id            text NOT NULL REFERENCES tenants (id),
    id                   text NOT NULL,
    campaign_id          text NOT NULL,
    name                 text NOT NULL,
    banner               text,
    discount             jsonb NOT NULL,
    metadata             jsonb,
    hierarchy            integer NOT NULL,
    active               boolean NOT NULL,
    category             text,
    start_date           timestamptz,
    expiration_date      timestamptz,
    validity_day_of_week jsonb,
    validity_hours       jsonb,
    rules                jsonb NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
);

--bun:split
CREATE INDEX promotion_tiers_campaign ON promotion_tiers (tenant_id, campaign_id, hierarchy);

--bun:split
ALTER TABLE promotion_tiers ENABLE ROW LEVEL SECURITY;

--bun:split
ALTER TABLE promotion_tiers FORCE ROW LEVEL SECURITY;

--bun:split
CREATE POLICY tenant_isolation ON promotion_tiers USING (tenant_id = punchcard_tenant()) WITH CHECK (tenant_id = punchcard_tenant());

--bun:split
GRANT SELECT, INSERT, UPDATE ON promotion_tiers TO punchcard_serving;

--bun:split
ALTER TABLE redemptions ADD COLUMN tier_id text;
