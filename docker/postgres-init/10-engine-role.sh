#!/bin/sh
# Run once by the postgres image on an empty cluster (docker-entrypoint-initdb.d): the engine's
# role owns its database, where its migrations create the tables, and is no superuser, may not
# create roles or databases: a flaw in the engine then reaches its own data, not the cluster
# (no COPY ... PROGRAM, no reading the server's files, no new roles).
set -eu
: "${ENGINE_DATABASE_PASSWORD:?set DATABASE_PASSWORD}"
role=${ENGINE_DATABASE_USER:-engine}
database=${ENGINE_DATABASE_NAME:-pbx_engine}
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v role="$role" -v database="$database" -v password="$ENGINE_DATABASE_PASSWORD" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"role";
SQL
