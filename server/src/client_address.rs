/*!
Who the client is when the server sits behind reverse proxies. The peer's address, unless the
peer is a proxy the operator trusts (`--trusted-proxy`): then the right-most address of
`X-Forwarded-For` that is not itself a trusted proxy. Anyone can send the header, so it is
believed only from trusted hops. The address goes to the audit log and to sign-in throttling,
which would otherwise count every person behind a proxy as one.
*/

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address block: `10.0.0.0/8`, `fd00::/8`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// IPv4 as IPv4-mapped IPv6, so one comparison serves both.
    network: u128,
    prefix: u32,
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(u128::from(v6), |v4| u128::from(v4.to_ipv6_mapped())),
    }
}

fn mask(prefix: u32) -> u128 {
    u128::MAX.checked_shl(128 - prefix).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = text.split_once('/').map_or((text, None), |(a, p)| (a, Some(p)));
        let ip: IpAddr = addr.parse().map_err(|_| format!("'{text}' is not an IP address or address/prefix"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u32>().ok().filter(|p| *p <= max).ok_or_else(|| format!("'{text}': the prefix is 0 to {max}"))?,
        };
        let prefix = if ip.is_ipv4() { prefix + 96 } else { prefix };
        Ok(Self { network: bits(ip) & mask(prefix), prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        bits(ip) & mask(self.prefix) == self.network
    }
}

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

/// Where a request comes from, as far as it can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress {
    pub ip: IpAddr,
    /// A trusted proxy forwarded it.
    pub proxied: bool,
    /// The client reached the proxy over HTTPS (its `X-Forwarded-Proto`).
    pub https_at_proxy: bool,
    /// The peer is this host and forwarded nothing: nothing travelled over a network.
    pub local: bool,
}

impl TrustedProxies {
    pub fn parse(list: &[String]) -> Result<Self, String> {
        list.iter().filter(|s| !s.trim().is_empty()).map(|s| s.parse()).collect::<Result<_, _>>().map(Self)
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddress {
        let peer = peer.to_canonical();
        let forwarded = headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded");
        let local = peer.is_loopback() && !forwarded;
        if !self.trusts(peer) {
            return ClientAddress { ip: peer, proxied: false, https_at_proxy: false, local };
        }
        // Each proxy appends the address it got the request from; read from the right while
        // the hops are trusted. Entries are read one by one from the raw bytes, so a byte a
        // client put in its own part hides nothing after it; one that does not parse ends the
        // walk at the hop before.
        let hops: Vec<&[u8]> = headers.get_all("x-forwarded-for").iter().flat_map(|v| v.as_bytes().split(|b| *b == b',')).collect();
        let mut ip = peer;
        for hop in hops.iter().rev() {
            let Some(addr) = std::str::from_utf8(hop).ok().and_then(|h| h.trim().parse::<IpAddr>().ok()) else { break };
            ip = addr.to_canonical();
            if !self.trusts(ip) {
                break;
            }
        }
        // The proto the nearest proxy says: the right-most value (a proxy that appends leaves
        // the client's own before it).
        let proto = headers.get_all("x-forwarded-proto").iter().flat_map(|v| v.as_bytes().split(|b| *b == b',')).next_back();
        let https_at_proxy = proto.is_some_and(|p| p.trim_ascii().eq_ignore_ascii_case(b"https"));
        ClientAddress { ip, proxied: forwarded, https_at_proxy, local }
    }
}

/// The middleware: hands every later layer the request's [`ClientAddress`].
pub async fn identify(State(state): State<crate::api::AppState>, mut req: Request, next: Next) -> Response {
    if let Some(peer) = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) {
        let client = state.proxies.client(peer, req.headers());
        req.extensions_mut().insert(client);
    }
    next.run(req).await
}

/// The address the audit log and throttling use: "local" for in-process callers.
pub fn source(extensions: &axum::http::Extensions) -> String {
    extensions.get::<ClientAddress>().map(|c| c.ip.to_string()).unwrap_or_else(|| "local".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_match_their_addresses_only() {
        let v4: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(v4.contains(ip("10.1.200.3")) && !v4.contains(ip("10.2.0.1")));
        assert!(v4.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped addresses are the IPv4 ones");
        let one: Cidr = "192.168.1.5".parse().unwrap();
        assert!(one.contains(ip("192.168.1.5")) && !one.contains(ip("192.168.1.6")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("2001:db8::1")), "/0 of IPv4 is every IPv4 address, no IPv6 one");
        for bad in ["10.0.0.0/33", "fd00::/129", "nope", "10.0.0.0/x", "/8", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-proto", "https")]);
        // A client that is not a proxy says what it likes; it is still itself.
        let direct = proxies.client(ip("203.0.113.9"), &spoofed);
        assert_eq!((direct.ip, direct.proxied, direct.https_at_proxy), (ip("203.0.113.9"), false, false));
        // Through the local proxy: the address it was given.
        assert_eq!(proxies.client(ip("127.0.0.1"), &spoofed).ip, ip("1.2.3.4"));
        assert!(proxies.client(ip("127.0.0.1"), &spoofed).https_at_proxy);
        // A client's own X-Forwarded-For is passed on by proxies to the left of the real one:
        // the right-most untrusted address is the client, whatever it put before.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.5")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &chain).ip, ip("198.51.100.7"));
        // Several headers read as one list.
        let split = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(proxies.client(ip("10.9.9.9"), &split).ip, ip("198.51.100.7"));
        // Garbage ends the walk at the last good hop; garbage a client put before its real
        // address hides nothing.
        let garbage = headers(&[("x-forwarded-for", "198.51.100.7, not-an-ip")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &garbage).ip, ip("127.0.0.1"));
        let mut raw = HeaderMap::new();
        raw.append("x-forwarded-for", axum::http::HeaderValue::from_bytes(b"\xff\xfe, 198.51.100.9").unwrap());
        assert_eq!(proxies.client(ip("127.0.0.1"), &raw).ip, ip("198.51.100.9"));
        // The nearest proxy's word on the scheme, not what the client sent before it.
        let appended = headers(&[("x-forwarded-for", "198.51.100.7"), ("x-forwarded-proto", "https, http")]);
        assert!(!proxies.client(ip("127.0.0.1"), &appended).https_at_proxy);
        // IPv4-mapped peers are their IPv4 selves.
        assert_eq!(proxies.client(ip("::ffff:127.0.0.1"), &spoofed).ip, ip("1.2.3.4"));
        // Only trusted hops all the way: the left-most of them.
        let inside = headers(&[("x-forwarded-for", "10.0.0.1, 10.0.0.2")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &inside).ip, ip("10.0.0.1"));
    }

    #[test]
    fn a_request_is_local_only_from_this_host_and_forwarded_by_no_one() {
        let none = TrustedProxies::default();
        assert!(none.client(ip("127.0.0.1"), &HeaderMap::new()).local);
        assert!(none.client(ip("::ffff:127.0.0.1"), &HeaderMap::new()).local);
        let trusting = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap();
        assert!(trusting.client(ip("127.0.0.1"), &HeaderMap::new()).local, "a trusted local peer that forwards nothing is local");
        assert!(!none.client(ip("127.0.0.1"), &headers(&[("x-forwarded-for", "1.2.3.4")])).local, "a local proxy forwards from elsewhere");
        assert!(!none.client(ip("192.0.2.1"), &HeaderMap::new()).local);
    }
}
