-- The serving role: the server's connections SET ROLE to it. It owns nothing, so
-- FORCE ROW LEVEL SECURITY applies to every query it runs.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'punchcard_serving') THEN
        CREATE ROLE punchcard_serving NOLOGIN;
    END IF;
END
$$;

--bun:split
-- punchcard_tenant returns the tenant of the current transaction and raises when
-- none is set, so a query that reaches a tenant table without a tenant is an error,
-- never "all rows". A connection that has used the setting before sees '' rather
-- than NULL once its transaction ends; both count as missing.
CREATE OR REPLACE FUNCTION punchcard_tenant() RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    t text := current_setting('punchcard.tenant_id', true);
BEGIN
    IF t IS NULL OR t = '' THEN
        RAISE EXCEPTION 'punchcard: no tenant set for this transaction' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN t;
END
$$;

--bun:split
-- punchcard_instance_scope is true in the operator's and the sealer's transactions.
CREATE OR REPLACE FUNCTION punchcard_instance_scope() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(current_setting('punchcard.scope', true), '') = 'instance'
$$;

--bun:split
CREATE TABLE tenants (
    id          text PRIMARY KEY,
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    currency    text NOT NULL,
    timezone    text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

--bun:split
CREATE TABLE api_keys (
    tenant_id     text NOT NULL REFERENCES tenants (id),
    id            text NOT NULL,
    name          text NOT NULL DEFAULT '',
    role          text NOT NULL,
    key_hash      text NOT NULL UNIQUE,
    secret_prefix text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (tenant_id, id)
);

--bun:split
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);

--bun:split
CREATE TABLE customers (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    id          text NOT NULL,
    source_id   text,
    name        text,
    email       text,
    phone       text,
    birthdate   text,
    description text,
    address     jsonb,
    metadata    jsonb,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

--bun:split
CREATE UNIQUE INDEX customers_source_id ON customers (tenant_id, source_id);

--bun:split
CREATE INDEX customers_email ON customers (tenant_id, email);

--bun:split
-- The list orders: created_at (the default, newest first) and updated_at, with id as the tie-break of the cursor.
CREATE INDEX customers_created ON customers (tenant_id, created_at, id);

--bun:split
CREATE INDEX customers_updated ON customers (tenant_id, updated_at, id);

--bun:split
CREATE TABLE customer_consents (
    tenant_id   text NOT NULL,
    customer_id text NOT NULL,
    consent_id  text NOT NULL,
    granted     boolean NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, consent_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);

--bun:split
CREATE TABLE audit_events (
    tenant_id     text NOT NULL,
    id            text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor_type    text NOT NULL,
    actor_id      text NOT NULL,
    action        text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    outcome       text NOT NULL,
    request_id    text NOT NULL DEFAULT '',
    trace_id      text NOT NULL DEFAULT '',
    before        jsonb,
    after         jsonb,
    PRIMARY KEY (tenant_id, id)
);

--bun:split
CREATE INDEX audit_events_occurred ON audit_events (tenant_id, occurred_at, id);

--bun:split
CREATE INDEX audit_events_resource ON audit_events (tenant_id, resource_type, resource_id, id);

--bun:split
CREATE INDEX audit_events_action ON audit_events (tenant_id, action, id);

--bun:split
CREATE TABLE audit_seals (
    tenant_id text NOT NULL,
    seq       bigint NOT NULL,
    event_id  text NOT NULL,
    prev_hash text NOT NULL,
    hash      text NOT NULL,
    sealed_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

--bun:split
CREATE UNIQUE INDEX audit_seals_event ON audit_seals (tenant_id, event_id);

--bun:split
CREATE TABLE audit_pending (
    tenant_id text NOT NULL,
    event_id  text NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);

--bun:split
-- Row-level security, forced, on every table that holds tenant data.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['customers', 'customer_consents', 'audit_events', 'audit_seals'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = punchcard_tenant()) WITH CHECK (tenant_id = punchcard_tenant())', t);
    END LOOP;
END
$$;

--bun:split
-- The tenant directory: a tenant sees its own row; authentication sees the tenant of
-- the one key it names; the operator sees all.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
--bun:split
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
--bun:split
CREATE POLICY tenant_isolation ON tenants
    USING (punchcard_instance_scope()
           OR id = current_setting('punchcard.tenant_id', true)
           OR id IN (SELECT k.tenant_id FROM api_keys AS k
                     WHERE k.key_hash = current_setting('punchcard.auth_key_hash', true)
                        OR k.id = current_setting('punchcard.auth_key_id', true)))
    WITH CHECK (punchcard_instance_scope());

--bun:split
-- API keys: a tenant sees its own; authentication sees the one key it names by hash
-- or id; the operator sees all.
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
--bun:split
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
--bun:split
CREATE POLICY tenant_isolation ON api_keys
    USING (punchcard_instance_scope()
           OR tenant_id = current_setting('punchcard.tenant_id', true)
           OR key_hash = current_setting('punchcard.auth_key_hash', true)
           OR id = current_setting('punchcard.auth_key_id', true))
    WITH CHECK (punchcard_instance_scope() OR tenant_id = current_setting('punchcard.tenant_id', true));

--bun:split
-- Pending seals: the sealer (instance scope) finds tenants with work.
ALTER TABLE audit_pending ENABLE ROW LEVEL SECURITY;
--bun:split
ALTER TABLE audit_pending FORCE ROW LEVEL SECURITY;
--bun:split
CREATE POLICY tenant_isolation ON audit_pending
    USING (punchcard_instance_scope() OR tenant_id = current_setting('punchcard.tenant_id', true))
    WITH CHECK (tenant_id = punchcard_tenant());

--bun:split
-- punchcard_lookup_key authenticates in one round trip: it names the key for the
-- row-level security policies of api_keys and tenants (transaction-local, so the
-- setting ends with the statement) and returns the key with its tenant. It runs as
-- the caller, so it sees nothing the policies would not show.
CREATE FUNCTION punchcard_lookup_key(p_key_hash text, p_key_id text)
RETURNS TABLE (
    key_tenant_id text, key_id text, key_name text, key_role text, key_hash text,
    key_secret_prefix text, key_created_at timestamptz, key_last_used_at timestamptz,
    key_revoked_at timestamptz, tenant_slug text, tenant_name text, tenant_currency text,
    tenant_timezone text, tenant_status text, tenant_created_at timestamptz,
    tenant_updated_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('punchcard.auth_key_hash', coalesce(p_key_hash, ''), true),
            set_config('punchcard.auth_key_id', coalesce(p_key_id, ''), true);
    IF coalesce(p_key_hash, '') <> '' THEN
        RETURN QUERY
            SELECT k.tenant_id, k.id, k.name, k.role, k.key_hash, k.secret_prefix, k.created_at,
                   k.last_used_at, k.revoked_at, t.slug, t.name, t.currency, t.timezone, t.status,
                   t.created_at, t.updated_at
            FROM api_keys AS k JOIN tenants AS t ON t.id = k.tenant_id
            WHERE k.key_hash = p_key_hash;
    ELSIF coalesce(p_key_id, '') <> '' THEN
        RETURN QUERY
            SELECT k.tenant_id, k.id, k.name, k.role, k.key_hash, k.secret_prefix, k.created_at,
                   k.last_used_at, k.revoked_at, t.slug, t.name, t.currency, t.timezone, t.status,
                   t.created_at, t.updated_at
            FROM api_keys AS k JOIN tenants AS t ON t.id = k.tenant_id
            WHERE k.id = p_key_id;
    END IF;
END
$$;

--bun:split
-- What the serving role may do: no more than serving needs. The audit log is
-- append-only for it: no UPDATE or DELETE on events and seals.
GRANT USAGE ON SCHEMA public TO punchcard_serving;
--bun:split
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, api_keys, customers, customer_consents TO punchcard_serving;
--bun:split
GRANT SELECT, INSERT ON audit_events, audit_seals TO punchcard_serving;
--bun:split
GRANT SELECT, INSERT, DELETE ON audit_pending TO punchcard_serving;
--bun:split
GRANT SELECT ON punchcard_migrations TO punchcard_serving;
--bun:split
GRANT EXECUTE ON FUNCTION punchcard_lookup_key(text, text) TO punchcard_serving;
