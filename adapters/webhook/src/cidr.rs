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
        // A range written in IPv4-mapped form (`::ffff:10.0.0.0/104`) is that IPv4 range: clients
        // are compared as IPv4 too (see `contains`), so it would otherwise match nothing.
        if let IpAddr::V6(v6) = base
            && let Some(v4) = v6.to_ipv4_mapped()
            && bits >= 96
        {
            return Ok(Self { base: IpAddr::V4(v4), bits: bits - 96 });
        }
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
            // An IPv6 range shorter than the mapped block (`::/0`, `::ffff:0:0/80`) holds IPv4
            // clients in their mapped form.
            (IpAddr::V6(base), IpAddr::V4(ip)) => {
                prefix_equal(&base.octets(), &ip.to_ipv6_mapped().octets(), self.bits)
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
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
        // Written in IPv4-mapped form, a range is the IPv4 range it maps.
        let mapped = Cidr::parse("::ffff:10.0.0.0/104").unwrap();
        assert!(mapped.contains("10.1.2.3".parse().unwrap()) && mapped.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!mapped.contains("11.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("::ffff:10.0.0.1").unwrap().contains("10.0.0.1".parse().unwrap()));
        // Found by fuzzing: a short IPv6 range around a mapped base holds that base.
        for found in ["::ffff:f:30/1", "::ffff:1.0.0.52/1"] {
            let range = Cidr::parse(found).unwrap();
            let (base, _) = found.split_once('/').unwrap();
            assert!(range.contains(base.parse().unwrap()), "{found}");
        }
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "::/129", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
