-- Tenant-authored policies: immutable versions per (tenant, kind) and the one
-- active per (tenant, kind). Publishing inserts a version and activates it;
-- rollback activates an earlier one. Versions are never updated or deleted.
CREATE TABLE policy_versions (
    tenant_id    text NOT NULL REFERENCES tenants (id),
    kind         text NOT NULL CHECK (kind IN ('eligibility', 'stacking', 'fraud', 'segments')),
    version      integer NOT NULL CHECK (version > 0),
    modules      jsonb NOT NULL,
    data         jsonb,
    replace_base boolean NOT NULL DEFAULT false,
    digest       text NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, kind, version)
);

--bun:split
ALTER TABLE policy_versions ENABLE ROW LEVEL SECURITY;

--bun:split
ALTER TABLE policy_versions FORCE ROW LEVEL SECURITY;

--bun:split
CREATE POLICY tenant_isolation ON policy_versions USING (tenant_id = punchcard_tenant()) WITH CHECK (tenant_id = punchcard_tenant());

--bun:split
GRANT SELECT, INSERT ON policy_versions TO punchcard_serving;

--bun:split
-- The active version of each (tenant, kind). Every node keeps the active versions
-- of the tenants it serves in memory and polls this table, in instance scope, for
-- activations newer than its last poll (activated_at is the database's clock).
CREATE TABLE policy_active (
    tenant_id    text NOT NULL REFERENCES tenants (id),
    kind         text NOT NULL,
    version      integer NOT NULL,
    activated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, kind),
    FOREIGN KEY (tenant_id, kind, version) REFERENCES policy_versions (tenant_id, kind, version)
);

--bun:split
-- Serves the instance-wide change poll; it holds only ids and version numbers.
CREATE INDEX policy_active_activated ON policy_active (activated_at);

--bun:split
ALTER TABLE policy_active ENABLE ROW LEVEL SECURITY;

--bun:split
ALTER TABLE policy_active FORCE ROW LEVEL SECURITY;

--bun:split
CREATE POLICY tenant_isolation ON policy_active
    USING (punchcard_instance_scope() OR tenant_id = current_setting('punchcard.tenant_id', true))
    WITH CHECK (tenant_id = punchcard_tenant());

--bun:split
GRANT SELECT, INSERT, UPDATE ON policy_active TO punchcard_serving;
