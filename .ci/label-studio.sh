#!/usr/bin/env bash
# Installs Label Studio (pinned) into its own virtualenv, outside annoflow's uv lock: its
# dependencies conflict with ours. Idempotent: a venv that already has the pinned version is kept, so
# only the first run on a machine pays for the install (about 2.5 min; later runs return at once).
#   bash .ci/label-studio.sh   -> ~/.cache/annoflow/label-studio-1.23.2/bin/label-studio
# The venv lives in the user cache, not the checkout, so every clone and worktree (and every CI run,
# which starts from a fresh clone) reuses it. Override with LS_VENV=/path; the pytest fixture
# (tests/labelstudio/server.py) reads the same variable and runs this script when the venv is missing.
set -euo pipefail
LS_VERSION="1.23.2"
VENV="${LS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/annoflow/label-studio-$LS_VERSION}"
STAMP="$VENV/.label-studio-$LS_VERSION"

if [[ -f "$STAMP" && -x "$VENV/bin/label-studio" ]]; then
    echo "label-studio $LS_VERSION already installed in $VENV"
    exit 0
fi
start=$(date +%s)
[[ -f "$VENV/pyvenv.cfg" ]] && rm -rf "$VENV"  # only ever remove a venv
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV"
LOG="$(mktemp)"
if ! "$VENV/bin/python" -m pip install --upgrade pip "label-studio==$LS_VERSION" >"$LOG" 2>&1; then
    grep -v "is ignored: it is neither" "$LOG" | tail -40
    echo "label-studio $LS_VERSION install failed (full log: $LOG)" >&2
    exit 1
fi
rm -f "$LOG"
# Byte-compile once so every start imports from .pyc (the machine sets PYTHONDONTWRITEBYTECODE=1).
"$VENV/bin/python" -m compileall -q -j 0 "$VENV/lib" >/dev/null 2>&1 || true
touch "$STAMP"
echo "label-studio $LS_VERSION installed in $VENV in $(( $(date +%s) - start )) s"
