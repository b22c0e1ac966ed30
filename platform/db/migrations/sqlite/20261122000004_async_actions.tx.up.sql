-- Asynchronous actions (Voucherify's async_action): long work such as generating
-- 100,000 codes, run by a worker.
CREATE TABLE async_actions (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('ENQUEUED', 'IN_PROGRESS', 'DONE', 'FAILED')),
    payload      TEXT NOT NULL,
    progress     INTEGER NOT NULL DEFAULT 0,
    result       TEXT,
    locked_until TIMESTAMP,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX async_actions_pending ON async_actions (status, created_at) WHERE status IN ('ENQUEUED', 'IN_PROGRESS');
