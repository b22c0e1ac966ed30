-- Tenants and their API keys.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    currency    TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE api_keys (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    id            TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    secret_prefix TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP,
    revoked_at    TIMESTAMP,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);

-- Customers (Voucherify's customer object) and their consents.
CREATE TABLE customers (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    source_id   TEXT,
    name        TEXT,
    email       TEXT,
    phone       TEXT,
    birthdate   TEXT,
    description TEXT,
    address     TEXT,
    metadata    TEXT,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX customers_source_id ON customers (tenant_id, source_id);
CREATE INDEX customers_email ON customers (tenant_id, email);
-- The list orders: created_at (the default, newest first) and updated_at, with id as the tie-break of the cursor.
CREATE INDEX customers_created ON customers (tenant_id, created_at, id);
CREATE INDEX customers_updated ON customers (tenant_id, updated_at, id);

CREATE TABLE customer_consents (
    tenant_id   TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    consent_id  TEXT NOT NULL,
    granted     BOOLEAN NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, consent_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);

-- The audit log: events are append-only; seals chain them per tenant; pending
-- lists events written but not yet sealed.
CREATE TABLE audit_events (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    occurred_at   TIMESTAMP NOT NULL,
    actor_type    TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    request_id    TEXT NOT NULL DEFAULT '',
    trace_id      TEXT NOT NULL DEFAULT '',
    before        TEXT,
    after         TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_events_occurred ON audit_events (tenant_id, occurred_at, id);
CREATE INDEX audit_events_resource ON audit_events (tenant_id, resource_type, resource_id, id);
CREATE INDEX audit_events_action ON audit_events (tenant_id, action, id);

CREATE TABLE audit_seals (
    tenant_id TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    event_id  TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    sealed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE UNIQUE INDEX audit_seals_event ON audit_seals (tenant_id, event_id);

CREATE TABLE audit_pending (
    tenant_id TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);

-- Append-only in the embedded database too: rows of the audit log are never changed.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_seals_no_update BEFORE UPDATE ON audit_seals
BEGIN SELECT RAISE(ABORT, 'audit seals are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_seals_no_delete BEFORE DELETE ON audit_seals
BEGIN SELECT RAISE(ABORT, 'audit seals are append-only'); END;
