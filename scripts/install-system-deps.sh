#!/usr/bin/env bash
# Installs the system packages the tests and the demo need, when they are missing.
# Debian/Ubuntu with apt (as root, or with sudo); elsewhere it says what to install.
set -euo pipefail

need=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [[ -z "${ENTREPOT_PG_BIN:-}" && -z "$pg_bin" ]] && ! command -v pg_ctl >/dev/null 2>&1; then
  need+=(postgresql)
fi
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)

if [[ ${#need[@]} -eq 0 ]]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "please install: ${need[*]} (PostgreSQL server binaries: initdb, pg_ctl, postgres)" >&2
  exit 1
fi
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
echo "installing system packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts a cluster on install; the project runs its own throwaway servers instead.
$SUDO service postgresql stop >/dev/null 2>&1 || true
