//! Linux USB gadget (configfs) set-up for emulated printers, generated from the catalog so the catalog
//! stays the one source of truth for ids, strings, serials and IEEE 1284 ids (`shared/reference/usb-vm.md`).
//!
//! Pure text: the shell commands that create one printer gadget per catalog model on `dummy_udc.K`.
//! Knows nothing of the VM that runs them.

use super::catalog::Model;

/// Where configfs puts USB gadgets (Documentation/usb/gadget_configfs.rst).
pub const GADGET_ROOT: &str = "/sys/kernel/config/usb_gadget";

/// f_printer answers GET_DEVICE_ID with `strlen(pnp_string)` bytes counting its own 2-byte length header,
/// so the last 2 characters of `pnp_string` never reach the host (usb-vm.md, "Quirks"): pad them.
pub const PNP_PAD: &str = "  ";

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The UDC a gadget binds to: one `dummy_hcd` controller per printer (`dummy_hcd num=N`).
pub fn udc_name(index: usize) -> String {
    format!("dummy_udc.{index}")
}

/// The configfs directory of the `index`-th printer gadget.
pub fn gadget_dir(index: usize) -> String {
    format!("{GADGET_ROOT}/printer{index}")
}

/// Shell commands that create and bind one printer gadget per model, in order: the K-th model is
/// `printerK` on `dummy_udc.K`, and its printer function is `/dev/g_printerK` (f_printer hands out minors
/// in creation order).
pub fn script(models: &[&Model]) -> String {
    let mut s = String::from("set -e\n");
    for (k, m) in models.iter().enumerate() {
        let g = gadget_dir(k);
        let line = |s: &mut String, text: String| {
            s.push_str(&text);
            s.push('\n');
        };
        line(
            &mut s,
            format!("# {} ({:04x}:{:04x})", m.name, m.vendor, m.product),
        );
        line(
            &mut s,
            format!("mkdir -p {g}/strings/0x409 {g}/configs/c.1 {g}/functions/printer.usb0"),
        );
        line(&mut s, format!("echo 0x{:04x} > {g}/idVendor", m.vendor));
        line(&mut s, format!("echo 0x{:04x} > {g}/idProduct", m.product));
        line(
            &mut s,
            format!("echo 0x{:04x} > {g}/bcdDevice", m.bcd_device),
        );
        line(
            &mut s,
            format!("echo 0x{:04x} > {g}/bcdUSB", super::catalog::BCD_USB),
        );
        for (file, value) in [
            ("manufacturer", m.manufacturer),
            ("product", m.product_string),
            ("serialnumber", m.serial),
        ] {
            line(
                &mut s,
                format!("printf '%s\\n' {} > {g}/strings/0x409/{file}", quote(value)),
            );
        }
        let pnp = format!("{}{PNP_PAD}", m.device_id_1284);
        line(
            &mut s,
            format!(
                "printf '%s' {} > {g}/functions/printer.usb0/pnp_string",
                quote(&pnp)
            ),
        );
        line(
            &mut s,
            format!("ln -s {g}/functions/printer.usb0 {g}/configs/c.1/"),
        );
        line(&mut s, format!("echo {} > {g}/UDC", udc_name(k)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::catalog;

    #[test]
    fn a_ds620_and_a_cx02_get_their_catalog_ids_strings_and_padded_1284_ids() {
        let s = script(&[
            catalog::find("DS620").unwrap(),
            catalog::find("CX-02").unwrap(),
        ]);
        for want in [
            "echo 0x1452 > /sys/kernel/config/usb_gadget/printer0/idVendor",
            "echo 0x8b01 > /sys/kernel/config/usb_gadget/printer0/idProduct",
            "printf '%s\\n' 'Dai Nippon Printing' > /sys/kernel/config/usb_gadget/printer0/strings/0x409/manufacturer",
            "printf '%s\\n' 'DS6C98031738' > /sys/kernel/config/usb_gadget/printer0/strings/0x409/serialnumber",
            "printf '%s' 'MANUFACTURER:Dai Nippon Printing ;MODEL:DP-DS620;  ' > /sys/kernel/config/usb_gadget/printer0/functions/printer.usb0/pnp_string",
            "echo dummy_udc.0 > /sys/kernel/config/usb_gadget/printer0/UDC",
            "echo 0x1343 > /sys/kernel/config/usb_gadget/printer1/idVendor",
            "echo 0x000a > /sys/kernel/config/usb_gadget/printer1/idProduct",
            "printf '%s\\n' 'CITIZEN SYSTEMS' > /sys/kernel/config/usb_gadget/printer1/strings/0x409/manufacturer",
            "echo dummy_udc.1 > /sys/kernel/config/usb_gadget/printer1/UDC",
        ] {
            assert!(s.lines().any(|l| l == want), "missing `{want}` in\n{s}");
        }
    }

    #[test]
    fn quotes_survive_the_shell() {
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
