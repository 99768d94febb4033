#!/usr/bin/env bash
# Installs what the tests and the demo need outside the venv, when it is missing: PostgreSQL and
# MariaDB (server and client) and the PostgreSQL JDBC driver (for Spark) with apt, and Azurite
# (package.json, package-lock.json) with npm.
# Debian/Ubuntu with apt (as root, or with sudo); elsewhere it says what to install.
# Idempotent, and silent when everything is there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

need=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [[ -z "${ENTREPOT_PG_BIN:-}" && -z "$pg_bin" ]] && ! command -v pg_ctl >/dev/null 2>&1; then
  need+=(postgresql)
fi
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)

# mariadbd lives in /usr/sbin, which is not on every user's PATH.
has_program() {
  command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]] \
    || [[ -n "${ENTREPOT_MARIADB_BIN:-}" && -x "${ENTREPOT_MARIADB_BIN}/$1" ]]
}
if ! has_program mariadbd || ! has_program mariadb-install-db; then
  need+=(mariadb-server)
fi
if ! has_program mariadb || ! has_program mariadb-admin; then
  need+=(mariadb-client)
fi
# The PostgreSQL JDBC driver for Spark reads (tests/test_spark.py; pyspark needs Java 17+).
[[ -f /usr/share/java/postgresql.jar ]] || need+=(libpostgresql-jdbc-java)
# MariaDB Connector/J, for Spark reads of MySQL depots (Debian has no MySQL Connector/J).
[[ -f /usr/share/java/mariadb-java-client.jar ]] || need+=(libmariadb-java)

if [[ ${#need[@]} -gt 0 ]]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "please install: ${need[*]} (PostgreSQL server binaries: initdb, pg_ctl, postgres;" \
      "MariaDB: mariadbd, mariadb-install-db, mariadb, mariadb-admin;" \
      "the PostgreSQL JDBC driver at /usr/share/java/postgresql.jar, MariaDB Connector/J at" \
      "/usr/share/java/mariadb-java-client.jar)" >&2
    exit 1
  fi
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
  # Debian may start a server on install; the project runs its own throwaway servers instead.
  for service in postgresql mariadb; do
    $SUDO service "$service" stop >/dev/null 2>&1 || true
  done
fi

# Azurite, the Azure Blob Storage emulator: the exact version package-lock.json holds.
if [[ ! -x "$ROOT/node_modules/.bin/azurite-blob" ]]; then
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "error: Node.js 20+ and npm are needed to install Azurite (npm ci in $ROOT);" \
      "install them (Debian: apt-get install nodejs npm) and run make install again" >&2
    exit 1
  fi
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  if [[ "$node_major" -lt 20 ]]; then
    echo "error: Azurite needs Node.js 20 or newer; this is $(node --version)" >&2
    exit 1
  fi
  echo "installing Azurite (npm ci in $ROOT)"
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
fi
