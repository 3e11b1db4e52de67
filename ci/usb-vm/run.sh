#!/usr/bin/env bash
# Run the project's guest tests in a throw-away QEMU VM whose only USB bus is dummy_hcd with two printer
# gadgets (a DS620 and a CX-02 from the catalog), served by `dexthil printer-emu`. Returns the tests' exit
# code; keeps the guest console log (path printed). Adapted from shared/reference/usb-vm-example.sh.
#
# usage: ci/usb-vm/run.sh            (from anywhere in the repository; builds what it needs)
# env:   USBVM_DIR (cache: kernel, modules; default ~/.cache/dexthil-usbvm), USBVM_TIMEOUT (guest run, s,
#        default 300), USBVM_ACCEL (default tcg: this machine's /dev/kvm cannot boot a guest), CARGO_TARGET_DIR
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
W=${USBVM_DIR:-$HOME/.cache/dexthil-usbvm}
mkdir -p "$W"
T0=$(date +%s.%N)
since() { echo "$(date +%s.%N) $T0" | awk '{printf "%.1f s", $1-$2}'; }
die() { echo "usb-vm: error: $*" >&2; exit 3; }
say() { echo "usb-vm: $* [$(since)]"; }
export DEBIAN_FRONTEND=noninteractive

# 1. Host tools (Debian 12 packages).
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -x /bin/busybox ] || ! command -v cpio >/dev/null \
  || ! command -v xz >/dev/null; then
  say "installing qemu-system-x86 busybox-static cpio xz-utils"
  timeout 600 apt-get update -qq || die "apt-get update failed"
  timeout 900 apt-get install -y -qq --no-install-recommends qemu-system-x86 busybox-static cpio xz-utils \
    >/dev/null || die "apt-get install of the VM tools failed"
fi

# 2. The guest kernel and its USB modules, cached by version.
kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
KPKG=$(kpkg)
if [ -z "$KPKG" ]; then   # a clean machine has no package lists yet
  timeout 600 apt-get update -qq || die "apt-get update failed"
  KPKG=$(kpkg)
fi
[ -n "$KPKG" ] || die "apt-cache cannot name the linux-image-amd64 kernel package (run apt-get update)"
KVER=${KPKG#linux-image-}
MODS="usb-common usbcore udc-core dummy_hcd configfs libcomposite usb_f_printer usblp"
if [ ! -f "$W/vmlinux-$KVER" ] || [ ! -d "$W/mods-$KVER" ]; then
  say "downloading and unpacking $KPKG (cached in $W)"
  K=$(mktemp -d "$W/k.XXXX"); chmod 755 "$K"; chown _apt "$K" 2>/dev/null || true  # apt downloads as _apt
  (cd "$K" && timeout 600 apt-get download "$KPKG" >/dev/null) || die "apt-get download $KPKG failed"
  dpkg -x "$K"/"$KPKG"_*.deb "$K/x" || die "dpkg -x of $KPKG failed"
  # bzImage decompression is slow under TCG: boot the raw ELF vmlinux (PVH) instead (usb-vm.md).
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$K/x/boot/vmlinuz-$KVER" | head -1 | cut -d: -f1)
  [ -n "$off" ] || die "no xz stream in vmlinuz-$KVER"
  tail -c +$((off + 1)) "$K/x/boot/vmlinuz-$KVER" | xz -dcq > "$W/vmlinux-$KVER.tmp" 2>/dev/null || true  # trailing data after the stream: xz complains, the image is whole
  [ -s "$W/vmlinux-$KVER.tmp" ] || die "could not extract vmlinux from vmlinuz-$KVER"
  rm -rf "$W/mods-$KVER"; mkdir -p "$W/mods-$KVER"
  for m in $MODS; do
    f=$(find "$K/x/lib/modules/$KVER" -name "$m.ko*" | head -1)
    [ -n "$f" ] || die "module $m not in $KPKG"
    cp "$f" "$W/mods-$KVER/"
  done
  mv "$W/vmlinux-$KVER.tmp" "$W/vmlinux-$KVER"
  rm -rf "$K"
fi
say "kernel $KVER ready"

# 3. The binaries: dexthil (the printers' firmware, the gadget set-up), the guest test binary, and dexthil
# built with the darwin double (the real macOS backend; its `run --lab macos` pairs the VM's printers).
# The double's build goes first: both land at $TARGET/debug/dexthil, so it is copied out before the other.
cd "$REPO"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
cargo build --quiet --features darwin-double --bin dexthil || die "cargo build --features darwin-double failed"
cp "$TARGET/debug/dexthil" "$W/dexthil-double.tmp" && mv "$W/dexthil-double.tmp" "$W/dexthil-double" \
  || die "copying the darwin-double binary failed"
cargo build --quiet --bin dexthil || die "cargo build failed"
TESTBIN=$(cargo test --quiet --test vm_guest --no-run --message-format=json 2>/dev/null \
  | grep '"name":"vm_guest"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$TESTBIN" ] || die "cargo did not build the vm_guest test binary"
say "built $TESTBIN"

# 4. The initramfs: busybox, modules, the three binaries with the libraries ldd names, scenarios, init.
R=$(mktemp -d "$W/root.XXXX")
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,proc,sys,dev,tmp,run,mods,work}
cp /bin/busybox "$R/bin/"
cp "$W/mods-$KVER"/* "$R/mods/"
cp "$TARGET/debug/dexthil" "$R/bin/dexthil"
cp "$TESTBIN" "$R/bin/vm_guest"
cp "$W/dexthil-double" "$R/bin/dexthil-double"
# Debug info is most of a debug binary; the guest unpacks the initramfs under TCG, so leave it out.
if command -v strip >/dev/null; then strip --strip-debug "$R"/bin/{dexthil,vm_guest,dexthil-double}; fi
for b in "$R"/bin/{dexthil,vm_guest,dexthil-double}; do
  for l in $(ldd "$b" 2>/dev/null | grep -o '/[^ ]*'); do mkdir -p "$R$(dirname "$l")"; cp -L "$l" "$R$l"; done
done
cp -r scenarios "$R/work/"
cp "$REPO/ci/usb-vm/guest-init.sh" "$R/init"
printf '%s\n' "$MODS" > "$R/modules"
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$W/initrd.gz" || die "building the initramfs failed"
say "initramfs $(du -h "$W/initrd.gz" | cut -f1)"

# 5. Boot. The guest prints USBVM_RC=<code> and powers off; no line means it died or hung.
LOG="$W/console.log"
TB=$(date +%s.%N)
set +e
timeout "${USBVM_TIMEOUT:-300}" qemu-system-x86_64 -accel "${USBVM_ACCEL:-tcg}" -m 1024 -smp 1 -nographic \
  -no-reboot -kernel "$W/vmlinux-$KVER" -initrd "$W/initrd.gz" \
  -append 'console=ttyS0 loglevel=3 panic=-1' > "$LOG" 2>&1
qrc=$?
set -e
sed 's/\r$//' "$LOG"
echo "usb-vm: guest ran $(echo "$(date +%s.%N) $TB" | awk '{printf "%.1f s", $1-$2}'), console log: $LOG"
[ "$qrc" = 124 ] && die "the guest did not finish within ${USBVM_TIMEOUT:-300} s (console log: $LOG)"
rc=$(sed -n 's/.*USBVM_RC=\([0-9]*\).*/\1/p' "$LOG" | tail -1)
[ -n "$rc" ] || die "the guest ended without reporting a result (qemu exit $qrc; console log: $LOG)"
say "guest tests exit code $rc"
exit "$rc"
