//! A small JSON writer for the outputs: logJSON's `attackers.json`,
//! which must look exactly as json-c wrote it for the C honeytrap's plugin-logJSON, and the
//! event stream (compact, standard JSON). Replaces the C original's use of json-c
//! (`json_object_to_json_string_ext(obj, JSON_C_TO_STRING_SPACED)`); no serde.
//!
//! Two serialisations of one [`Value`] tree:
//! * [`Style::Spaced`], json-c's "spaced" style as json-c 0.1x writes it: `{ "k": v, "k2": v2 }`,
//!   the empty object `{ }`, arrays `[ 1, 2 ]` and `[ ]`; in strings `"` `\` and `/` are
//!   escaped with a backslash (`\/`), `\b \f \n \r \t` by name, the other bytes below 0x20
//!   as `\u00xx` with lowercase hex digits; everything else (DEL and non-ASCII included) is
//!   written as it is.
//! * [`Style::Compact`], standard JSON without blanks (`{"k":v}`): the same escapes except
//!   that `/` is written as it is.
//!
//! Attacker bytes that are not valid UTF-8 ([`Value::Bytes`]) still give valid UTF-8 JSON:
//! valid UTF-8 sequences are kept, and every byte that is not part of one is written as
//! `\u00xx` (so a reader gets the character U+00xx, the byte's Latin-1 reading; see
//! [`bytes_as_text`]). json-c copied such bytes raw and produced invalid UTF-8; a NUL in a
//! json-c string ended it, here it is `\u0000`.
//!
//! The program never reads JSON; the strict reader the tests and the fuzz target check the
//! writer's output with is test code (tests/common/json.rs), not part of the library.

use crate::text;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// The checking parser lives with the test helpers; the unit tests read the writer's output
// back with it.
#[cfg(test)]
#[path = "../../../tests/common/json.rs"]
mod check;
#[cfg(test)]
pub(crate) use check::{parse, MAX_DEPTH};

/// A JSON value. Objects keep their keys in insertion order (json-c's order is the order
/// the fields were added, and consumers of `attackers.json` see that order).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// A finite float (written in Rust's shortest round-trip form); NaN and infinities are
    /// written as `null`.
    Float(f64),
    Str(String),
    /// Bytes written as a string; see the module documentation for bytes that are not UTF-8.
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// How to serialise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// json-c's `JSON_C_TO_STRING_SPACED` (with `\/`): `attackers.json`.
    Spaced,
    /// Standard JSON, no blanks, `/` unescaped: the event stream.
    Compact,
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}
impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Int(i64::from(n))
    }
}
impl From<u16> for Value {
    fn from(n: u16) -> Value {
        Value::Int(i64::from(n))
    }
}
impl From<u8> for Value {
    fn from(n: u8) -> Value {
        Value::Int(i64::from(n))
    }
}
impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

/// Builds an object field by field, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Object(Vec<(String, Value)>);

impl Object {
    pub fn new() -> Object {
        Object(Vec::new())
    }

    /// Appends `key: value` (a repeated key is appended again, as json-c would not do; the
    /// outputs never repeat a key).
    pub fn field(mut self, key: impl Into<String>, value: impl Into<Value>) -> Object {
        self.0.push((key.into(), value.into()));
        self
    }

    pub fn push(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.0.push((key.into(), value.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Object> for Value {
    fn from(o: Object) -> Value {
        Value::Object(o.0)
    }
}

impl Value {
    /// The serialisation of `self` in `style`, on one line.
    pub fn to_string(&self, style: Style) -> String {
        // Room for a logJSON line without downloads, grown as needed.
        let mut out = String::with_capacity(1024);
        self.write(&mut out, style);
        out
    }

    /// Appends the serialisation of `self` to `out`.
    pub fn write(&self, out: &mut String, style: Style) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => text::push_i64(out, *n),
            Value::Float(f) if f.is_finite() => {
                let _ = write!(out, "{f}");
            }
            Value::Float(_) => out.push_str("null"),
            Value::Str(s) => escape_into(out, s.as_bytes(), style),
            Value::Bytes(b) => escape_into(out, b, style),
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if style == Style::Spaced {
                        out.push(' ');
                    }
                    v.write(out, style);
                }
                out.push_str(if style == Style::Spaced { " ]" } else { "]" });
            }
            Value::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if style == Style::Spaced {
                        out.push(' ');
                    }
                    escape_into(out, k.as_bytes(), style);
                    out.push_str(if style == Style::Spaced { ": " } else { ":" });
                    v.write(out, style);
                }
                out.push_str(if style == Style::Spaced { " }" } else { "}" });
            }
        }
    }
}

/// What each byte of valid UTF-8 becomes inside a string: 0 itself (every byte from 0x80
/// on, too), `u` the escape `\u00xx`, any other value the character after a backslash
/// (`\n`, `\"`, ...).
const fn escapes(slash: bool) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    if slash {
        t[b'/' as usize] = b'/';
    }
    t
}

static SPACED_ESCAPES: [u8; 256] = escapes(true);
static COMPACT_ESCAPES: [u8; 256] = escapes(false);

fn push_u00(out: &mut String, b: u8) {
    out.push_str("\\u00");
    text::push_hex(out, &[b]);
}

/// Appends `bytes` as a quoted JSON string in `style` (escapes in the module documentation).
pub fn escape_into(out: &mut String, bytes: &[u8], style: Style) {
    let table: &[u8; 256] = match style {
        Style::Spaced => &SPACED_ESCAPES,
        Style::Compact => &COMPACT_ESCAPES,
    };
    out.push('"');
    match std::str::from_utf8(bytes) {
        Ok(text) => escape_text(out, text, table),
        Err(_) => {
            for chunk in bytes.utf8_chunks() {
                escape_text(out, chunk.valid(), table);
                for &b in chunk.invalid() {
                    push_u00(out, b);
                }
            }
        }
    }
    out.push('"');
}

/// Appends `text` escaped by `table`. Runs of bytes that need no escape are copied whole;
/// only ASCII bytes are escaped, so every escape sits on a character boundary.
fn escape_text(out: &mut String, text: &str, table: &[u8; 256]) {
    let bytes = text.as_bytes();
    let mut run = 0;
    while let Some(k) = bytes[run..].iter().position(|&b| table[usize::from(b)] != 0) {
        let i = run + k;
        out.push_str(&text[run..i]);
        match table[usize::from(bytes[i])] {
            b'u' => push_u00(out, bytes[i]),
            e => {
                out.push('\\');
                out.push(char::from(e));
            }
        }
        run = i + 1;
    }
    out.push_str(&text[run..]);
}

/// Writes one object straight into a string, field by field: the text [`Value::write`]
/// gives for the same object, without building the tree (a logJSON line for every attack).
/// Keys are the program's own names, which need no escape (letters, digits, `_`, `@` and
/// `-`, checked in debug builds): they are written as they are.
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    style: Style,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object at the end of `out`; [`ObjectWriter::end`] closes it.
    pub fn begin(out: &'a mut String, style: Style) -> ObjectWriter<'a> {
        out.push('{');
        ObjectWriter { out, style, empty: true }
    }

    /// Writes the separator and `key`, and returns the string for the value.
    fn key(&mut self, key: &str) -> &mut String {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_@-".contains(&b)), "key {key:?}");
        let spaced = self.style == Style::Spaced;
        self.out.push_str(match (self.empty, spaced) {
            (true, true) => " \"",
            (false, true) => ", \"",
            (true, false) => "\"",
            (false, false) => ",\"",
        });
        self.empty = false;
        self.out.push_str(key);
        self.out.push_str(if spaced { "\": " } else { "\":" });
        self.out
    }

    pub fn str(&mut self, key: &str, value: &str) {
        let style = self.style;
        escape_into(self.key(key), value.as_bytes(), style);
    }

    pub fn int(&mut self, key: &str, value: i64) {
        text::push_i64(self.key(key), value);
    }

    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(key).push_str(if value { "true" } else { "false" });
    }

    /// A string of the lowercase hex digits of `bytes` (as [`text::hex`]).
    pub fn hex(&mut self, key: &str, bytes: &[u8]) {
        let out = self.key(key);
        out.push('"');
        text::push_hex(out, bytes);
        out.push('"');
    }

    /// A string of `ip` as [`ip_text`] writes it.
    pub fn ip(&mut self, key: &str, ip: IpAddr) {
        let out = self.key(key);
        out.push('"');
        match unmapped(ip) {
            Ok(v4) => text::push_ipv4(out, v4),
            Err(_) => out.push_str(&ip_text(ip)),
        }
        out.push('"');
    }

    /// An object, written by `fields`.
    pub fn object(&mut self, key: &str, fields: impl FnOnce(&mut ObjectWriter)) {
        let style = self.style;
        let mut inner = ObjectWriter::begin(self.key(key), style);
        fields(&mut inner);
        inner.end();
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push_str(if self.style == Style::Spaced { " }" } else { "}" });
    }
}

/// What a JSON reader gets back for bytes written as [`Value::Bytes`]: valid UTF-8 sequences
/// as they are, every other byte as the character of the same number (U+0000–U+00FF).
pub fn bytes_as_text(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        s.extend(chunk.invalid().iter().map(|&b| char::from(b)));
    }
    s
}

/// An address as the outputs write it: IPv4 dotted quad, IPv6 as glibc's `inet_ntop` writes
/// it (RFC 5952 lowercase, longest zero run compressed, a single zero group not compressed,
/// `::a.b.c.d` for the deprecated IPv4-compatible form). An IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`, a v4 peer on a dual-stack socket) is written as the IPv4 address it
/// stands for, so one attacker has one spelling.
pub fn ip_text(ip: IpAddr) -> String {
    let v6 = match unmapped(ip) {
        Ok(v4) => {
            let mut s = String::with_capacity(15);
            text::push_ipv4(&mut s, v4);
            return s;
        }
        Err(v6) => v6,
    };
    let seg = v6.segments();
    // glibc prints the last 32 bits dotted when the zero run is exactly the first six
    // groups (IPv4-compatible); `::` and `::1` have longer runs.
    if seg[..6].iter().all(|&s| s == 0) && seg[6] != 0 {
        let o = v6.octets();
        return format!("::{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
    }
    v6.to_string()
}

/// `ip` as an IPv4 address where it is one or stands for one (IPv4-mapped IPv6), else as
/// the IPv6 address it is.
pub fn unmapped(ip: IpAddr) -> Result<Ipv4Addr, Ipv6Addr> {
    match ip {
        IpAddr::V4(v4) => Ok(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().ok_or(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spaced(b: &[u8]) -> String {
        let mut s = String::new();
        escape_into(&mut s, b, Style::Spaced);
        s
    }
    fn compact(b: &[u8]) -> String {
        let mut s = String::new();
        escape_into(&mut s, b, Style::Compact);
        s
    }

    #[test]
    fn escaping_table() {
        // (input, json-c spaced, compact)
        let table: &[(&[u8], &str, &str)] = &[
            (b"", r#""""#, r#""""#),
            (b"abc", r#""abc""#, r#""abc""#),
            (b"a\"b", r#""a\"b""#, r#""a\"b""#),
            (b"a\\b", r#""a\\b""#, r#""a\\b""#),
            (b"http://x/y", r#""http:\/\/x\/y""#, r#""http://x/y""#),
            (b"\x08\x0c\n\r\t", r#""\b\f\n\r\t""#, r#""\b\f\n\r\t""#),
            (b"\x00", r#""\u0000""#, r#""\u0000""#),
            (b"\x01\x1b\x1f", r#""\u0001\u001b\u001f""#, r#""\u0001\u001b\u001f""#),
            (b" ~\x7f", "\" ~\x7f\"", "\" ~\x7f\""),
            ("ü€😀".as_bytes(), "\"ü€😀\"", "\"ü€😀\""),
            (b"\xff", r#""\u00ff""#, r#""\u00ff""#),
            (b"a\xc3", r#""a\u00c3""#, r#""a\u00c3""#),
            (b"\xc3\xbc\x80z", "\"ü\\u0080z\"", "\"ü\\u0080z\""),
            (b"\xed\xa0\x80", r#""\u00ed\u00a0\u0080""#, r#""\u00ed\u00a0\u0080""#),
        ];
        for (input, sp, co) in table {
            assert_eq!(&spaced(input), sp, "spaced {input:?}");
            assert_eq!(&compact(input), co, "compact {input:?}");
        }
    }

    #[test]
    fn json_c_spaced_layout() {
        let v: Value = Object::new()
            .field("a", 1u32)
            .field("b", Object::new())
            .field("c", Value::Array(vec![Value::Int(1), Value::Int(-2)]))
            .field("d", Value::Array(vec![]))
            .field("e", Object::new().field("x", true).field("y", Value::Null))
            .field("f", "s/t")
            .into();
        assert_eq!(
            v.to_string(Style::Spaced),
            r#"{ "a": 1, "b": { }, "c": [ 1, -2 ], "d": [ ], "e": { "x": true, "y": null }, "f": "s\/t" }"#
        );
        assert_eq!(
            v.to_string(Style::Compact),
            r#"{"a":1,"b":{},"c":[1,-2],"d":[],"e":{"x":true,"y":null},"f":"s/t"}"#
        );
        assert_eq!(Value::from(Object::new()).to_string(Style::Spaced), "{ }");
    }

    #[test]
    fn numbers() {
        assert_eq!(Value::Float(1.5).to_string(Style::Compact), "1.5");
        assert_eq!(Value::Float(3.0).to_string(Style::Compact), "3");
        assert_eq!(Value::Float(f64::NAN).to_string(Style::Compact), "null");
        assert_eq!(Value::from(u64::MAX).to_string(Style::Compact), i64::MAX.to_string());
        assert_eq!(Value::Int(i64::MIN).to_string(Style::Compact), i64::MIN.to_string());
    }

    #[test]
    fn round_trip_through_parser() {
        let samples: &[&[u8]] = &[
            b"",
            b"plain",
            b"\x00\x01\x1f\"\\/\x7f",
            b"\xff\xfe\xc3\xbc",
            "😀 \u{2028}".as_bytes(),
            b"GET / HTTP/1.0\r\n\r\n",
        ];
        for s in samples {
            for style in [Style::Spaced, Style::Compact] {
                let v: Value = Object::new()
                    .field("k/\"", Value::Bytes(s.to_vec()))
                    .field("n", 42u16)
                    .field("f", 0.25)
                    .field("a", Value::Array(vec![Value::Bool(false), Value::Null]))
                    .into();
                let text = v.to_string(style);
                assert!(!text.contains('\n'));
                let back = parse(&text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
                let want: Value = Object::new()
                    .field("k/\"", bytes_as_text(s))
                    .field("n", 42u16)
                    .field("f", 0.25)
                    .field("a", Value::Array(vec![Value::Bool(false), Value::Null]))
                    .into();
                assert_eq!(back, want, "{text}");
            }
        }
    }

    /// The fuzz target's properties on deterministic pseudo-random inputs (biased towards
    /// the bytes that need care), so they are checked on every `cargo test`.
    #[test]
    fn writer_properties_on_pseudo_random_bytes() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const SPECIAL: &[u8] = b"\"\\/\x00\x1f\x7f\x80\xbf\xc3\xe2\xed\xf0\xf4\xff\n\r\t\x08\x0c";
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 3 == 0 {
                        SPECIAL[(r >> 8) as usize % SPECIAL.len()]
                    } else {
                        (r >> 16) as u8
                    }
                })
                .collect();
            let want = Value::Array(vec![Value::Str(bytes_as_text(&data))]);
            for style in [Style::Spaced, Style::Compact] {
                let s = Value::Array(vec![Value::Bytes(data.clone())]).to_string(style);
                assert!(!s.bytes().any(|b| b < 0x20), "{s:?}");
                assert_eq!(parse(&s).as_ref(), Ok(&want), "{data:?} {s}");
            }
            if let Ok(t) = std::str::from_utf8(&data) {
                let _ = parse(t);
            }
        }
    }

    #[test]
    fn parser_rejects() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1,]",
            "01",
            "1.",
            "-",
            "\"\\x\"",
            "\"a",
            "\"\u{1}\"",
            "nul",
            "1 2",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "{a:1}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).is_err());
        let ok = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        assert!(parse(&ok).is_ok());
        assert_eq!(parse(" \"\\ud83d\\ude00\" ").unwrap(), Value::Str("😀".into()));
        assert_eq!(parse("-1.5e2").unwrap(), Value::Float(-150.0));
        assert_eq!(parse("123").unwrap(), Value::Int(123));
        assert_eq!(parse("99999999999999999999").unwrap(), Value::Float(1e20));
    }

    #[test]
    fn ip_text_like_inet_ntop() {
        let table: &[(IpAddr, &str)] = &[
            (Ipv4Addr::new(10, 0, 0, 1).into(), "10.0.0.1"),
            (Ipv6Addr::LOCALHOST.into(), "::1"),
            (Ipv6Addr::UNSPECIFIED.into(), "::"),
            ("2001:db8::5".parse().unwrap(), "2001:db8::5"),
            ("2001:db8:0:1:1:1:1:1".parse().unwrap(), "2001:db8:0:1:1:1:1:1"),
            ("2001:0:0:1::1".parse().unwrap(), "2001:0:0:1::1"),
            ("FD77::2".parse().unwrap(), "fd77::2"),
            ("::ffff:192.0.2.1".parse().unwrap(), "192.0.2.1"),
            ("::192.0.2.1".parse().unwrap(), "::192.0.2.1"),
            ("::5".parse().unwrap(), "::5"),
        ];
        for (ip, want) in table {
            assert_eq!(ip_text(*ip), *want, "{ip:?}");
        }
    }
}
