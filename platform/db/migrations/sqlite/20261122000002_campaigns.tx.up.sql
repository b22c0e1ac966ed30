-- Campaigns and their vouchers. Counters change only through conditional updates in
-- the redemption transaction; the CHECKs are the last line of defence.
CREATE TABLE campaigns (
    tenant_id                  TEXT NOT NULL REFERENCES tenants (id),
    id                         TEXT NOT NULL,
    name                       TEXT NOT NULL,
    description                TEXT,
    campaign_type              TEXT NOT NULL,
    type                       TEXT NOT NULL,
    category                   TEXT,
    active                     BOOLEAN NOT NULL,
    start_date                 TIMESTAMP,
    expiration_date            TIMESTAMP,
    validity_day_of_week       TEXT,
    validity_hours             TEXT,
    voucher                    TEXT NOT NULL,
    limits                     TEXT NOT NULL,
    rules                      TEXT NOT NULL,
    metadata                   TEXT,
    vouchers_count             INTEGER NOT NULL DEFAULT 0,
    vouchers_generation_status TEXT NOT NULL,
    redemptions_count          INTEGER NOT NULL DEFAULT 0 CHECK (redemptions_count >= 0),
    discount_total             INTEGER NOT NULL DEFAULT 0 CHECK (discount_total >= 0),
    order_total                INTEGER NOT NULL DEFAULT 0 CHECK (order_total >= 0),
    created_at                 TIMESTAMP NOT NULL,
    updated_at                 TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX campaigns_name ON campaigns (tenant_id, name);
CREATE INDEX campaigns_created ON campaigns (tenant_id, created_at, id);

CREATE TABLE vouchers (
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    id                  TEXT NOT NULL,
    code                TEXT NOT NULL,
    campaign_id         TEXT,
    category            TEXT,
    type                TEXT NOT NULL,
    discount            TEXT,
    gift_amount         INTEGER NOT NULL DEFAULT 0 CHECK (gift_amount >= 0),
    gift_balance        INTEGER NOT NULL DEFAULT 0 CHECK (gift_balance >= 0 AND gift_balance <= gift_amount),
    gift_effect         TEXT,
    redemption_quantity INTEGER CHECK (redemption_quantity > 0),
    redeemed_quantity   INTEGER NOT NULL DEFAULT 0 CHECK (redeemed_quantity >= 0),
    active              BOOLEAN NOT NULL,
    holder_id           TEXT,
    start_date          TIMESTAMP,
    expiration_date     TIMESTAMP,
    metadata            TEXT,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
);
CREATE UNIQUE INDEX vouchers_code ON vouchers (tenant_id, code);
CREATE INDEX vouchers_campaign ON vouchers (tenant_id, campaign_id, id);
