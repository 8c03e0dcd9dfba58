#!/usr/bin/env bash
# Sets up everything (idempotent) and runs the whole test suite: unit tests, then the
# integration tier against real sandboxes (Asterisk, PSTN Asterisk, SIPp, PostgreSQL).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -q
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
cd "$here"
exec "${PBX_ENGINE_VENV:-$here/.venv}/bin/python" -m pytest "$@"
