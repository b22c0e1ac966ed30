#!/bin/sh
# Creates Punchcard's serving login role on first start of the PostgreSQL container.
# The group role punchcard_serving is created here if missing and otherwise by the
# first `punchcard migrate`, which also grants it its privileges.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$PUNCHCARD_APP_PASSWORD" <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'punchcard_serving') THEN
        CREATE ROLE punchcard_serving NOLOGIN;
    END IF;
END
$$;
SELECT format('CREATE ROLE punchcard_app LOGIN PASSWORD %L IN ROLE punchcard_serving', :'app_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'punchcard_app') \gexec
SQL
