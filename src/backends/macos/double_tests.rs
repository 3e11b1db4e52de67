//! The macOS backend's own code run against the darwin double: each test is a first-contact defect of
//! issue 19 that a type-check cannot see, reproduced here as a user of the backend would meet it.

use super::watch::Watch;
use super::{IoRegistry, IoUserClients};
use crate::backends::darwin_double::testing::{
    ownership_errors, serve_override_fixture, serve_scenario, session,
};
use crate::backends::darwin_double::{connect, mach, runloop};
use crate::lab::{CallArgs, Matching, OpenRequest, Prop, Registry, UserClients};
use std::time::{Duration, Instant};

/// A condition the double's threads make true soon, waited for up to a generous bound (not a time check).
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

const DEVICE_ID: u64 = 4294968000;

#[test]
fn defect_1_a_printer_whose_class_is_overridden_is_still_found_by_its_real_class() {
    let _s = session();
    serve_override_fixture();
    let found = IoRegistry
        .find(&Matching {
            class: Some("IOUSBHostDevice".into()),
            ..Matching::default()
        })
        .unwrap();
    assert_eq!(
        found.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["DS620"],
        "IOObjectGetClass answers IOUSBDevice on a Mac; the printer must still be found"
    );
    assert_eq!(found[0].class, "IOUSBHostDevice");
    let interfaces = IoRegistry.children(DEVICE_ID).unwrap();
    assert!(
        interfaces[0].conforms_to("IOUSBHostInterface"),
        "{:?}",
        interfaces[0].class_chain
    );
    assert_eq!(ownership_errors(), Vec::<String>::new());
}

#[test]
fn defect_4_a_locationid_with_bit_31_set_reads_back_as_the_kernel_has_it() {
    let _s = session();
    serve_override_fixture();
    let e = IoRegistry.entry(DEVICE_ID).unwrap();
    assert_eq!(e.prop("locationID"), Some(&Prop::Int(0x8010_0000)));
    // Wider numbers keep their bits too (sessionID is unsigned 64-bit).
    assert_eq!(e.prop("sessionID"), Some(&Prop::Int(9223372036854775813)));
    // And a matching on it finds the entry (IOPropertyMatch crosses into the kernel as the same bits).
    let by_location = IoRegistry
        .find(&Matching {
            properties: [("locationID".to_string(), Prop::Int(0x8010_0000))].into(),
            class: Some("IOUSBHostDevice".into()),
            ..Matching::default()
        })
        .unwrap();
    assert_eq!(by_location.len(), 1);
    assert_eq!(ownership_errors(), Vec::<String>::new());
}

/// Open Apple's sample's service and register an async callback, as scenarios/sample/async.yaml does.
fn open_sample_with_callback(clients: &IoUserClients) -> (u64, u32) {
    let service = IoRegistry
        .find(&Matching {
            name: Some("NullDriver".into()),
            ..Matching::default()
        })
        .unwrap()
        .remove(0);
    let open = clients
        .open(&OpenRequest {
            entry: service.id,
            open_type: 0,
        })
        .unwrap();
    let conn = open.connection.expect("the sample opens");
    let register = CallArgs {
        selector: 4,
        struct_in: vec![0; 16],
        struct_out_capacity: 16,
        completion: true,
        ..CallArgs::default()
    };
    assert_eq!(clients.call(conn, &register).unwrap().code.0, 0);
    let port = clients
        .wake_port(conn)
        .expect("an async call made a wake port");
    (conn, port)
}

#[test]
fn defect_6_completions_that_arrive_between_calls_are_all_received() {
    let _s = session();
    let _sim = serve_scenario("scenarios/sample/async.yaml");
    let clients = IoUserClients::default();
    let (conn, port) = open_sample_with_callback(&clients);
    assert!(eventually(|| !clients.peek_completions(conn).is_empty()));
    clients.take_completions(conn);
    // The dext completes five requests while the host makes no call: the port's queue is then full...
    for i in 0..5 {
        assert!(connect::send_completion(port, 0, &[i]));
    }
    // ...unless something drains it, the sixth is dropped by the kernel.
    eventually(|| mach::queue_state(port).is_some_and(|(queued, _)| queued == 0));
    connect::send_completion(port, 0, &[5]);
    eventually(|| clients.peek_completions(conn).len() >= 6);
    let got: Vec<Vec<u64>> = clients
        .take_completions(conn)
        .into_iter()
        .map(|c| c.args)
        .collect();
    assert_eq!(got, (0..6).map(|i| vec![i]).collect::<Vec<_>>());
    assert_eq!(clients.close(conn).unwrap().0, 0);
    drop(clients);
    assert_eq!(ownership_errors(), Vec::<String>::new());
}

#[test]
fn defect_7_a_message_that_is_not_a_completion_is_skipped_and_draining_goes_on() {
    let _s = session();
    let _sim = serve_scenario("scenarios/sample/async.yaml");
    let clients = IoUserClients::default();
    let (conn, port) = open_sample_with_callback(&clients);
    assert!(eventually(|| !clients.peek_completions(conn).is_empty()));
    clients.take_completions(conn);
    // A stranger on the port (a no-senders notification, say: msgh_id 70), then a real completion.
    let mut stranger = connect::completion_message(port, &[0; 8], 0xE00002BC, &[99]);
    stranger[20..24].copy_from_slice(&70u32.to_le_bytes());
    assert!(mach::kernel_send(port, stranger));
    assert!(connect::send_completion(port, 0, &[7]));
    eventually(|| mach::queue_state(port).is_some_and(|(queued, _)| queued == 0));
    eventually(|| !clients.peek_completions(conn).is_empty());
    let got: Vec<(u32, Vec<u64>)> = clients
        .take_completions(conn)
        .into_iter()
        .map(|c| (c.result, c.args))
        .collect();
    assert_eq!(got, [(0, vec![7])]);
    assert_eq!(clients.close(conn).unwrap().0, 0);
    drop(clients);
    assert_eq!(ownership_errors(), Vec::<String>::new());
}

#[test]
fn defect_8_a_finished_wait_stops_its_run_loop_instead_of_letting_it_time_out() {
    let _s = session();
    let _sim = serve_scenario("scenarios/sample/async.yaml");
    let watch = Watch::arm(Matching {
        name: Some("NullDriver".into()),
        ..Matching::default()
    })
    .unwrap();
    assert!(eventually(|| runloop::running() == 1));
    runloop::take_exits();
    drop(watch);
    assert_eq!(
        runloop::take_exits(),
        [runloop::RUN_STOPPED],
        "the watch thread's run loop must be stopped (CFRunLoopStop), not left to run out its timeout"
    );
    assert_eq!(ownership_errors(), Vec::<String>::new());
}
