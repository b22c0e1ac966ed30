-- Asynchronous actions (Voucherify's async_action): long work such as generating
-- 100,000 codes, run by a worker on any node. The worker finds work across tenants
-- in instance scope and does it in the tenant's own transactions.
CREATE TABLE async_actions (
    tenant_id    text NOT NULL REFERENCES tenants (id),
    id           text NOT NULL,
    type         text NOT NULL,
    status       text NOT NULL CHECK (status IN ('ENQUEUED', 'IN_PROGRESS', 'DONE', 'FAILED')),
    payload      jsonb NOT NULL,
    progress     bigint NOT NULL DEFAULT 0,
    result       jsonb,
    locked_until timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

--bun:split
CREATE INDEX async_actions_pending ON async_actions (status, created_at) WHERE status IN ('ENQUEUED', 'IN_PROGRESS');

--bun:split
ALTER TABLE async_actions ENABLE ROW LEVEL SECURITY;

--bun:split
ALTER TABLE async_actions FORCE ROW LEVEL SECURITY;

--bun:split
CREATE POLICY tenant_isolation ON async_actions
    USING (punchcard_instance_scope() OR tenant_id = current_setting('punchcard.tenant_id', true))
    WITH CHECK (punchcard_instance_scope() OR tenant_id = punchcard_tenant());

--bun:split
GRANT SELECT, INSERT, UPDATE ON async_actions TO punchcard_serving;
