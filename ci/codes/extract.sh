#!/bin/sh
# Regenerate src/ioreturn/headers.rs, the return-code table `dexthil decode` uses, from xnu's headers.
#
#   ci/codes/extract.sh [XNU_GIT_DIR]
#
# Copies iokit/IOKit/IOReturn.h, osfmk/mach/kern_return.h, osfmk/mach/message.h and osfmk/mach/mig_errors.h
# from an xnu git checkout (a bare clone of apple-oss-distributions/xnu works; default: the mirror on the
# project's build machines) at tag xnu-11417.101.15 into ci/codes/xnu-11417.101.15/, then runs the extractor
# (tests/header_codes.rs) in write mode. `cargo test` runs the same extractor and fails when the committed
# table is not what the committed headers give. To move to a newer xnu, change TAG here and XNU in
# tests/header_codes.rs, and review the diff of the table.
set -eu
TAG=xnu-11417.101.15
XNU_GIT_DIR=${1:-/work/.mirror/apple-oss-distributions+xnu/repo}
cd "$(dirname "$0")/../.."
REV=$(git --git-dir="$XNU_GIT_DIR" rev-parse --verify -q "$TAG^{commit}" || git --git-dir="$XNU_GIT_DIR" rev-parse HEAD)
for h in iokit/IOKit/IOReturn.h osfmk/mach/kern_return.h osfmk/mach/message.h osfmk/mach/mig_errors.h; do
    mkdir -p "ci/codes/$TAG/$(dirname "$h")"
    git --git-dir="$XNU_GIT_DIR" show "$REV:$h" > "ci/codes/$TAG/$h"
done
DEXTHIL_WRITE_CODES=1 cargo test --quiet --test header_codes
cargo test --quiet --test header_codes
git status --short "ci/codes/$TAG" src/ioreturn/headers.rs
