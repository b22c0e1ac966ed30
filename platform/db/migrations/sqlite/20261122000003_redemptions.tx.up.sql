-- Redemptions: a parent per request and a child per redeemable, Voucherify's shape.
-- Rollbacks are rows of their own that name what they reverse.
CREATE TABLE redemptions (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    parent_id       TEXT,
    kind            TEXT NOT NULL CHECK (kind IN ('redemption', 'rollback')),
    redemption_id   TEXT,
    status          TEXT NOT NULL CHECK (status IN ('SUCCEEDED', 'FAILED', 'ROLLED_BACK')),
    customer_id     TEXT,
    voucher_id      TEXT,
    voucher_code    TEXT,
    campaign_id     TEXT,
    order_id        TEXT,
    order_data      TEXT,
    amount          INTEGER NOT NULL DEFAULT 0,
    discount_amount INTEGER NOT NULL DEFAULT 0,
    gift_credits    INTEGER NOT NULL DEFAULT 0,
    channel         TEXT,
    local_date      TEXT NOT NULL,
    reason          TEXT,
    metadata        TEXT,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX redemptions_parent ON redemptions (tenant_id, parent_id);
CREATE INDEX redemptions_created ON redemptions (tenant_id, created_at, id);
CREATE INDEX redemptions_campaign ON redemptions (tenant_id, campaign_id, created_at);
CREATE INDEX redemptions_customer ON redemptions (tenant_id, customer_id, created_at);

CREATE TABLE redemption_usage (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    campaign_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    period      TEXT NOT NULL,
    count       INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (tenant_id, campaign_id, customer_id, period)
);

CREATE TABLE idempotency_keys (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    locked_until TIMESTAMP,
    status       INTEGER,
    body         BLOB,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (tenant_id, created_at);

CREATE TABLE outbox (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    type         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX outbox_pending ON outbox (tenant_id, delivered_at, id);

CREATE TABLE stacking_rules (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants (id),
    rules      TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
