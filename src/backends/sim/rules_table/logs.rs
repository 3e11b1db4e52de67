//! Rows L1-L5 (kernel log lines).

use super::*;

use super::open::*;

pub(super) fn log_rows() -> Vec<(&'static str, Check)> {
    vec![
        (
            "L1",
            Box::new(|| {
                let d = plain(BTreeMap::new());
                holds(
                    &format!("{:?}", d.log),
                    d.log
                        .iter()
                        .skip(1)
                        .all(|l| l.starts_with("DK: DUserClient-0x1234:UC ")),
                )
            }),
        ),
        (
            "L2",
            Box::new(|| {
                let absent = plain(BTreeMap::new());
                expect(
                    "absent",
                    absent.log.get(1).map(String::as_str),
                    Some(
                        "DK: DUserClient-0x1234:UC failed userclient-access check, needed bundle ID com.example.d",
                    ),
                )?;
                let unmatched = plain(access(Prop::Str("com.example.other".into())));
                holds(
                    &format!("present but unmatched: {:?}", unmatched.log),
                    !unmatched.log.iter().any(|l| l.contains("needed bundle ID")),
                )
            }),
        ),
        (
            "L3",
            Box::new(|| {
                for d in [plain(BTreeMap::new()), plain(access(Prop::Str("x".into())))] {
                    expect(
                        "last line",
                        d.log.last().map(String::as_str),
                        Some("DK: DUserClient-0x1234:UC entitlements check failed"),
                    )?;
                }
                Ok(())
            }),
        ),
        (
            "L4",
            Box::new(|| {
                let d = open_with(
                    RUNNING,
                    Some(with_ucp_key(
                        open_rules::USER_CLIENT_ENTITLEMENTS_KEY,
                        Prop::Str("e".into()),
                    )),
                    granted(),
                    BTreeMap::new(),
                    |_| {},
                );
                expect(
                    "IOUC line",
                    d.log.last().map(String::as_str),
                    Some("IOUC IOUserUserClient missing entitlement in process pid 77, dexthil"),
                )
            }),
        ),
        (
            "L5",
            Box::new(|| {
                let host = BTreeMap::from([(
                    open_rules::DRIVER_ACCESS.to_string(),
                    Prop::Str("nope".into()),
                )]);
                let d = plain(host);
                expect(
                    "required line",
                    d.log.get(1).map(String::as_str),
                    Some("DK: DUserClient-0x1234:UC failed required entitlement check"),
                )
            }),
        ),
    ]
}
