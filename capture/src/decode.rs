//! Link-layer and IP decoding: from a captured frame to an IP packet carrying a
//! TCP segment or UDP datagram, through VLAN/QinQ, MPLS, PPPoE and the common
//! tunnels (IP-in-IP, GRE, VXLAN, Geneve, GTP-U). The innermost IP header wins,
//! as in the reference implementations. IP and transport headers are parsed by
//! `etherparse`; what cannot be decoded is reported with a [`Skip`] reason.

use etherparse::{IpNumber, IpSlice, TcpSlice, UdpSlice};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// libpcap link-layer types we decode.
pub mod linktype {
    pub const NULL: i32 = 0;
    pub const ETHERNET: i32 = 1;
    pub const PPP: i32 = 9;
    pub const RAW_OLD: i32 = 12;
    pub const RAW_OPENBSD: i32 = 14;
    pub const PPP_HDLC: i32 = 50;
    pub const RAW: i32 = 101;
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;
}

/// The name of a link type this decoder reads, `None` for one it does not.
pub fn linktype_name(lt: i32) -> Option<&'static str> {
    Some(match lt {
        linktype::ETHERNET => "Ethernet",
        linktype::NULL | linktype::LOOP => "BSD loopback",
        linktype::RAW | linktype::RAW_OLD | linktype::RAW_OPENBSD => "raw IP",
        linktype::IPV4 => "raw IPv4",
        linktype::IPV6 => "raw IPv6",
        linktype::LINUX_SLL => "Linux cooked (SLL)",
        linktype::LINUX_SLL2 => "Linux cooked v2 (SLL2)",
        linktype::PPP | linktype::PPP_HDLC => "PPP",
        _ => return None,
    })
}

/// Link types read, for messages.
pub const SUPPORTED_LINKTYPES: &str =
    "Ethernet (VLAN, MPLS, PPPoE, tunnels inside), Linux cooked SLL/SLL2, raw IP, BSD loopback, PPP";

/// Why a frame was not handed to the flow table. Counted, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// ARP, LLDP, STP, ...: no IP inside.
    NonIp,
    /// The link type of the capture is not one we decode.
    UnsupportedLinkType,
    /// Headers cut short by the snaplen (or a corrupt length field).
    Truncated,
    /// An IPv4/IPv6 fragment (fragments are not reassembled).
    IpFragment,
    /// IP packet that is neither TCP nor UDP (ICMP, ESP, ...).
    NotTcpUdp,
    /// A tunnel we recognise but do not decapsulate, or nesting too deep.
    UnsupportedTunnel,
    /// Header fields that make no sense.
    Malformed,
}

impl Skip {
    pub const ALL: [Skip; 7] = [
        Skip::NonIp,
        Skip::UnsupportedLinkType,
        Skip::Truncated,
        Skip::IpFragment,
        Skip::NotTcpUdp,
        Skip::UnsupportedTunnel,
        Skip::Malformed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NonIp => "non_ip",
            Skip::UnsupportedLinkType => "unsupported_link_type",
            Skip::Truncated => "truncated",
            Skip::IpFragment => "ip_fragment",
            Skip::NotTcpUdp => "not_tcp_udp",
            Skip::UnsupportedTunnel => "unsupported_tunnel",
            Skip::Malformed => "malformed",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A TCP segment's header fields and payload.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub ack_flag: bool,
    pub fin: bool,
    pub rst: bool,
    pub window: u16,
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

/// A UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
pub enum Transport<'a> {
    Tcp(TcpSegment<'a>),
    Udp(UdpDatagram<'a>),
}

/// A decoded packet: innermost IP header and its transport.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    /// IPv4 DF bit; `None` for IPv6.
    pub dont_fragment: Option<bool>,
    pub transport: Transport<'a>,
    /// Came out of a tunnel.
    pub tunnelled: bool,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_TRANSPARENT_BRIDGING: u16 = 0x6558;
const ETHERTYPE_ERSPAN_II: u16 = 0x88be;

const UDP_PORT_VXLAN: u16 = 4789;
const UDP_PORT_GENEVE: u16 = 6081;
const UDP_PORT_GTP_U: u16 = 2152;

/// How many encapsulations we follow before giving up.
const MAX_DEPTH: u8 = 6;

/// Decodes one frame of the given link type.
#[inline]
pub fn decode(linktype: i32, frame: &[u8]) -> Result<Packet<'_>, Skip> {
    match linktype {
        linktype::ETHERNET => ethernet(frame, 0),
        linktype::NULL | linktype::LOOP => ip(frame.get(4..).ok_or(Skip::Truncated)?, 0),
        linktype::RAW
        | linktype::RAW_OLD
        | linktype::RAW_OPENBSD
        | linktype::IPV4
        | linktype::IPV6 => ip(frame, 0),
        linktype::LINUX_SLL => {
            let h = frame.get(..16).ok_or(Skip::Truncated)?;
            ethertype(u16::from_be_bytes([h[14], h[15]]), &frame[16..], 0)
        }
        linktype::LINUX_SLL2 => {
            let h = frame.get(..20).ok_or(Skip::Truncated)?;
            ethertype(u16::from_be_bytes([h[0], h[1]]), &frame[20..], 0)
        }
        linktype::PPP | linktype::PPP_HDLC => ppp(frame, 0),
        _ => Err(Skip::UnsupportedLinkType),
    }
}

fn ethernet(frame: &[u8], depth: u8) -> Result<Packet<'_>, Skip> {
    let h = frame.get(..14).ok_or(Skip::Truncated)?;
    ethertype(u16::from_be_bytes([h[12], h[13]]), &frame[14..], depth)
}

#[inline]
fn ethertype(mut typ: u16, mut rest: &[u8], depth: u8) -> Result<Packet<'_>, Skip> {
    // VLAN tags (802.1Q, QinQ), any number of them.
    while matches!(typ, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
        let t = rest.get(..4).ok_or(Skip::Truncated)?;
        typ = u16::from_be_bytes([t[2], t[3]]);
        rest = &rest[4..];
    }
    match typ {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => ip(rest, depth),
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => {
            // Labels until bottom-of-stack, then guess IP from the version nibble.
            loop {
                let l = rest.get(..4).ok_or(Skip::Truncated)?;
                rest = &rest[4..];
                if l[2] & 1 == 1 {
                    break;
                }
            }
            match rest.first().map(|b| b >> 4) {
                Some(4) | Some(6) => ip(rest, depth),
                _ => Err(Skip::UnsupportedTunnel),
            }
        }
        ETHERTYPE_PPPOE_SESSION => {
            let h = rest.get(..8).ok_or(Skip::Truncated)?;
            match u16::from_be_bytes([h[6], h[7]]) {
                0x0021 | 0x0057 => ip(&rest[8..], depth),
                _ => Err(Skip::NonIp),
            }
        }
        _ => Err(Skip::NonIp),
    }
}

fn ppp(frame: &[u8], depth: u8) -> Result<Packet<'_>, Skip> {
    let mut rest = frame;
    if rest.starts_with(&[0xff, 0x03]) {
        rest = &rest[2..];
    }
    let (proto, rest) = match rest.first() {
        // Protocol-field compression: a one-byte odd protocol number.
        Some(b) if b & 1 == 1 => (*b as u16, &rest[1..]),
        _ => {
            let p = rest.get(..2).ok_or(Skip::Truncated)?;
            (u16::from_be_bytes([p[0], p[1]]), &rest[2..])
        }
    };
    match proto {
        0x0021 | 0x0057 => ip(rest, depth),
        _ => Err(Skip::NonIp),
    }
}

fn ip(data: &[u8], depth: u8) -> Result<Packet<'_>, Skip> {
    if depth > MAX_DEPTH {
        return Err(Skip::UnsupportedTunnel);
    }
    if let Some(p) = ipv4_tcp(data, depth) {
        return Ok(p);
    }
    if let Some(p) = ipv6_tcp(data, depth) {
        return Ok(p);
    }
    ip_general(data, depth)
}

/// An unfragmented IPv4 packet with a whole TCP header, nearly every packet on
/// a link, read straight from the bytes. Anything else (`None`) goes the
/// general way through etherparse, which gives the same result for these
/// (tested against it).
#[inline]
fn ipv4_tcp(data: &[u8], depth: u8) -> Option<Packet<'_>> {
    let h = data.get(..20)?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let frag = u16::from_be_bytes([h[6], h[7]]);
    // Version 4, TCP, lengths consistent, neither more fragments nor an offset.
    if h[0] >> 4 != 4 || h[9] != 6 || ihl < 20 || total < ihl || total > data.len() {
        return None;
    }
    if frag & 0x3fff != 0 {
        return None;
    }
    let src = IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19]));
    let transport = tcp_segment(&data[ihl..total])?;
    Some(Packet {
        src,
        dst,
        ttl: h[8],
        dont_fragment: Some(frag & 0x4000 != 0),
        transport,
        tunnelled: depth > 0,
    })
}

/// An IPv6 packet whose first header is TCP (no extension headers), read
/// straight from the bytes like [`ipv4_tcp`]; a site's clients are often half
/// IPv6, and etherparse's general path costs several times as much.
#[inline]
fn ipv6_tcp(data: &[u8], depth: u8) -> Option<Packet<'_>> {
    let h = data.get(..40)?;
    let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
    // Version 6, TCP next, a payload length that fits (0 would be a jumbogram,
    // which needs a hop-by-hop header, so never TCP next).
    if h[0] >> 4 != 6 || h[6] != 6 || payload == 0 || 40 + payload > data.len() {
        return None;
    }
    let addr = |at: usize| -> [u8; 16] { h[at..at + 16].try_into().expect("16 bytes") };
    let transport = tcp_segment(&data[40..40 + payload])?;
    Some(Packet {
        src: IpAddr::V6(Ipv6Addr::from(addr(8))),
        dst: IpAddr::V6(Ipv6Addr::from(addr(24))),
        ttl: h[7],
        dont_fragment: None,
        transport,
        tunnelled: depth > 0,
    })
}

/// A whole TCP header and its payload (`body` is the IP payload). Always
/// inlined: the segment is then built in place in the packet, not copied in.
#[inline(always)]
fn tcp_segment(body: &[u8]) -> Option<Transport<'_>> {
    let t = body.get(..20)?;
    let doff = usize::from(t[12] >> 4) * 4;
    if doff < 20 || doff > body.len() {
        return None;
    }
    let be16 = |i: usize| u16::from_be_bytes([t[i], t[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
    let flags = t[13];
    Some(Transport::Tcp(TcpSegment {
        src_port: be16(0),
        dst_port: be16(2),
        seq: be32(4),
        ack: be32(8),
        syn: flags & 0x02 != 0,
        ack_flag: flags & 0x10 != 0,
        fin: flags & 0x01 != 0,
        rst: flags & 0x04 != 0,
        window: be16(14),
        options: &body[20..doff],
        payload: &body[doff..],
    }))
}

/// Any IP packet, through etherparse.
fn ip_general(data: &[u8], depth: u8) -> Result<Packet<'_>, Skip> {
    let ip = IpSlice::from_slice(data).map_err(|e| {
        use etherparse::err::ip::SliceError;
        match e {
            SliceError::Len(_) => Skip::Truncated,
            _ => Skip::Malformed,
        }
    })?;
    if ip.is_fragmenting_payload() {
        return Err(Skip::IpFragment);
    }
    let (ttl, dont_fragment) = match &ip {
        IpSlice::Ipv4(v4) => (v4.header().ttl(), Some(v4.header().dont_fragment())),
        IpSlice::Ipv6(v6) => (v6.header().hop_limit(), None),
    };
    let payload = ip.payload();
    let body = payload.payload;
    let transport = match payload.ip_number {
        IpNumber::TCP => {
            let t = TcpSlice::from_slice(body).map_err(|e| {
                use etherparse::err::tcp::HeaderSliceError;
                match e {
                    HeaderSliceError::Len(_) => Skip::Truncated,
                    HeaderSliceError::Content(_) => Skip::Malformed,
                }
            })?;
            Transport::Tcp(TcpSegment {
                src_port: t.source_port(),
                dst_port: t.destination_port(),
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                syn: t.syn(),
                ack_flag: t.ack(),
                fin: t.fin(),
                rst: t.rst(),
                window: t.window_size(),
                options: &t.header_slice()[20..],
                payload: t.payload(),
            })
        }
        IpNumber::UDP => {
            let u = UdpSlice::from_slice(body).map_err(|_| Skip::Truncated)?;
            let (sp, dp) = (u.source_port(), u.destination_port());
            let inner = u.payload();
            if let Some(result) = udp_tunnel(sp, dp, inner, depth) {
                return result;
            }
            Transport::Udp(UdpDatagram {
                src_port: sp,
                dst_port: dp,
                payload: inner,
            })
        }
        IpNumber::IPV4 | IpNumber::IPV6 => return tunnelled(ip_inner(body, depth + 1)),
        IpNumber::GRE => return tunnelled(gre(body, depth + 1)),
        _ => return Err(Skip::NotTcpUdp),
    };
    Ok(Packet {
        src: ip.source_addr(),
        dst: ip.destination_addr(),
        ttl,
        dont_fragment,
        transport,
        tunnelled: depth > 0,
    })
}

fn ip_inner(data: &[u8], depth: u8) -> Result<Packet<'_>, Skip> {
    ip(data, depth)
}

fn tunnelled(r: Result<Packet<'_>, Skip>) -> Result<Packet<'_>, Skip> {
    r.map(|mut p| {
        p.tunnelled = true;
        p
    })
}

/// Decapsulates VXLAN, Geneve and GTP-U; `None` if the datagram is not one of them.
fn udp_tunnel(sp: u16, dp: u16, data: &[u8], depth: u8) -> Option<Result<Packet<'_>, Skip>> {
    let depth = depth + 1;
    if dp == UDP_PORT_VXLAN {
        // 8-byte header with the I flag set, then Ethernet.
        let h = data.get(..8)?;
        if h[0] & 0x08 == 0 {
            return None;
        }
        return Some(tunnelled(ethernet(&data[8..], depth)));
    }
    if dp == UDP_PORT_GENEVE {
        let h = data.get(..8)?;
        if h[0] >> 6 != 0 {
            return None;
        }
        let opt_len = (h[0] & 0x3f) as usize * 4;
        let proto = u16::from_be_bytes([h[2], h[3]]);
        let inner = data.get(8 + opt_len..)?;
        return Some(tunnelled(match proto {
            ETHERTYPE_TRANSPARENT_BRIDGING => ethernet(inner, depth),
            _ => ethertype(proto, inner, depth),
        }));
    }
    if dp == UDP_PORT_GTP_U || sp == UDP_PORT_GTP_U {
        return gtp_u(data).map(|inner| tunnelled(ip(inner, depth)));
    }
    None
}

/// GTP-U (v1) G-PDU: returns the carried IP packet.
fn gtp_u(data: &[u8]) -> Option<&[u8]> {
    let h = data.get(..8)?;
    let flags = h[0];
    if flags >> 5 != 1 || h[1] != 0xff {
        return None; // not GTPv1, or not a G-PDU
    }
    let mut off = 8;
    if flags & 0x07 != 0 {
        // Sequence number, N-PDU number, next extension header type.
        let opt = data.get(8..12)?;
        off = 12;
        let mut next = opt[3];
        while next != 0 {
            let len = *data.get(off)? as usize * 4;
            if len == 0 {
                return None;
            }
            next = *data.get(off + len - 1)?;
            off += len;
        }
    }
    let inner = data.get(off..)?;
    matches!(inner.first().map(|b| b >> 4), Some(4) | Some(6)).then_some(inner)
}

fn gre(data: &[u8], depth: u8) -> Result<Packet<'_>, Skip> {
    let h = data.get(..4).ok_or(Skip::Truncated)?;
    let flags = u16::from_be_bytes([h[0], h[1]]);
    let proto = u16::from_be_bytes([h[2], h[3]]);
    if flags & 0x0007 != 0 {
        return Err(Skip::UnsupportedTunnel); // GRE version 1 (PPTP)
    }
    let mut off = 4;
    for bit in [0x8000u16, 0x2000, 0x1000] {
        // checksum(+reserved), key, sequence: 4 bytes each when flagged
        if flags & bit != 0 {
            off += 4;
        }
    }
    let inner = data.get(off..).ok_or(Skip::Truncated)?;
    match proto {
        ETHERTYPE_TRANSPARENT_BRIDGING => ethernet(inner, depth),
        ETHERTYPE_ERSPAN_II => ethernet(inner.get(8..).ok_or(Skip::Truncated)?, depth),
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => ip(inner, depth),
        _ => Err(Skip::UnsupportedTunnel),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4, DF
            0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
        ];
        p.extend_from_slice(payload);
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p
    }

    fn ipv6_tcp(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, 6, 57];
        p.extend((1..=32).map(|i| i as u8)); // source and destination addresses
        p.extend([
            0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        p.extend_from_slice(payload);
        let len = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&len.to_be_bytes());
        p
    }

    /// `p` damaged (`edits`), padded and cut as a capture might give it; the
    /// direct reader `fast` must agree with etherparse on every packet it
    /// takes (options, flags, lengths, next headers, padding, damage).
    fn fast_path_agrees(
        fast: fn(&[u8], u8) -> Option<Packet<'_>>,
        mut p: Vec<u8>,
        edits: Vec<(usize, u8)>,
        cut: usize,
        pad: usize,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        p.extend(std::iter::repeat_n(0, pad));
        for (at, v) in edits {
            if at < p.len() {
                p[at] = v;
            }
        }
        p.truncate(p.len().saturating_sub(cut.saturating_sub(50)));
        if let Some(direct) = fast(&p, 0) {
            let general = ip_general(&p, 0);
            proptest::prop_assert_eq!(format!("{direct:?}"), format!("{:?}", general.unwrap()));
        }
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn ipv4_tcp_fast_path_agrees_with_etherparse(
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            edits in proptest::collection::vec((0usize..60, proptest::num::u8::ANY), 0..4),
            cut in 0usize..100,
            pad in 0usize..8,
        ) {
            fast_path_agrees(super::ipv4_tcp, ipv4_tcp(&payload), edits, cut, pad)?;
        }

        #[test]
        fn ipv6_tcp_fast_path_agrees_with_etherparse(
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            edits in proptest::collection::vec((0usize..80, proptest::num::u8::ANY), 0..4),
            cut in 0usize..100,
            pad in 0usize..8,
        ) {
            fast_path_agrees(super::ipv6_tcp, ipv6_tcp(&payload), edits, cut, pad)?;
        }
    }

    #[test]
    fn ipv6_tcp_fast_path_takes_plain_segments_and_leaves_the_rest() {
        let p = ipv6_tcp(b"hello");
        let fast = super::ipv6_tcp(&p, 0).expect("a plain IPv6/TCP segment");
        assert_eq!(tcp_of(fast).payload, b"hello");
        assert_eq!(
            format!("{:?}", super::ipv6_tcp(&p, 0)),
            format!("{:?}", ip_general(&p, 0).ok())
        );
        // An extension header first (hop-by-hop), a zero (jumbo) length, or a
        // length past the end: the general path decides.
        let mut ext = p.clone();
        ext[6] = 0;
        assert!(super::ipv6_tcp(&ext, 0).is_none());
        let mut jumbo = p.clone();
        jumbo[4..6].copy_from_slice(&[0, 0]);
        assert!(super::ipv6_tcp(&jumbo, 0).is_none());
        assert!(super::ipv6_tcp(&p[..p.len() - 1], 0).is_none());
    }

    fn eth(typ: u16, inner: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&typ.to_be_bytes());
        f.extend_from_slice(inner);
        f
    }

    fn tcp_of(p: Packet<'_>) -> TcpSegment<'_> {
        match p.transport {
            Transport::Tcp(t) => t,
            _ => panic!("not tcp"),
        }
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let f = eth(0x0800, &ipv4_tcp(b"hi"));
        let p = decode(linktype::ETHERNET, &f).unwrap();
        assert_eq!(p.src.to_string(), "10.0.0.1");
        assert_eq!(p.ttl, 64);
        assert_eq!(p.dont_fragment, Some(true));
        let t = tcp_of(p);
        assert_eq!(
            (t.src_port, t.dst_port, t.payload),
            (12345, 443, &b"hi"[..])
        );
    }

    #[test]
    fn qinq_and_padding() {
        let mut inner = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00];
        inner.extend(ipv4_tcp(b"x"));
        inner.extend_from_slice(&[0; 6]); // Ethernet trailer padding
        let f = eth(0x88a8, &inner);
        let p = decode(linktype::ETHERNET, &f).unwrap();
        assert_eq!(tcp_of(p).payload, b"x");
    }

    #[test]
    fn sll2_null_raw_ppp() {
        let ipp = ipv4_tcp(b"abc");
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend(&ipp);
        assert!(decode(linktype::LINUX_SLL2, &sll2).is_ok());
        let mut null = vec![2, 0, 0, 0];
        null.extend(&ipp);
        assert!(decode(linktype::NULL, &null).is_ok());
        assert!(decode(linktype::RAW, &ipp).is_ok());
        let mut ppp = vec![0xff, 0x03, 0x00, 0x21];
        ppp.extend(&ipp);
        assert!(decode(linktype::PPP, &ppp).is_ok());
    }

    #[test]
    fn skips_are_classified() {
        assert_eq!(
            decode(linktype::ETHERNET, &eth(0x0806, &[0; 28])).unwrap_err(),
            Skip::NonIp
        );
        assert_eq!(
            decode(127, &[0; 40]).unwrap_err(),
            Skip::UnsupportedLinkType
        );
        let ipp = ipv4_tcp(b"0123456789");
        assert_eq!(
            decode(linktype::RAW, &ipp[..30]).unwrap_err(),
            Skip::Truncated
        );
        let mut frag = ipp.clone();
        frag[6] = 0x20; // MF
        assert_eq!(decode(linktype::RAW, &frag).unwrap_err(), Skip::IpFragment);
        let mut icmp = ipp.clone();
        icmp[9] = 1;
        assert_eq!(decode(linktype::RAW, &icmp).unwrap_err(), Skip::NotTcpUdp);
        for n in 0..ipp.len() {
            let _ = decode(linktype::ETHERNET, &ipp[..n]);
            let _ = decode(linktype::LINUX_SLL, &ipp[..n]);
        }
    }

    #[test]
    fn vxlan_tunnel_uses_inner_header() {
        let inner_frame = eth(0x0800, &ipv4_tcp(b"in"));
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx.extend(inner_frame);
        let mut udp = vec![0xc0, 0x00, 0x12, 0xb5, 0, 0, 0, 0];
        udp.extend(vx);
        let ulen = udp.len() as u16;
        udp[4..6].copy_from_slice(&ulen.to_be_bytes());
        let mut outer = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2,
        ];
        outer.extend(udp);
        let tl = outer.len() as u16;
        outer[2..4].copy_from_slice(&tl.to_be_bytes());
        let p = decode(linktype::RAW, &outer).unwrap();
        assert!(p.tunnelled);
        assert_eq!(p.src.to_string(), "10.0.0.1");
        assert_eq!(tcp_of(p).payload, b"in");
    }
}
