#!/usr/bin/env bash
# The nightly gate on a lab Mac: build, health-check the station, run the corpus, keep the journal and JUnit
# under a dated name, and exit with dexthil's code (0 passed, 1 the driver broke, 2 bad input or the lab broke).
#
#   ci/nightly.sh [STATION] [extra `dexthil run` arguments...]
#   STATION defaults to ci/labs/$(hostname -s).yaml, else ci/labs/sim.yaml.
#   OUT (env) is where results go [default: target/nightly].
#   DEXTHIL (env) is a dexthil binary to use instead of building one (the tests run this script so).
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
# The station's name in the file names, so journals of several Macs can sit in one folder for `report`.
name="$(basename "$station" .yaml)-$stamp"
mkdir -p "$out"

if [ -n "${DEXTHIL:-}" ]; then
    dexthil="$DEXTHIL"
else
    cargo build --release --locked
    dexthil=target/release/dexthil
fi

# The health check runs inside `run` before any scenario; an unhealthy station exits 2 and names what is missing.
set +e
"$dexthil" run \
    --station "$station" \
    --journal "$out/journal-$name.jsonl" \
    --junit "$out/junit-$name.xml" \
    --retries "${RETRIES:-1}" \
    "$@"
code=$?
set -e

[ -f "$out/journal-$name.jsonl" ] && ln -sf "journal-$name.jsonl" "$out/journal-latest.jsonl"
[ -f "$out/junit-$name.xml" ] && ln -sf "junit-$name.xml" "$out/junit-latest.xml"
case $code in
    0) echo "nightly $name: passed" ;;
    1) echo "nightly $name: the driver broke (exit 1); see $out/junit-$name.xml" ;;
    *) echo "nightly $name: bad input or the lab broke (exit $code); see $out/journal-$name.jsonl" ;;
esac
exit $code
