#!/bin/busybox sh
# PID 1 of the USB VM (copied into the initramfs by run.sh): load the USB modules, create the printer
# gadgets from the catalog, start their firmware, run the guest tests, the scenarios with `--lab vm`, then
# through the macOS backend against the darwin double, report USBVM_RC and power off.
/bin/busybox --install -s /bin; export PATH=/bin
mount -t proc p /proc; mount -t sysfs s /sys; mount -t devtmpfs d /dev; mount -t tmpfs r /run
echo "USBVM booted uptime=$(cut -d' ' -f1 /proc/uptime)"
finish() { echo "USBVM_RC=$1"; sync; poweroff -f; }
for m in $(cat /modules); do
  case $m in dummy_hcd) args="num=2" ;; *) args="" ;; esac
  insmod /mods/$m.ko* $args || { echo "USBVM error: insmod $m failed"; finish 3; }
done
mount -t configfs none /sys/kernel/config || { echo "USBVM error: no configfs"; finish 3; }
MODELS="DS620 CX-02"
/bin/dexthil printer-emu --gadget-script "$(echo $MODELS | tr ' ' ,)" > /run/gadgets.sh || finish 3
sh /run/gadgets.sh || { echo "USBVM error: the gadget set-up failed"; finish 3; }
export USBVM=1 USBVM_CONTROL_DIR=/run/printers
mkdir -p $USBVM_CONTROL_DIR
k=0
for m in $MODELS; do
  : > $USBVM_CONTROL_DIR/$m.state
  /bin/dexthil printer-emu --device /dev/g_printer$k --model $m --control $USBVM_CONTROL_DIR/$m.state &
  k=$((k + 1))
done
for i in $(seq 200); do
  [ "$(cat /sys/bus/usb/devices/*/idVendor 2>/dev/null | grep -c -e 1452 -e 1343)" -ge 2 ] && break
  sleep 0.05
done
echo "USBVM ready uptime=$(cut -d' ' -f1 /proc/uptime)"
cd /work
/bin/vm_guest --test-threads=1 --nocapture; rc=$?
echo "USBVM tests done uptime=$(cut -d' ' -f1 /proc/uptime)"
if [ $rc = 0 ] && [ -z "$USBVM_NO_SCENARIOS" ]; then
  /bin/dexthil run --lab vm scenarios/smoke/replug-ds620.yaml scenarios/smoke/ds620.yaml scenarios/smoke/cx-02.yaml; rc=$?
  echo "USBVM scenarios done uptime=$(cut -d' ' -f1 /proc/uptime)"
fi
# The real macOS backend against the darwin double, pairing these printers with a registry seated at them
# (docs/vm.md, "The macOS backend in the VM"): every scenario the two printers can serve must pass; a
# replug, which the backend cannot do here, must be refused as the lab's limit (exit 2) saying why.
DOUBLE_SCENARIOS="scenarios/smoke/ds620.yaml scenarios/smoke/cx-02.yaml scenarios/smoke/checked-printer-selectors.yaml
  scenarios/replay/ds620.yaml scenarios/replay/cx-02.yaml
  scenarios/field-bugs/open-iouserserver-unsupported.yaml scenarios/field-bugs/unplug-mid-call.yaml
  scenarios/field-bugs/open-nub-kioreturnerror.yaml scenarios/field-bugs/unplug-mid-call-no-device.yaml
  scenarios/sample"
# sample-open-close-cycles (200 opens) takes ~19 s under TCG, three quarters of this run; it has no printer
# role, so the VM adds nothing to it: tests/darwin_double.rs runs it on every `cargo test --features darwin-double`.
if [ $rc = 0 ] && [ -z "$USBVM_NO_SCENARIOS" ]; then
  /bin/dexthil-double run --lab macos $DOUBLE_SCENARIOS --skip sample-open-close-cycles; rc=$?
  echo "USBVM double scenarios done (exit $rc) uptime=$(cut -d' ' -f1 /proc/uptime)"
fi
if [ $rc = 0 ] && [ -z "$USBVM_NO_SCENARIOS" ]; then
  /bin/dexthil-double run --lab macos scenarios/smoke/replug-ds620.yaml > /run/refused.txt 2>&1; refused=$?
  cat /run/refused.txt
  if [ $refused != 2 ] || ! grep -q "replug only through their UDC file" /run/refused.txt; then
    echo "USBVM error: the double ran replug-ds620 (exit $refused) instead of refusing it as the lab's limit"
    rc=1
  fi
  echo "USBVM double refusal checked uptime=$(cut -d' ' -f1 /proc/uptime)"
fi
finish $rc
