#!/usr/bin/env bash
# make demo: a throwaway PostgreSQL with sales_data, then the tutorial's steps 1 to 4.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/demo.py "$@"
