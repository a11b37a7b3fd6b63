//! Address ranges from config (allow lists, trusted proxies): any text reads as a range or an
//! error, never a panic; a range read contains its own base address and prints back to itself;
//! and checking any address against it never panics.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chatrixcd_webhook::Cidr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(range) = Cidr::parse(&text) else { return };
    let shown = range.to_string();
    assert_eq!(Cidr::parse(&shown), Ok(range), "{text:?} prints as {shown}, which reads back otherwise");
    let (base, _) = shown.split_once('/').expect("a range prints as <base>/<bits>");
    let base: IpAddr = base.parse().expect("its base is an address");
    assert!(range.contains(base), "{text:?} ({shown}) does not contain its own base address");
    // Any address at all, of both families, from the input's bytes.
    let mut octets = [0u8; 16];
    for (o, b) in octets.iter_mut().zip(data.iter().rev()) {
        *o = *b;
    }
    let v6 = Ipv6Addr::from(octets);
    let v4 = Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]);
    for ip in [IpAddr::V6(v6), IpAddr::V4(v4), IpAddr::V6(v4.to_ipv6_mapped())] {
        let _ = range.contains(ip);
    }
});
