#!/usr/bin/env bash
# Runs gyre-script's tests (unit and integration) under valgrind's memcheck,
# failing on any memory error or definite leak. The crate drives Lua through
# its C API, so this is where a broken contract (a bad index, a freed string
# read, a double free) shows.
#
#   scripts/valgrind-script.sh [extra args for each test binary]
#
# e.g. `scripts/valgrind-script.sh --test-threads=1` or a test-name filter.
# VALGRIND_FLAGS adds valgrind options (e.g. --read-var-info=no).
# Needs valgrind (Debian: apt-get install valgrind) and python3. Builds only
# `-p gyre-script` (debug profile).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test -p gyre-script --no-run

# The test executables of this package, from cargo's JSON messages (the build
# above is fresh, so this only lists them).
mapfile -t BINARIES < <(
  cargo test -p gyre-script --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if (msg.get("reason") == "compiler-artifact" and msg.get("profile", {}).get("test")
            and msg.get("executable") and msg.get("package_id", "").find("gyre-script") != -1):
        print(msg["executable"])
'
)
if [ "${#BINARIES[@]}" -eq 0 ]; then
  echo "valgrind-script: no test binaries found" >&2
  exit 1
fi

FAILED=()
for bin in "${BINARIES[@]}"; do
  echo "== valgrind: $bin"
  # shellcheck disable=SC2086 # VALGRIND_FLAGS is a list of options.
  if ! valgrind --tool=memcheck --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
    ${VALGRIND_FLAGS:-} "$bin" "$@"; then
    FAILED+=("$bin")
  fi
done

if [ "${#FAILED[@]}" -ne 0 ]; then
  printf 'valgrind-script: errors in %s\n' "${FAILED[@]}" >&2
  exit 1
fi
echo "valgrind-script: ${#BINARIES[@]} test binaries, no memcheck errors"
