//! The one list of cross-check field names that scenarios use in `skip` and `expect_mismatch`, and the
//! rules for groups (`dext`, `interface.0`) and interface numbers (`interface.N.*`).

/// Every field name; `N` stands for an interface number (0..=255). A group name (`dext`, `interface.N`)
/// covers every field under it.
pub const FIELDS: &[&str] = &[
    "vendor",
    "product",
    "bcd_device",
    "bcd_usb",
    "device_class",
    "max_packet_size0",
    "num_configurations",
    "manufacturer_index",
    "product_index",
    "serial_index",
    "manufacturer",
    "product_string",
    "serial",
    "address",
    "location",
    "speed",
    "configuration",
    "interface.N",
    "interface.N.present",
    "interface.N.alternate_setting",
    "interface.N.class",
    "interface.N.num_endpoints",
    "interface.N.configuration_value",
    "dext",
    "dext.under_interface",
    "dext.vendor",
    "dext.product",
    "dext.bundle_id",
    "dext.server_name",
    "dext.user_client_properties",
    "dext.user_server_count",
];

/// `interface.7.class` → (`interface.N.class`, Some("7")); any other name → (name, None).
fn generic(name: &str) -> (String, Option<&str>) {
    let mut parts = name.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("interface"), Some(n), rest) if !n.is_empty() => {
            let g = match rest {
                Some(r) => format!("interface.N.{r}"),
                None => "interface.N".to_string(),
            };
            (g, Some(n))
        }
        _ => (name.to_string(), None),
    }
}

/// True when `name` is a field or group of [`FIELDS`] (with a real interface number for `N`).
pub fn is_field(name: &str) -> bool {
    let (g, n) = generic(name);
    n.is_none_or(|n| n.parse::<u8>().is_ok()) && FIELDS.contains(&g.as_str())
}

/// The field a mistyped name most likely meant, with the interface number the user gave.
pub fn nearest_field(name: &str) -> Option<String> {
    let number = generic(name)
        .1
        .filter(|n| n.parse::<u8>().is_ok())
        .unwrap_or("0");
    let concrete: Vec<String> = FIELDS
        .iter()
        .map(|f| f.replace(".N", &format!(".{number}")))
        .collect();
    crate::names::nearest(name, concrete.iter().map(String::as_str)).map(str::to_string)
}

/// True when the `skip` / `expect_mismatch` entry `entry` covers `field` (itself, or a group above it).
pub fn skips(entry: &str, field: &str) -> bool {
    field == entry
        || field
            .strip_prefix(entry)
            .is_some_and(|rest| rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_interface_numbers_and_groups_are_fields() {
        for ok in [
            "vendor",
            "interface.0.class",
            "interface.255",
            "dext",
            "dext.user_server_count",
        ] {
            assert!(is_field(ok), "{ok}");
        }
        for bad in [
            "vendr",
            "interface.N.class",
            "interface.256.class",
            "interface.0.colour",
            "dext.x",
        ] {
            assert!(!is_field(bad), "{bad}");
        }
    }

    #[test]
    fn a_near_miss_gets_the_field_it_meant() {
        assert_eq!(nearest_field("bcdusb").as_deref(), Some("bcd_usb"));
        assert_eq!(
            nearest_field("interface.2.clas").as_deref(),
            Some("interface.2.class")
        );
        assert_eq!(
            nearest_field("dext.usr_server_count").as_deref(),
            Some("dext.user_server_count")
        );
    }

    #[test]
    fn groups_cover_their_fields_only() {
        assert!(skips("dext", "dext.bundle_id"));
        assert!(skips("interface.0", "interface.0.class"));
        assert!(!skips("interface.1", "interface.10.class"));
        assert!(!skips("serial", "serial_index"));
    }
}
