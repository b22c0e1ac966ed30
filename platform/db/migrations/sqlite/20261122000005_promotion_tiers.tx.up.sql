-- Promotion tiers: the code-less, automatically applicable levels of a PROMOTION
-- campaign (Voucherify's promotion_tier).
CREATE TABLE promotion_tiers (
    tenant_id            TEXT NOT NULL REFERENCES tenants (id),
    id                   TEXT NOT NULL,
    campaign_id          TEXT NOT NULL,
    name                 TEXT NOT NULL,
    banner               TEXT,
    discount             TEXT NOT NULL,
    metadata             TEXT,
    hierarchy            INTEGER NOT NULL,
    active               BOOLEAN NOT NULL,
    category             TEXT,
    start_date           TIMESTAMP,
    expiration_date      TIMESTAMP,
    validity_day_of_week TEXT,
    validity_hours       TEXT,
    rules                TEXT NOT NULL,
    created_at           TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
);
CREATE INDEX promotion_tiers_campaign ON promotion_tiers (tenant_id, campaign_id, hierarchy);

ALTER TABLE redemptions ADD COLUMN tier_id TEXT;
