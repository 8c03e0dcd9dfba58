#!/usr/bin/env bash
# Sets up everything (idempotent), starts the sandboxes (engine Asterisk, PSTN Asterisk,
# PostgreSQL) and the engine, places a few calls and prints what happened.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
cd "$here"
exec "${PBX_ENGINE_VENV:-$here/.venv}/bin/pbx-engine" demo "$@"
