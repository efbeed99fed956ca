#!/usr/bin/env bash
# The wheel installs and runs without any dev dependency (issue 12, item 5): build it, install
# it into a fresh venv with only its runtime dependencies, and from an empty temporary
# directory run `safeship --help` and the README's first command, `safeship demo` (three real
# deploys). A module of src/ that imports a dev-only package (pytest, hypothesis, ...) or a file
# the wheel leaves out fails here, where the editable dev install would hide it.
#
# Usage: bash scripts/check_wheel.sh [PYTHON]   (default: python3; `make wheel-check`)
# Needs only the package registry (or pip's cache) for the runtime dependencies and hatchling.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${1:-${PYTHON:-python3}}
start=$(date +%s)

work=$(mktemp -d "${TMPDIR:-/tmp}/safeship-wheel-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

step() {
  echo "check_wheel: [$(( $(date +%s) - start )) s] $*"
}

fail() {
  echo "check_wheel: FAILED: $*" >&2
  exit 1
}

step "building the wheel"
"$python" -m pip wheel -q --no-deps -w "$work/dist" . >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; fail "pip wheel did not build the wheel"; }
wheels=("$work"/dist/safeship-*.whl)
[ -f "${wheels[0]}" ] || fail "no safeship-*.whl in $work/dist"
wheel=${wheels[0]}

# Nothing but the package itself: a test-fixture package or a stray top-level module in the
# wheel would be importable by users and could pull in dev dependencies.
"$python" - "$wheel" <<'EOF' || fail "the wheel holds files outside safeship/"
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
stray = sorted(
    n for n in names
    if not n.startswith(("safeship/", "safeship-")) or n.startswith("safeship/testing/")
)
for name in stray:
    print(f"check_wheel: unexpected file in the wheel: {name}", file=sys.stderr)
sys.exit(1 if stray else 0)
EOF

step "installing $(basename "$wheel") into a fresh venv (runtime dependencies only)"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$wheel" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log" >&2; fail "pip install of the wheel failed"; }

# No dev-only package may have come in with the runtime dependencies: then an accidental
# import of one would pass this check.
for dev in pytest hypothesis xdist ruff mypy importlinter; do
  if "$work/venv/bin/python" -c "import $dev" >/dev/null 2>&1; then
    fail "the dev package '$dev' is installed by the runtime dependencies"
  fi
done

mkdir "$work/run"
cd "$work/run"
# The fresh venv's safeship, not one on the caller's PATH; no PYTHONPATH from a checkout.
unset PYTHONPATH
safeship=$work/venv/bin/safeship
located=$("$work/venv/bin/python" -c "import safeship; print(safeship.__file__)")
case "$located" in
  "$work/venv/"*) ;;
  *) fail "safeship is imported from $located, not from the fresh venv" ;;
esac

step "safeship --help"
"$safeship" --help >"$work/help.log" 2>&1 || { cat "$work/help.log" >&2; fail "safeship --help"; }
grep -q "deploy" "$work/help.log" || { cat "$work/help.log" >&2; fail "--help lists no deploy"; }

step "safeship demo (three deploys, about 25 s)"
"$safeship" demo >"$work/demo.log" 2>&1 || { cat "$work/demo.log" >&2; fail "safeship demo"; }
for expected in "v1 succeeded" "v2 succeeded" "v3 rolled_back: error rate" "load generator totals"; do
  grep -q "$expected" "$work/demo.log" || { cat "$work/demo.log" >&2; fail "no '$expected' in the demo's output"; }
done
grep -q "Traceback" "$work/demo.log" && { cat "$work/demo.log" >&2; fail "a traceback in the demo's output"; }
# The demo leaves nothing behind in the directory it ran from.
leftover=$(ls -A "$work/run")
[ -z "$leftover" ] || fail "the demo left files in its working directory: $leftover"

# The README's first commands on its sample project, with the installed command: init writes
# the config, config check and history read it. (The demo's deploys above already needed the
# registry's migrations from the wheel.)
step "safeship init, config check, history on examples/hello-service"
cp -r "$repo/examples/hello-service" "$work/hello"
for args in "init" "config check" "history"; do
  # shellcheck disable=SC2086  # the words of $args are the command's arguments
  (cd "$work/hello" && "$safeship" $args) >"$work/readme.log" 2>&1 \
    || { cat "$work/readme.log" >&2; fail "safeship $args in the sample project"; }
done
grep -q "no deployments yet" "$work/readme.log" || { cat "$work/readme.log" >&2; fail "history"; }

echo "check_wheel: ok in $(( $(date +%s) - start )) s"
