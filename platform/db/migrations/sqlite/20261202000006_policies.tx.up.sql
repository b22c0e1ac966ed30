-- Tenant-authored policies: immutable versions per (tenant, kind) and the one
-- active per (tenant, kind). Publishing inserts a version and activates it;
-- rollback activates an earlier one. Versions are never updated or deleted.
CREATE TABLE policy_versions (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    kind         TEXT NOT NULL CHECK (kind IN ('eligibility', 'stacking', 'fraud', 'segments')),
    version      INTEGER NOT NULL CHECK (version > 0),
    modules      TEXT NOT NULL,
    data         TEXT,
    replace_base BOOLEAN NOT NULL DEFAULT false,
    digest       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, kind, version)
);

CREATE TRIGGER policy_versions_no_update BEFORE UPDATE ON policy_versions
BEGIN SELECT RAISE(ABORT, 'policy versions are immutable'); END;
CREATE TRIGGER policy_versions_no_delete BEFORE DELETE ON policy_versions
BEGIN SELECT RAISE(ABORT, 'policy versions are immutable'); END;

-- The active version of each (tenant, kind); every node polls it for activations
-- newer than its last poll.
CREATE TABLE policy_active (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    kind         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    activated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, kind),
    FOREIGN KEY (tenant_id, kind, version) REFERENCES policy_versions (tenant_id, kind, version)
);
CREATE INDEX policy_active_activated ON policy_active (activated_at);
