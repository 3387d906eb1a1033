//! Reading back what the daemon wrote: attacker.log, attackers.json and events.json line by
//! line (the JSON through the checking parser of tests/common/json.rs), the attack files by
//! the marker at the start of each payload, and the checks built on them: every line
//! parseable (a torn line told from a glued one), and saved == completed (one attack file
//! with the bytes sent and one line set per completed session).

use crate::client::Outcome;
use crate::env::Scratch;
use honeytrap::pipeline::output::json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A line of attacker.log.
pub struct AttackerLine {
    pub proto: String,
    pub dst_port: u16,
    pub md5: String,
    pub len: u64,
}

/// A record of attackers.json.
pub struct JsonRec {
    pub proto: String,
    pub local_port: u16,
    pub md5: String,
    pub len: u64,
    pub download_tries: i64,
}

/// An event of events.json.
pub struct EventRec {
    pub eventid: String,
    pub session: String,
    pub protocol: String,
    pub dst_port: u16,
    pub md5: Option<String>,
    pub length: Option<u64>,
    pub url: Option<String>,
    /// Why a download failed; the size of one that succeeded.
    pub reason: Option<String>,
    pub size: Option<u64>,
}

/// Lines that did not parse.
#[derive(Default)]
pub struct BadLines {
    /// One record cut short (a single record start, no end): what a kill or a full disk
    /// leaves.
    pub torn: Vec<String>,
    /// More than one record start on one line: the next record was appended to a torn one.
    pub glued: Vec<String>,
    /// Neither.
    pub garbage: Vec<String>,
}

impl BadLines {
    pub fn count(&self) -> usize {
        self.torn.len() + self.glued.len() + self.garbage.len()
    }
}

pub struct Outputs {
    pub attacker: Vec<AttackerLine>,
    pub json: Vec<JsonRec>,
    pub events: Vec<EventRec>,
    /// Lines per file (attacker.log, attackers.json, events.json).
    pub lines: [usize; 3],
    pub bad: [BadLines; 3],
}

pub const FILES: [&str; 3] = ["attacker.log", "attackers.json", "events.json"];

fn short(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(&line[..line.len().min(160)]).into_owned();
    if line.len() > 160 {
        format!("{s}… ({} bytes)", line.len())
    } else {
        s
    }
}

/// Splits `data` into lines; a last line without its newline is returned as well.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    data.split(|b| *b == b'\n').filter(|l| !l.is_empty())
}

fn classify(line: &[u8], start: &[u8], bad: &mut BadLines) {
    let starts = line.windows(start.len()).filter(|w| *w == start).count();
    if starts > 1 {
        bad.glued.push(short(line));
    } else if starts == 1 && line.starts_with(start) {
        bad.torn.push(short(line));
    } else {
        bad.garbage.push(short(line));
    }
}

pub fn read_outputs(s: &Scratch) -> Outputs {
    let mut o =
        Outputs { attacker: Vec::new(), json: Vec::new(), events: Vec::new(), lines: [0; 3], bad: Default::default() };
    let [b0, b1, b2] = &mut o.bad;
    o.lines[0] = read_lines(&s.attacker_log(), b"[", parse_attacker, &mut o.attacker, b0);
    // A line of attacker.log starts with `[`, which may occur once more in no valid line: a
    // second ` GMT] ` marks a glued one.
    let glued: Vec<String> = b0.torn.iter().filter(|l| l.matches(" GMT] ").count() > 1).cloned().collect();
    b0.torn.retain(|l| l.matches(" GMT] ").count() <= 1);
    b0.glued.extend(glued);
    let json = |l: &[u8]| std::str::from_utf8(l).ok().and_then(|t| crate::common::json::parse(t).ok());
    o.lines[1] = read_lines(&s.attackers_json(), b"{ \"is_virtual\"", |l| json_rec(&json(l)?), &mut o.json, b1);
    o.lines[2] = read_lines(&s.events_json(), b"{\"eventid\"", |l| event_rec(&json(l)?), &mut o.events, b2);
    o
}

/// Parses every line of `path` into `out`, sorting the lines that do not parse into `bad`
/// (`start`: how a record begins); returns the number of lines.
fn read_lines<T>(
    path: &Path,
    start: &[u8],
    parse: impl Fn(&[u8]) -> Option<T>,
    out: &mut Vec<T>,
    bad: &mut BadLines,
) -> usize {
    let data = std::fs::read(path).unwrap_or_default();
    let mut n = 0;
    for l in lines(&data) {
        n += 1;
        match parse(l) {
            Some(r) => out.push(r),
            None => classify(l, start, bad),
        }
    }
    n
}

/// `[YYYY-MM-DD HH:MM:SS:usec GMT] proto src:port -> dst:port md5 sha512 (n bytes)`
fn parse_attacker(l: &[u8]) -> Option<AttackerLine> {
    let t = std::str::from_utf8(l).ok()?;
    let rest = t.strip_prefix('[')?;
    let (stamp, rest) = rest.split_once(" GMT] ")?;
    let b = stamp.as_bytes();
    if b.len() < 21 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' || b[19] != b':'
    {
        return None;
    }
    let w: Vec<&str> = rest.split(' ').collect();
    if w.len() != 8 || w[2] != "->" || w[7] != "bytes)" || !matches!(w[0], "tcp" | "udp") {
        return None;
    }
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_hexdigit());
    if !hex(w[4], 32) || !hex(w[5], 128) {
        return None;
    }
    let port = |s: &str| s.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok());
    port(w[1])?;
    Some(AttackerLine {
        proto: w[0].to_string(),
        dst_port: port(w[3])?,
        md5: w[4].to_string(),
        len: w[6].strip_prefix('(')?.parse().ok()?,
    })
}

pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    }
}

fn json_rec(v: &Value) -> Option<JsonRec> {
    let c = get(v, "attack_connection")?;
    let p = get(c, "payload")?;
    Some(JsonRec {
        proto: text(get(c, "protocol"))?,
        local_port: u16::try_from(int(get(c, "local_port"))?).ok()?,
        md5: text(get(p, "md5_hash"))?,
        len: u64::try_from(int(get(p, "length"))?).ok()?,
        download_tries: int(get(v, "download_tries"))?,
    })
}

fn event_rec(v: &Value) -> Option<EventRec> {
    Some(EventRec {
        eventid: text(get(v, "eventid"))?,
        session: text(get(v, "session"))?,
        protocol: text(get(v, "protocol"))?,
        dst_port: u16::try_from(int(get(v, "dst_port"))?).ok()?,
        md5: text(get(v, "md5")),
        length: int(get(v, "length")).and_then(|n| u64::try_from(n).ok()),
        url: text(get(v, "url")),
        reason: text(get(v, "reason")),
        size: int(get(v, "size")).and_then(|n| u64::try_from(n).ok()),
    })
}

/// SaveFile's reservation of attack-file numbers in the attacks directory: hidden, and meant
/// to stay.
const COUNTER_FILE: &str = ".honeytrap-counter";

/// Whether `name` is a temporary name of SaveFile: hidden, ending in `.tmp` (the attack file
/// and sample names written aside before they are linked, and the counter file's).
fn is_temporary(name: &str) -> bool {
    name.len() > ".tmp".len() + 1 && name.starts_with('.') && name.ends_with(".tmp")
}

/// The attack files by payload marker, and leftovers (`.tmp` files, files without marker).
pub struct AttackFiles {
    pub by_marker: HashMap<String, Vec<PathBuf>>,
    pub tmp: Vec<String>,
    pub total: usize,
}

pub fn attack_files(dir: &Path) -> AttackFiles {
    let mut a = AttackFiles { by_marker: HashMap::new(), tmp: Vec::new(), total: 0 };
    let Ok(rd) = std::fs::read_dir(dir) else { return a };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if is_temporary(&name) {
            a.tmp.push(name);
            continue;
        }
        if name == COUNTER_FILE {
            continue;
        }
        a.total += 1;
        let mut head = [0u8; 64];
        let n = std::fs::File::open(e.path()).and_then(|mut f| std::io::Read::read(&mut f, &mut head)).unwrap_or(0);
        let head = &head[..n];
        if head.first() == Some(&b'@') {
            if let Some(end) = head[1..].iter().position(|b| *b == b'@') {
                let m = String::from_utf8_lossy(&head[..end + 2]).into_owned();
                a.by_marker.entry(m).or_default().push(e.path());
            }
        }
    }
    a
}

/// What a session's record must hold.
pub struct Expect<'a> {
    pub out: &'a Outcome,
    pub proto: &'static str,
    /// The daemon may have kept only a prefix (read_limit, the data budget).
    pub may_cut: bool,
}

/// The result of [`check_records`].
#[derive(Default)]
pub struct Records {
    pub expected: usize,
    /// Sessions with their complete line set and attack file.
    pub ok: usize,
    pub no_file: usize,
    pub dup_file: usize,
    pub wrong_bytes: usize,
    pub attacker_log: usize,
    pub attackers_json: usize,
    pub events: usize,
    pub examples: Vec<String>,
}

impl Records {
    pub fn all_ok(&self) -> bool {
        self.ok == self.expected
    }

    pub fn summary(&self) -> String {
        if self.expected == 0 {
            return "no session of this scenario sent data".into();
        }
        let mut v = vec![format!("{}/{} saved", self.ok, self.expected)];
        for (n, what) in [
            (self.no_file, "no attack file"),
            (self.dup_file, "more than one attack file"),
            (self.wrong_bytes, "attack file with other bytes"),
            (self.attacker_log, "attacker.log line missing or repeated"),
            (self.attackers_json, "attackers.json record missing or repeated"),
            (self.events, "events missing or repeated"),
        ] {
            if n > 0 {
                v.push(format!("{n} {what}"));
            }
        }
        v.join(", ")
    }
}

/// For every expected session: exactly one attack file holding the bytes sent (or, with
/// `may_cut`, a non-empty prefix of at most `read_limit` bytes), and exactly one attacker.log
/// line, one attackers.json record and one input event with that file's MD5 and length,
/// the input event's session having one connect and one closed event.
pub fn check_records(exp: &[Expect], files: &AttackFiles, o: &Outputs, read_limit: usize) -> Records {
    let mut r = Records { expected: exp.len(), ..Records::default() };
    let mut by_md5_a: HashMap<&str, Vec<&AttackerLine>> = HashMap::new();
    for a in &o.attacker {
        by_md5_a.entry(&a.md5).or_default().push(a);
    }
    let mut by_md5_j: HashMap<&str, Vec<&JsonRec>> = HashMap::new();
    for j in &o.json {
        by_md5_j.entry(&j.md5).or_default().push(j);
    }
    let mut by_md5_e: HashMap<&str, Vec<&EventRec>> = HashMap::new();
    let mut sessions: HashMap<&str, (usize, usize)> = HashMap::new();
    for e in &o.events {
        match e.eventid.as_str() {
            "honeytrap.session.input" => {
                if let Some(m) = &e.md5 {
                    by_md5_e.entry(m).or_default().push(e);
                }
            }
            "honeytrap.session.connect" => sessions.entry(&e.session).or_default().0 += 1,
            "honeytrap.session.closed" => sessions.entry(&e.session).or_default().1 += 1,
            _ => {}
        }
    }
    for x in exp {
        let note = |r: &mut Records, what: String| {
            if r.examples.len() < 6 {
                r.examples.push(format!("{} (port {}): {what}", x.out.marker, x.out.port));
            }
        };
        let paths = files.by_marker.get(&x.out.marker).map(Vec::as_slice).unwrap_or(&[]);
        let content = match paths {
            [] => {
                r.no_file += 1;
                note(&mut r, "no attack file".into());
                // The sent bytes still key the log lines.
                if x.may_cut {
                    continue;
                }
                x.out.sent.clone()
            }
            [p] => std::fs::read(p).unwrap_or_default(),
            _ => {
                r.dup_file += 1;
                note(&mut r, format!("{} attack files", paths.len()));
                continue;
            }
        };
        let bytes_ok = if x.may_cut {
            !content.is_empty() && content.len() <= read_limit && x.out.sent.starts_with(&content)
        } else {
            content == x.out.sent
        };
        let mut ok = !paths.is_empty();
        if !bytes_ok {
            r.wrong_bytes += 1;
            ok = false;
            note(&mut r, format!("attack file of {} bytes, {} sent", content.len(), x.out.sent.len()));
        }
        let md5 = honeytrap::attack::md5_hex(&content);
        let len = content.len() as u64;
        let a =
            by_md5_a.get(md5.as_str()).map_or(0, |v| v.iter().filter(|a| a.len == len && a.proto == x.proto).count());
        if a != 1 {
            r.attacker_log += 1;
            ok = false;
            note(&mut r, format!("{a} attacker.log lines"));
        }
        let j =
            by_md5_j.get(md5.as_str()).map_or(0, |v| v.iter().filter(|j| j.len == len && j.proto == x.proto).count());
        if j != 1 {
            r.attackers_json += 1;
            ok = false;
            note(&mut r, format!("{j} attackers.json records"));
        }
        let inputs: Vec<&&EventRec> = by_md5_e
            .get(md5.as_str())
            .map(|v| v.iter().filter(|e| e.length == Some(len) && e.protocol == x.proto).collect())
            .unwrap_or_default();
        let ev_ok = inputs.len() == 1 && sessions.get(inputs[0].session.as_str()) == Some(&(1, 1));
        if !ev_ok {
            r.events += 1;
            ok = false;
            let s = inputs.first().and_then(|e| sessions.get(e.session.as_str())).copied().unwrap_or((0, 0));
            note(&mut r, format!("{} input events, connect/closed {}/{}", inputs.len(), s.0, s.1));
        }
        if ok {
            r.ok += 1;
        }
    }
    r
}

/// Records of sessions that sent nothing, to `port`: (attacker.log lines, attackers.json
/// records, connect events, closed events).
pub fn empty_records(o: &Outputs, port: u16) -> (usize, usize, usize, usize) {
    let a = o.attacker.iter().filter(|a| a.dst_port == port && a.len == 0).count();
    let j = o.json.iter().filter(|j| j.local_port == port && j.len == 0).count();
    let c = o.events.iter().filter(|e| e.dst_port == port && e.eventid == "honeytrap.session.connect").count();
    let d = o.events.iter().filter(|e| e.dst_port == port && e.eventid == "honeytrap.session.closed").count();
    (a, j, c, d)
}

/// Records on ports outside `ports` (for scenarios that must leave no records elsewhere).
pub fn records_outside(o: &Outputs, ports: &[u16]) -> usize {
    o.attacker.iter().filter(|a| !ports.contains(&a.dst_port)).count()
        + o.json.iter().filter(|j| !ports.contains(&j.local_port)).count()
}

/// Every line parseable, except at most `tears` torn lines (a record cut short) per file;
/// a glued line never. Returns (ok, evidence).
pub fn lines_verdict(o: &Outputs, tears: usize) -> (bool, String) {
    let mut ok = true;
    let mut parts = Vec::new();
    for (i, b) in o.bad.iter().enumerate() {
        if b.count() == 0 {
            continue;
        }
        if !b.glued.is_empty() || !b.garbage.is_empty() || b.torn.len() > tears {
            ok = false;
        }
        let mut p = format!(
            "{}: {} torn ({tears} allowed), {} glued, {} other of {} lines",
            FILES[i],
            b.torn.len(),
            b.glued.len(),
            b.garbage.len(),
            o.lines[i]
        );
        if let Some(l) = b.glued.first().or(b.garbage.first()).or(b.torn.first()) {
            p.push_str(&format!(", e.g. `{l}`"));
        }
        parts.push(p);
    }
    if parts.is_empty() {
        (true, format!("all {} lines parse", o.lines.iter().sum::<usize>()))
    } else {
        (ok, parts.join("; "))
    }
}
