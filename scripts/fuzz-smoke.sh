#!/usr/bin/env bash
# Runs every Fuzz* target in the module for $FUZZTIME (default 3s) each, $FUZZJOBS (default
# 2) targets at a time, each with one fuzzing worker: a smoke run, so that every target's
# seeds pass and each fuzzes a little. On the 2-core CI machine two lanes of one worker
# halve the wall time of one lane of two workers (the start-up of each target is serial).
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZTIME=${FUZZTIME:-3s}
FUZZJOBS=${FUZZJOBS:-2}

# fuzz_one PKG NAME: runs one target; retries a coordinator timeout without a finding.
fuzz_one() {
  local pkg=$1 name=$2 log
  log=$(mktemp)
  echo "fuzz: $pkg $name ($FUZZTIME)"
  for attempt in 1 2 3; do
    if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel 1 "$pkg" >"$log" 2>&1; then
      rm -f "$log"
      return 0
    fi
    # On a loaded machine the fuzzing coordinator can miss its own deadline ("context
    # deadline exceeded") without finding anything; retry that (twice). A real finding
    # always writes a failing input and fails at once.
    if grep -q "Failing input written" "$log" || ! grep -q "context deadline exceeded" "$log"; then
      break
    fi
    echo "fuzz: $name: coordinator timed out without a finding; retrying"
  done
  echo "fuzz: $pkg $name FAILED:"
  cat "$log"
  rm -f "$log"
  return 1
}
export -f fuzz_one

targets=$(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' internal cmd | sort |
  sed -E 's/^([^:]+):[0-9]+:func (Fuzz[A-Za-z0-9_]+)\(.*/.\/\1 \2/' | while read -r file name; do
    echo "$(dirname "$file") $name"
  done)
n=$(wc -l <<<"$targets")
xargs -P "$FUZZJOBS" -L 1 bash -c 'fuzz_one "$0" "$1"' <<<"$targets"
echo "fuzz: $n targets passed"
