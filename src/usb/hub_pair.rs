//! The two halves of a USB 3 hub, as pure logic: a USB 3 hub shows the host two hubs on one connector, a
//! SuperSpeed one and a USB 2 companion, and many keep VBUS on a port until both halves switch it off. This
//! module reads the facts that pair them (the BOS Container ID, the hub descriptor's port count) and picks
//! the sibling of a hub; `replug` switches the sibling's port together with the hub's.
//!
//! The pairing rules follow uhubctl (github.com/mvp/uhubctl, `uhubctl.c`, `usb_find_hubs`, "Handle USB2/3
//! duality"): the two must be of different generations and carry the same non-empty Container ID (USB 3.2
//! §9.6.2.3: a device exposing several functions on one connector reports one Container ID for all); since
//! some hubs hard-code a non-unique Container ID, the port counts must agree (or sum to 3 at most: uhubctl's
//! Apple mini-dock exception), serial numbers must agree when both have one, and among several candidates
//! the most similar port path wins (the same path and bus pair over the same path, over the same path below
//! the root port, over any).

/// bDescriptorType of a BOS descriptor (USB 3.2 table 9-6).
pub const BOS_DESCRIPTOR: u8 = 0x0F;
/// bDescriptorType of a device capability inside a BOS (USB 3.2 table 9-6).
const DEVICE_CAPABILITY: u8 = 0x10;
/// bDevCapabilityType of a Container ID (USB 3.2 table 9-14).
const CONTAINER_ID_CAPABILITY: u8 = 0x04;
/// bDescriptorType of a USB 2 hub descriptor (USB 2.0 §11.23.2.1).
pub const HUB_DESCRIPTOR: u8 = 0x29;
/// bDescriptorType of a SuperSpeed hub descriptor (USB 3.2 §10.15.2.1).
pub const SUPERSPEED_HUB_DESCRIPTOR: u8 = 0x2A;

/// What pairs one hub with its other half.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubFacts {
    pub bus: u8,
    pub port_path: Vec<u8>,
    /// bcdUSB 3.0 or later (uhubctl's `super_speed`): the hub's SuperSpeed half.
    pub super_speed: bool,
    /// bNbrPorts of its hub descriptor, when it could be read.
    pub ports: Option<u8>,
    pub container_id: Option<[u8; 16]>,
    pub serial: Option<String>,
}

/// The Container ID in a BOS descriptor (the whole descriptor, `wTotalLength` bytes), if it has one.
/// Malformed descriptors give `None`: a hub without a readable Container ID is simply not paired.
pub fn container_id(bos: &[u8]) -> Option<[u8; 16]> {
    let [len, kind, total_lo, total_hi, _caps, ..] = *bos else {
        return None;
    };
    if kind != BOS_DESCRIPTOR || len < 5 {
        return None;
    }
    let total = (u16::from_le_bytes([total_lo, total_hi]) as usize).min(bos.len());
    let mut at = len as usize;
    while at + 3 <= total {
        let cap_len = bos[at] as usize;
        if cap_len < 3 || at + cap_len > total {
            return None;
        }
        let cap = &bos[at..at + cap_len];
        // bLength 20: bLength, type, capability type, bReserved, then the 16-byte UUID.
        if cap[1] == DEVICE_CAPABILITY && cap[2] == CONTAINER_ID_CAPABILITY && cap_len >= 20 {
            return cap[4..20].try_into().ok();
        }
        at += cap_len;
    }
    None
}

/// bNbrPorts from a hub descriptor (either generation: byte 2 in both).
pub fn hub_ports(descriptor: &[u8]) -> Option<u8> {
    match descriptor {
        [len, kind, ports, ..]
            if *len >= 3 && (*kind == HUB_DESCRIPTOR || *kind == SUPERSPEED_HUB_DESCRIPTOR) =>
        {
            Some(*ports)
        }
        _ => None,
    }
}

/// How alike two hubs' places are; higher is more alike. uhubctl's scores 1, 2, 4, 5 (its score 3 is a
/// Raspberry Pi 4B quirk that a Mac lab does not have).
fn place_score(a: &HubFacts, b: &HubFacts) -> u8 {
    let (p1, p2) = (&a.port_path, &b.port_path);
    if p1 == p2 {
        // On Linux the SuperSpeed half sits on the bus after the USB 2 one.
        let bus_of = |h: &HubFacts| h.bus as i16 - h.super_speed as i16;
        return if bus_of(a) == bus_of(b) { 5 } else { 4 };
    }
    // On Apple silicon the two halves hang off different root ports.
    if !p1.is_empty() && p1.len() == p2.len() && p1[1..] == p2[1..] {
        return 2;
    }
    1
}

/// The index in `hubs` of the other half of `hubs[of]`, if it has one.
pub fn sibling(hubs: &[HubFacts], of: usize) -> Option<usize> {
    let me = hubs.get(of)?;
    let my_id = me.container_id?;
    hubs.iter()
        .enumerate()
        .filter(|&(i, h)| i != of && h.super_speed != me.super_speed)
        .filter(|(_, h)| h.container_id == Some(my_id))
        .filter(|(_, h)| match (me.ports, h.ports) {
            (Some(a), Some(b)) => a == b || a as u16 + b as u16 <= 3,
            _ => true,
        })
        .filter(|(_, h)| match (&me.serial, &h.serial) {
            (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => a == b,
            _ => true,
        })
        // The first of the best, as uhubctl keeps the first candidate at each score.
        .fold(None, |best: Option<(usize, u8)>, (i, h)| {
            let score = place_score(me, h);
            match best {
                Some((_, s)) if s >= score => best,
                _ => Some((i, score)),
            }
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: [u8; 16] = [7; 16];

    fn hub(bus: u8, path: &[u8], ss: bool, id: Option<[u8; 16]>) -> HubFacts {
        HubFacts {
            bus,
            port_path: path.to_vec(),
            super_speed: ss,
            ports: Some(4),
            container_id: id,
            serial: None,
        }
    }

    fn bos_with_container(id: [u8; 16]) -> Vec<u8> {
        // A USB 2.0 extension capability (7 bytes), then the Container ID (20 bytes).
        let mut caps = vec![7, 0x10, 0x02, 0x06, 0, 0, 0];
        caps.extend([20, 0x10, 0x04, 0]);
        caps.extend(id);
        let total = (5 + caps.len()) as u16;
        let mut bos = vec![5, 0x0F, total.to_le_bytes()[0], total.to_le_bytes()[1], 2];
        bos.extend(caps);
        bos
    }

    #[test]
    fn the_container_id_is_found_after_other_capabilities() {
        assert_eq!(container_id(&bos_with_container(ID)), Some(ID));
        let mut short = bos_with_container(ID);
        short.truncate(20);
        assert_eq!(container_id(&short), None);
        assert_eq!(container_id(&[5, 0x0F, 5, 0, 0]), None);
        assert_eq!(container_id(&[]), None);
        // A zero-length capability must not loop forever.
        assert_eq!(container_id(&[5, 0x0F, 8, 0, 1, 0, 0x10, 4]), None);
    }

    #[test]
    fn hub_descriptors_give_their_port_count() {
        assert_eq!(hub_ports(&[9, 0x29, 4, 0x09, 0]), Some(4));
        assert_eq!(hub_ports(&[12, 0x2A, 7]), Some(7));
        assert_eq!(hub_ports(&[9, 0x01, 4]), None);
        assert_eq!(hub_ports(&[2, 0x29]), None);
    }

    #[test]
    fn a_usb2_half_finds_its_superspeed_sibling() {
        // Linux numbering: USB 2 half on bus 1, SuperSpeed half on bus 2, same port path; a second hub of
        // the same model (same hard-coded Container ID) on another port.
        let hubs = [
            hub(1, &[2], false, Some(ID)),
            hub(2, &[3], true, Some(ID)),
            hub(2, &[2], true, Some(ID)),
            hub(1, &[5], false, None),
        ];
        assert_eq!(sibling(&hubs, 0), Some(2));
        assert_eq!(sibling(&hubs, 2), Some(0));
        assert_eq!(sibling(&hubs, 3), None);
    }

    #[test]
    fn on_a_mac_the_halves_differ_only_in_their_root_port() {
        let hubs = [
            hub(0, &[1, 2], false, Some(ID)),
            hub(0, &[5, 3], true, Some(ID)),
            hub(2, &[6, 2], true, Some(ID)),
        ];
        assert_eq!(sibling(&hubs, 0), Some(2));
    }

    #[test]
    fn no_sibling_without_a_matching_container_id_or_generation() {
        let other = [9u8; 16];
        assert_eq!(
            sibling(
                &[
                    hub(1, &[2], false, Some(ID)),
                    hub(2, &[2], true, Some(other))
                ],
                0
            ),
            None
        );
        assert_eq!(
            sibling(
                &[hub(1, &[2], false, Some(ID)), hub(2, &[2], false, Some(ID))],
                0
            ),
            None
        );
        let mut usb3 = hub(2, &[2], true, Some(ID));
        usb3.ports = Some(7);
        assert_eq!(
            sibling(&[hub(1, &[2], false, Some(ID)), usb3.clone()], 0),
            None
        );
        usb3.ports = Some(4);
        usb3.serial = Some("B".into());
        let mut usb2 = hub(1, &[2], false, Some(ID));
        usb2.serial = Some("A".into());
        assert_eq!(sibling(&[usb2, usb3], 0), None);
    }
}
