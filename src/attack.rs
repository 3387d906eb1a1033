//! The attack record: one connection's addresses, times, mode, the bytes received from the
//! attacker with their MD5 and SHA-512 digests, the mirror/proxy side, the downloads the
//! pipeline attaches, and the connection's [`SessionId`]. Replaces `struct s_attack`,
//! `struct s_conn`, `struct s_payload` and `struct s_download` of the C original (attack.h, attack.c), IPv4 and IPv6 alike.
//!
//! Plain data: filling it is the connection handler's job, reading it the pipeline's
//! (`crate::pipeline`); its [`Charge`] keeps the data counted in the daemon's memory budget
//! until the record is dropped. Deliberate differences from the C record
//! (docs/COMPATIBILITY.md, Differences from the C honeytrap):
//! * `local` is the socket's real local address, not the destination of the packet that
//!   started the server; ports are in host order everywhere, the proxy side included.
//! * `mode` is the configured mode at accept time, as the forks' `op_mode` (upstream left
//!   it 0).
//! * Every payload's digests are those of its own bytes (the C `add_download` hashed the
//!   first download's buffer for the second and later ones).

use crate::budget::Charge;
use crate::config::{Mode, Proto};
use crate::text::hex;
use sha2::{Digest, Sha256, Sha512};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes received on one side of a connection, or a downloaded file, with their digests.
#[derive(Clone, Debug)]
pub struct Payload {
    pub data: Vec<u8>,
    /// MD5 of `data`, 32 lowercase hex digits.
    pub md5: String,
    /// SHA-512 of `data`, 128 lowercase hex digits.
    pub sha512: String,
    /// SHA-256 of `data` ([`Payload::sha256`]), computed when first asked for: only the
    /// event stream and the database use it (not in the C record).
    sha256: OnceLock<String>,
}

/// The digests of empty data: every record starts with an empty payload, and a silent
/// client leaves one.
pub const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";
pub const EMPTY_SHA512: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
                                47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl Payload {
    /// Takes `data` and computes its MD5 and SHA-512 (empty data gives the standard digests
    /// of the empty input, as the C original wrote them).
    pub fn new(data: Vec<u8>) -> Payload {
        let (md5, sha512) =
            if data.is_empty() { (EMPTY_MD5.into(), EMPTY_SHA512.into()) } else { (md5_hex(&data), sha512_hex(&data)) };
        Payload { data, md5, sha512, sha256: OnceLock::new() }
    }

    /// SHA-256 of `data` as 64 lowercase hex digits (sample identity in the event stream and
    /// the database), computed once, at the first call.
    pub fn sha256(&self) -> &str {
        self.sha256.get_or_init(|| if self.data.is_empty() { EMPTY_SHA256.into() } else { sha256_hex(&self.data) })
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Equal bytes with equal MD5 and SHA-512 (the SHA-256 follows from the bytes, whether it
/// has been computed yet or not).
impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self.data == other.data && self.md5 == other.md5 && self.sha512 == other.sha512
    }
}

impl Eq for Payload {}

impl Default for Payload {
    fn default() -> Self {
        Payload::new(Vec::new())
    }
}

/// MD5 of `data` as 32 lowercase hex digits.
pub fn md5_hex(data: &[u8]) -> String {
    hex(&md5::Md5::digest(data))
}

/// SHA-512 of `data` as 128 lowercase hex digits.
pub fn sha512_hex(data: &[u8]) -> String {
    hex(&Sha512::digest(data))
}

/// SHA-256 of `data` as 64 lowercase hex digits.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// The mirror or proxy side of a connection (`p_conn`): our outgoing socket's addresses and
/// the bytes that came back from the mirror/proxy peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConn {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub payload: Payload,
}

/// A file fetched on the attacker's behalf (or cut out of the attack string, `raw`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    /// `ftp`, `tftp`, `http`, `raw`, … (the C strings, logged and written by logJSON).
    pub dl_type: String,
    /// Server the file came from (`None` where the C record had `0.0.0.0:0`, e.g. http).
    pub remote: Option<SocketAddr>,
    pub user: Option<String>,
    pub pass: Option<String>,
    /// File name as the attacker gave it: untrusted, sanitise before use in a path.
    pub filename: Option<String>,
    pub uri: Option<String>,
    pub payload: Payload,
    /// What the analysis stage found in the file.
    pub findings: Findings,
}

/// What the analysis stage (magicPE, SpamSum) found in an attack string or a download.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// The file type in file(1)'s words (magicPE).
    pub filetype: Option<String>,
    /// The fuzzy hash, ssdeep's form (SpamSum).
    pub ssdeep: Option<String>,
    /// The best match score (0–100) against `spamsum_sigfile`, for the attack string.
    pub ssdeep_score: Option<u32>,
    /// The attack string's MD5 was in `md5sum_sigfile` already.
    pub md5_known: bool,
    /// clamd's verdict on a download: `clean` or the signature name (ClamAV).
    pub clamav: Option<String>,
    /// Where shellcode most likely starts in the attack string (cpuEmu's GetPC heuristic).
    pub getpc_offset: Option<usize>,
    /// What the attack string names but nothing contacts: the endpoints of JNDI lookups.
    pub indicators: Vec<String>,
    /// The shellcode cspm's signatures recognise in the attack string.
    pub shellcode: Option<Shellcode>,
}

/// Shellcode recognised by a cspm signature.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shellcode {
    /// `namespace::name` of the signature that matched last.
    pub signature: String,
    /// Its namespace: `connectbackshell`, `bindshell`, `connectbackfiletransfer`,
    /// `bindfiletransfer`, `execute`, `url`, `download`, or a decoder (`xor`, …) when only a
    /// decoder matched.
    pub kind: String,
    /// Where a connect-back connects to.
    pub host: Option<std::net::IpAddr>,
    /// The connect-back's or bind shell's port.
    pub port: Option<u16>,
    /// Lowercase hex: the key a file transfer sends, or the XOR key of a decoder result.
    pub key: Option<String>,
    /// What an `url` or `download` signature found.
    pub url: Option<String>,
    /// What an `execute` signature found (printable, `\xNN` for other bytes).
    pub command: Option<String>,
    /// The decoders that ran first, in order: `namespace::name (key 0x…)`.
    pub decoders: Vec<String>,
}

impl Download {
    /// A download of type `dl_type` with contents `data` and no other fields.
    pub fn new(dl_type: &str, data: Vec<u8>) -> Download {
        Download {
            dl_type: dl_type.to_string(),
            remote: None,
            user: None,
            pass: None,
            filename: None,
            uri: None,
            payload: Payload::new(data),
            findings: Findings::default(),
        }
    }
}

/// One attack: a real connection, or a record synthesised by a decoder (`is_virtual`).
#[derive(Debug, PartialEq, Eq)]
pub struct Attack {
    /// When the connection was accepted.
    pub start: SystemTime,
    /// When the connection ended (processing began).
    pub end: SystemTime,
    pub proto: Proto,
    /// The socket's real local address.
    pub local: SocketAddr,
    /// The attacker's address.
    pub remote: SocketAddr,
    /// The configured mode at accept time (the forks' `op_mode`), not updated when a
    /// mirror/proxy connection falls back to normal.
    pub mode: Mode,
    /// Every byte received from the attacker, in order.
    pub payload: Payload,
    /// The mirror/proxy side, when there was one.
    pub proxy: Option<ProxyConn>,
    pub downloads: Vec<Download>,
    /// Download attempts started (FTP, TFTP and HTTP each count one per transfer).
    pub dl_tries: u32,
    /// Synthesised by a plugin (decoded payload and the like) rather than received.
    pub is_virtual: bool,
    /// The id every event of this connection carries (event stream, syslog, hpfeeds).
    pub session: SessionId,
    /// Bytes sent to the attacker (responses, or what the mirror/proxy peer answered).
    pub bytes_out: u64,
    /// What the analysis stage found in the attack string.
    pub findings: Findings,
    /// The share of the daemon's memory budget the record's data holds, given back when
    /// the record is dropped (after the pipeline).
    pub charge: Charge,
}

impl Attack {
    /// A record for a connection accepted at `start`, with no data yet (`end` = `start`).
    pub fn new(proto: Proto, local: SocketAddr, remote: SocketAddr, mode: Mode, start: SystemTime) -> Attack {
        Attack {
            start,
            end: start,
            proto,
            local,
            remote,
            mode,
            payload: Payload::default(),
            proxy: None,
            downloads: Vec::new(),
            dl_tries: 0,
            is_virtual: false,
            session: SessionId::new(),
            bytes_out: 0,
            findings: Findings::default(),
            charge: Charge::none(),
        }
    }

    /// The protocol word of file names and logs: `tcp` / `udp`, and `raw` for virtual
    /// records (the C original's protocol 0; our records always carry a transport, so the
    /// `is_virtual` flag stands for it).
    pub fn proto_label(&self) -> &'static str {
        if self.is_virtual {
            "raw"
        } else {
            self.proto.name()
        }
    }

    /// The connection's log prefix `%5u/%s` for its local port.
    pub fn portstr(&self) -> String {
        portstr(self.local.port(), self.proto)
    }
}

/// The C original's per-server log prefix: `%5u/%s`, e.g. `   21/tcp`, `31337/tcp`.
pub fn portstr(port: u16, proto: Proto) -> String {
    let mut s = String::with_capacity(9);
    let digits = [10, 100, 1000, 10_000].iter().take_while(|&&p| port >= p).count() + 1;
    s.extend(std::iter::repeat_n(' ', 5 - digits));
    crate::text::push_u64(&mut s, port.into());
    s.push('/');
    s.push_str(proto.name());
    s
}

/// The id every event of one connection carries (event stream, syslog, hpfeeds): 12
/// lowercase hex digits, made when the record is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh id, never repeated within the process (see `new_session_id`).
    #[allow(clippy::new_without_default)] // a fresh id is no default value
    pub fn new() -> SessionId {
        SessionId(new_session_id())
    }

    /// An id with the given text (for tests that compare whole lines).
    #[cfg(test)]
    pub(crate) fn from_hex(id: &str) -> SessionId {
        SessionId(id.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new session id: 12 lowercase hex digits. Within one process the ids never repeat (a
/// bijective mix of a counter over 48 bits); the counter starts at a point derived from the
/// start time in nanoseconds and the process id, so ids of different runs and of sensors
/// started together differ with overwhelming probability.
fn new_session_id() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        splitmix64(nanos ^ (u64::from(std::process::id()) << 40) ^ u64::from(std::process::id()))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // 12 hex digits, `{:012x}` of the 48-bit number.
    hex(&permute48(seed.wrapping_add(n)).to_be_bytes()[2..])
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const MASK48: u64 = (1 << 48) - 1;

/// A bijection of the 48-bit numbers: xor-shifts and multiplications by odd constants
/// modulo 2^48 are each invertible.
fn permute48(x: u64) -> u64 {
    let mut x = x & MASK48;
    x ^= x >> 24;
    x = x.wrapping_mul(0x9e37_79b9_7f4b) & MASK48;
    x ^= x >> 21;
    x = x.wrapping_mul(0xbf58_476d_1ce5) & MASK48;
    x ^ (x >> 23)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

    #[test]
    fn empty_payload_has_standard_digests() {
        assert_eq!(
            (md5_hex(b""), sha512_hex(b""), sha256_hex(b"")),
            (EMPTY_MD5.into(), EMPTY_SHA512.into(), EMPTY_SHA256.into())
        );
        let p = Payload::new(Vec::new());
        assert_eq!(p.md5, EMPTY_MD5);
        assert_eq!(p.sha512, EMPTY_SHA512);
        assert_eq!(Payload::default(), p);
        assert!(p.is_empty());
    }

    #[test]
    fn known_digests() {
        // A 19-byte attack the C honeytrap logged, and its md5 as its logJSON wrote it.
        let p = Payload::new(b"GET /x HTTP/1.0\r\n\r\n".to_vec());
        assert_eq!(p.len(), 19);
        assert_eq!(p.md5, "37f544f01251a09527430791d17390e4");
        assert!(p.sha512.starts_with("bf769e52") && p.sha512.ends_with("75bd6c"), "{}", p.sha512);
        // FIPS 180-2 "abc".
        let abc = Payload::new(b"abc".to_vec());
        assert_eq!(abc.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(abc.sha256(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            abc.sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        for p in [&p, &abc] {
            assert_eq!((p.md5.len(), p.sha512.len()), (32, 128));
            assert!(p.sha512.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
    }

    #[test]
    fn sha256_when_asked() {
        let p = Payload::new(b"abc".to_vec());
        let q = p.clone();
        assert_eq!(p.sha256(), sha256_hex(b"abc"));
        assert_eq!(p, q, "computed on one side only");
        assert_ne!(p, Payload::new(b"abd".to_vec()));
        assert_eq!(Payload::default().sha256(), EMPTY_SHA256);
    }

    #[test]
    fn portstr_is_right_aligned() {
        assert_eq!(portstr(21, Proto::Tcp), "   21/tcp");
        assert_eq!(portstr(31337, Proto::Tcp), "31337/tcp");
        assert_eq!(portstr(53, Proto::Udp), "   53/udp");
        assert_eq!(portstr(65535, Proto::Udp), "65535/udp");
        assert_eq!(portstr(0, Proto::Tcp), "    0/tcp");
        for port in (0..=u16::MAX).step_by(7).chain([9, 10, 99, 100, 999, 1000, 9999, 10_000]) {
            assert_eq!(portstr(port, Proto::Udp), format!("{:5}/udp", port));
        }
    }

    #[test]
    fn new_attack_ipv4_and_ipv6() {
        let t = SystemTime::UNIX_EPOCH;
        let local = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 445));
        let remote = SocketAddr::from((Ipv4Addr::new(198, 51, 100, 7), 40000));
        let a = Attack::new(Proto::Tcp, local, remote, Mode::Normal, t);
        assert_eq!((a.start, a.end), (t, t));
        assert_eq!(a.payload.md5, EMPTY_MD5);
        assert_eq!((a.dl_tries, a.is_virtual, a.proxy.is_none()), (0, false, true));
        assert_eq!(a.portstr(), "  445/tcp");
        assert_eq!(a.proto_label(), "tcp");

        let l6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 53, 0, 0));
        let r6 = SocketAddr::V6(SocketAddrV6::new("2001:db8::5".parse().unwrap(), 5353, 0, 0));
        let mut b = Attack::new(Proto::Udp, l6, r6, Mode::Mirror, t);
        assert_eq!(b.portstr(), "   53/udp");
        assert_eq!(b.remote.to_string(), "[2001:db8::5]:5353");
        b.is_virtual = true;
        assert_eq!(b.proto_label(), "raw");
    }

    #[test]
    fn download_new() {
        let d = Download::new("ftp", b"MZ".to_vec());
        assert_eq!(d.dl_type, "ftp");
        assert_eq!(d.payload.md5, md5_hex(b"MZ"));
        assert!(d.filename.is_none() && d.remote.is_none() && d.uri.is_none());
    }

    #[test]
    fn session_ids_unique_and_hex() {
        let mut seen = HashSet::new();
        for _ in 0..20_000 {
            let id = SessionId::new().as_str().to_string();
            assert_eq!(id.len(), 12);
            assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn permute48_is_injective_on_a_range() {
        let mut seen = HashSet::new();
        for x in (MASK48 - 50_000)..=(MASK48 + 50_000) {
            assert!(permute48(x) <= MASK48);
            if x <= MASK48 {
                assert!(seen.insert(permute48(x)));
            }
        }
    }
}
