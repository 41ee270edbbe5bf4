#!/usr/bin/env bash
# Creates the virtualenv the FastAPI integration tests serve their fixtures from (uvicorn for
# HTTP/1.1, hypercorn for h2c), with the pinned requirements.txt. Idempotent: it reinstalls
# only when requirements.txt changed. Usage: setup.sh [VENV] (default target/fastapi-venv).
# Without python3 it says so and exits 0: the tests then report themselves skipped, loudly.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
venv="${1:-${RACEPROOF_FASTAPI_VENV:-$root/target/fastapi-venv}}"
if ! command -v python3 >/dev/null 2>&1; then
    echo "fastapi setup: python3 not found; the FastAPI integration tests will be skipped" >&2
    exit 0
fi
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$here/requirements.txt"
echo "$wanted" >"$stamp"
echo "fastapi setup: $("$venv/bin/python" --version) with $(grep -cv '^#' "$here/requirements.txt") pinned packages in $venv" >&2
