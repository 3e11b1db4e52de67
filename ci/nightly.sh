#!/usr/bin/env bash
# The nightly gate on a lab Mac: build, health-check the station, run the corpus, keep the journal and JUnit
# under a dated name, and exit with dexthil's code (0 passed, 1 the driver broke, 2 bad input or the lab broke).
#
#   ci/nightly.sh [STATION] [extra `dexthil run` arguments...]
#   STATION defaults to ci/labs/$(hostname -s).yaml, else ci/labs/sim.yaml.
#   OUT (env) is where results go [default: target/nightly].
set -euo pipefail

cd "$(dirname "$0")/.."
station="${1:-}"
[ $# -gt 0 ] && shift
if [ -z "$station" ]; then
    station="ci/labs/$(hostname -s).yaml"
    [ -f "$station" ] || station="ci/labs/sim.yaml"
fi
out="${OUT:-target/nightly}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

cargo build --release --locked
dexthil=target/release/dexthil

# The health check runs inside `run` before any scenario; an unhealthy station exits 2 and names what is missing.
set +e
"$dexthil" run \
    --station "$station" \
    --journal "$out/journal-$stamp.jsonl" \
    --junit "$out/junit-$stamp.xml" \
    --retries "${RETRIES:-1}" \
    "$@"
code=$?
set -e

ln -sf "journal-$stamp.jsonl" "$out/journal-latest.jsonl"
[ -f "$out/junit-$stamp.xml" ] && ln -sf "junit-$stamp.xml" "$out/junit-latest.xml"
case $code in
    0) echo "nightly $stamp: passed" ;;
    1) echo "nightly $stamp: the driver broke (exit 1); see $out/junit-$stamp.xml" ;;
    *) echo "nightly $stamp: bad input or the lab broke (exit $code); see $out/journal-$stamp.jsonl" ;;
esac
exit $code
