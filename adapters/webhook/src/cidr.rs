//! Address ranges for allow lists and trusted proxies: `10.0.0.0/8`, `2001:db8::/32`, or one
//! address.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Loopback, both families: who may read `/readyz` and `/metrics` unless configured.
    pub const LOOPBACK: [&'static str; 2] = ["127.0.0.0/8", "::1/128"];

    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text, None),
        };
        let base: IpAddr =
            address.parse().map_err(|_| format!("`{text}` is not an address or a range (10.0.0.0/8)"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { base, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client seen on an IPv6 socket (`::ffff:10.0.0.1`) is its IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => prefix_equal(&base.octets(), &ip.octets(), self.bits),
            (IpAddr::V6(base), IpAddr::V6(ip)) => prefix_equal(&base.octets(), &ip.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_equal(a: &[u8], b: &[u8], bits: u8) -> bool {
    let whole = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        (a[whole] & mask) == (b[whole] & mask)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.bits)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ranges_contain_what_they_say() {
        let lan = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(lan.contains("10.200.3.4".parse().unwrap()));
        assert!(!lan.contains("11.0.0.1".parse().unwrap()));
        assert!(lan.contains("::ffff:10.0.0.1".parse().unwrap()), "mapped IPv4");
        let odd = Cidr::parse("192.168.1.128/25").unwrap();
        assert!(odd.contains("192.168.1.200".parse().unwrap()) && !odd.contains("192.168.1.100".parse().unwrap()));
        let one = Cidr::parse("::1").unwrap();
        assert!(one.contains("::1".parse().unwrap()) && !one.contains("::2".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "::/129", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
