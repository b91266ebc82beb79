#!/usr/bin/env bash
# Prints the path of a Python interpreter that has the test suite's packages
# (tests/python/requirements.txt), creating a virtual environment under target/ the first
# time. Idempotent and safe to run from several processes at once.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${RUNLAKE_TEST_VENV:-$root/target/test-python}"
req="$here/requirements.txt"
stamp="$venv/.requirements"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  echo "setting up the test Python environment in $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
  cp "$req" "$stamp"
fi
echo "$venv/bin/python"
