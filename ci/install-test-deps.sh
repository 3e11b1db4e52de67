#!/usr/bin/env bash
# What the test suite uses beyond Rust, on Debian (run as root before `cargo test`, e.g. from .ci/run's
# preamble). Headless Chromium renders the HTML report in tests/fleet.rs; without it that test says it
# skipped.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi
