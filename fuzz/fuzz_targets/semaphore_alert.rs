//! Alert payloads arrive from the network: reading one never panics, whatever it holds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = chatrixcd_semaphore::alert::parse_alert(data);
});
