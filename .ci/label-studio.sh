#!/usr/bin/env bash
# Installs Label Studio (pinned) into its own virtualenv, outside annoflow's uv lock: its
# dependencies conflict with ours. Idempotent: a venv that already has the pinned version is kept.
#   bash .ci/label-studio.sh            -> .ci/.ls-venv/bin/label-studio
# Override the location with LS_VENV=/path (the pytest fixture reads the same variable).
set -euo pipefail
LS_VERSION="1.23.2"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${LS_VENV:-$HERE/.ls-venv}"
STAMP="$VENV/.label-studio-$LS_VERSION"

if [[ -f "$STAMP" && -x "$VENV/bin/label-studio" ]]; then
    echo "label-studio $LS_VERSION already installed in $VENV"
    exit 0
fi
start=$(date +%s)
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "label-studio==$LS_VERSION"
# Byte-compile once so every start imports from .pyc (the machine sets PYTHONDONTWRITEBYTECODE=1).
"$VENV/bin/python" -m compileall -q -j 0 "$VENV/lib" >/dev/null 2>&1 || true
touch "$STAMP"
echo "label-studio $LS_VERSION installed in $VENV in $(( $(date +%s) - start )) s"
