//! magicPE and SpamSum in the running daemon: an executable sent as an attack string is
//! attached as a `raw` download and saved; the file_download event carries its file type
//! (file(1)'s first word) and its fuzzy hash (the `ssdeep` program's); the signature files
//! get the attack's MD5 and fuzzy hash once, and the same attack again is an exact match; the
//! attack string's findings are a `honeytrap.session.analysis` event.

mod common;

use common::{have, read, root_or_skip, wait_until, Launch, Sensor, TempDir};
use honeytrap::pipeline::output::json::Value;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// An ARM ELF sample.
fn elf_arm() -> Vec<u8> {
    common::elf_sample(false, 40, 0, 6000)
}

fn tool_says(tool: &[&str], data: &[u8], dir: &TempDir) -> String {
    let p = dir.join("sample.bin");
    std::fs::write(&p, data).unwrap();
    let out = Command::new(tool[0]).args(&tool[1..]).arg(&p).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn executables_in_attack_strings_are_typed_hashed_and_kept() {
    if !root_or_skip(&common::this_test(), &["ip", "file", "ssdeep"]) || !have("file") {
        return;
    }
    let sigs = TempDir::new("analysis-sigs");
    let (md5s, sums) = (sigs.join("md5.sigs"), sigs.join("spamsum.sigs"));
    std::fs::write(&md5s, "").unwrap();
    std::fs::write(&sums, "").unwrap();
    let s = Sensor::new(
        "analysis",
        &format!(
            "plugin-magicPE = \"\"\nplugin-SpamSum = {{ md5sum_sigfile = \"{}\" spamsum_sigfile = \"{}\" }}\n\
             plugin-SaveFile = {{ attacks_dir = \"{d}\" downloads_dir = \"{d}\" }}",
            md5s.display(),
            sums.display(),
            d = sigs.path().display()
        ),
    );
    let mut d = s.start(Launch::Foreground, &[]);
    let sample = elf_arm();
    let to: SocketAddr = "127.0.0.1:4444".parse().unwrap();
    assert!(common::attack(&s.ns, to, &sample));
    assert!(wait_until(Duration::from_secs(20), || read(&s.path("events.json"))
        .contains("honeytrap.session.file_download\"")));
    let log = s.log();
    assert!(log.contains("magicPE - Attack string attached as download to attack record."), "{log}");
    assert!(log.contains("SpamSum - Spamsum match score is 0."), "{log}");
    let events = read(&s.path("events.json"));
    let line = events.lines().find(|l| l.contains("honeytrap.session.file_download\"")).unwrap();
    let Value::Object(fields) = common::json::parse(line).unwrap() else { panic!("{line}") };
    let field = |k: &str| match fields.iter().find(|(n, _)| n == k) {
        Some((_, Value::Str(s))) => s.clone(),
        other => panic!("{k}: {other:?} in {line}"),
    };
    let tmp = TempDir::new("analysis-tools");
    let file = tool_says(&["file", "-b"], &sample, &tmp);
    assert_eq!(field("filetype").split([' ', ',']).next(), file.split([' ', ',']).next(), "{line}\nfile: {file}");
    let ssdeep = tool_says(&["ssdeep", "-s", "-b"], &sample, &tmp);
    let want = ssdeep.lines().nth(1).unwrap().split(",\"").next().unwrap();
    assert_eq!(field("ssdeep"), want);
    // The attack string's findings are an event of their own.
    let line = events.lines().find(|l| l.contains("honeytrap.session.analysis\"")).unwrap();
    assert!(line.contains(&format!("\"ssdeep\":\"{want}\",\"ssdeep_score\":0")), "{line}");
    assert!(line.contains(&format!("\"filetype\":\"{}", field("filetype"))) && !line.contains("md5_known"), "{line}");
    // The sample is kept under its MD5, as the C plugin's raw downloads were.
    let md5 = honeytrap::attack::md5_hex(&sample);
    // Every finding is logged too.
    for want in [
        format!("SpamSum - Attack string's fuzzy hash is {want}."),
        format!("SpamSum - Download {md5}'s fuzzy hash is {want}."),
        format!("magicPE - Attack string is {}.", field("filetype")),
        format!("magicPE - Download {md5} is {}.", field("filetype")),
    ] {
        assert!(log.contains(&want), "{want} not in {log}");
    }
    assert!(std::fs::read_dir(sigs.path()).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(&md5)));
    // The same attack again: an exact MD5 match; each signature written once.
    assert!(common::attack(&s.ns, to, &sample));
    assert!(wait_until(Duration::from_secs(20), || s.log().contains("SpamSum - Found an exact MD5 hash match.")));
    let events = s.path("events.json");
    assert!(wait_until(Duration::from_secs(20), || read(&events).contains("\"md5_known\":true")), "{}", read(&events));
    d.stop(Duration::from_secs(20)).unwrap();
    assert_eq!(read(&md5s), format!("{md5}\n"));
    assert_eq!(read(&sums), format!("{want}\n"));
}

#[test]
fn shellcode_start_is_located() {
    if !root_or_skip(&common::this_test(), &["ip"]) {
        return;
    }
    let s = Sensor::new("cpuemu", "plugin-cpuEmu = { execute_shellcode = \"yes\" }");
    let mut d = s.start(Launch::Foreground, &[]);
    let log = s.log();
    assert!(log.contains("cpuEmu - No x86 emulator in this version: shellcode is located (GetPC), not run."), "{log}");
    assert!(log.contains("cpuEmu - Warning - execute_shellcode is not supported and is ignored."), "{log}");
    let mut attack = b"\x00\x00\x00\x85\xffSMBr".to_vec();
    attack.extend([0x90u8; 300]);
    let offset = attack.len();
    attack.extend(b"\xd9\xee\xd9\x74\x24\xf4\x5b\x31\xc9\xb1\x40\x81\x73\x13");
    attack.extend([0x41u8; 200]);
    let to: SocketAddr = "127.0.0.1:445".parse().unwrap();
    assert!(common::attack(&s.ns, to, &attack));
    let want = format!("cpuEmu - Possible shellcode at offset {offset} of the attack string (GetPC: fnstenv).");
    assert!(wait_until(Duration::from_secs(20), || s.log().contains(&want)), "{}", s.log());
    let events = s.path("events.json");
    let want = format!("\"getpc_offset\":{offset}");
    assert!(wait_until(Duration::from_secs(20), || read(&events).contains(&want)), "{}", read(&events));
    // Text is not shellcode.
    assert!(common::attack(&s.ns, to, b"GET / HTTP/1.0\r\n\r\n"));
    assert!(wait_until(Duration::from_secs(20), || read(&s.path("attacker.log")).lines().count() == 2));
    assert_eq!(s.log().matches("cpuEmu - Possible shellcode").count(), 1);
    d.stop(Duration::from_secs(20)).unwrap();
}
