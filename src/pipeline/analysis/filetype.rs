//! Pure: what kind of file some bytes are, named the way file(1) names it (the first word
//! is file(1)'s): PE (MS-DOS stub, PE32/PE32+, EXE/DLL, subsystem, machine), ELF (class,
//! byte order, type, machine), Mach-O, scripts by their `#!` line, and the archives and
//! compressed formats droppers use (gzip, Zip, 7-zip, XZ, bzip2, tar); UPX-packed executables
//! are marked. No libmagic: only the headers are read, with every offset checked. Replaces the
//! C original's htm_magicPE.c, which only told PE files from the rest.

/// The description of `data`, or `None` when it is none of the kinds known here.
pub fn describe(data: &[u8]) -> Option<String> {
    let kind = if data.starts_with(b"\x7fELF") {
        elf(data)?
    } else if data.starts_with(b"MZ") {
        pe(data).unwrap_or_else(|| "MS-DOS executable".to_string())
    } else if let Some(m) = macho(data) {
        m
    } else if data.starts_with(b"#!") {
        script(data)
    } else {
        return archive(data).map(str::to_string);
    };
    Some(if upx(data) { format!("{kind}, UPX compressed") } else { kind })
}

/// Whether the data is an executable (ELF, PE, Mach-O, MS-DOS) rather than a script or an
/// archive: such bytes found inside an attack string are worth keeping as a sample.
pub fn is_executable(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF") && elf(data).is_some()
        || data.starts_with(b"MZ") && pe(data).is_some()
        || macho(data).is_some()
}

fn u16_at(d: &[u8], off: usize, le: bool) -> Option<u16> {
    let b: [u8; 2] = d.get(off..off.checked_add(2)?)?.try_into().ok()?;
    Some(if le { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
}

fn u32_at(d: &[u8], off: usize, le: bool) -> Option<u32> {
    let b: [u8; 4] = d.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
}

/// ELF: `ELF 32-bit LSB executable, ARM, version 1 (SYSV)`.
fn elf(d: &[u8]) -> Option<String> {
    let class = match *d.get(4)? {
        1 => "32-bit",
        2 => "64-bit",
        _ => return None,
    };
    let (order, le) = match *d.get(5)? {
        1 => ("LSB", true),
        2 => ("MSB", false),
        _ => return None,
    };
    let e_type = u16_at(d, 16, le)?;
    let kind = match e_type {
        1 => "relocatable",
        2 => "executable",
        3 if interpreted(d, class == "64-bit", le) => "pie executable",
        3 => "shared object",
        4 => "core file",
        _ => "unknown type",
    };
    let machine = match u16_at(d, 18, le)? {
        2 => "SPARC",
        3 => "Intel 80386",
        4 => "Motorola m68k",
        8 => "MIPS",
        10 => "MIPS",
        18 => "SPARC32PLUS",
        20 => "PowerPC or cisco 4500",
        21 => "64-bit PowerPC or cisco 7500",
        22 => "IBM S/390",
        40 => "ARM",
        42 => "Renesas SH",
        43 => "SPARC V9",
        50 => "IA-64",
        62 => "x86-64",
        183 => "ARM aarch64",
        243 => "UCB RISC-V",
        258 => "LoongArch",
        m => return Some(format!("ELF {class} {order} {kind}, machine {m}, version 1")),
    };
    Some(format!("ELF {class} {order} {kind}, {machine}, version 1"))
}

/// Whether a shared object has a program interpreter (a PT_INTERP header), as a position-
/// independent executable has.
fn interpreted(d: &[u8], wide: bool, le: bool) -> bool {
    let (phoff, phentsize, phnum) = if wide {
        (u32_at(d, 32, le).map(|v| v as usize), u16_at(d, 54, le), u16_at(d, 56, le))
    } else {
        (u32_at(d, 28, le).map(|v| v as usize), u16_at(d, 42, le), u16_at(d, 44, le))
    };
    let (Some(off), Some(size), Some(n)) = (phoff, phentsize, phnum) else { return false };
    (0..usize::from(n).min(64))
        .any(|i| off.checked_add(i * usize::from(size)).and_then(|at| u32_at(d, at, le)) == Some(3))
}

/// PE: `PE32 executable (DLL) (GUI) Intel 80386, for MS Windows`.
fn pe(d: &[u8]) -> Option<String> {
    let at = u32_at(d, 0x3c, true)? as usize;
    if d.get(at..at.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let coff = at + 4;
    let machine = match u16_at(d, coff, true)? {
        0x014c => "Intel 80386",
        0x8664 => "x86-64",
        0x01c0 => "ARM",
        0x01c4 => "ARMv7 Thumb",
        0xaa64 => "Aarch64",
        0x0200 => "Intel Itanium",
        0x0166 => "MIPS R4000",
        m => return Some(format!("PE executable, machine {m:#06x}, for MS Windows")),
    };
    let characteristics = u16_at(d, coff + 18, true)?;
    let optional = coff + 20;
    let format = match u16_at(d, optional, true)? {
        0x10b => "PE32",
        0x20b => "PE32+",
        _ => return None,
    };
    let subsystem = match u16_at(d, optional + 68, true) {
        Some(1) => " (native)",
        Some(2) => " (GUI)",
        Some(3) => " (console)",
        _ => "",
    };
    let dll = if characteristics & 0x2000 != 0 { " (DLL)" } else { "" };
    Some(format!("{format} executable{dll}{subsystem} {machine}, for MS Windows"))
}

/// Mach-O: `Mach-O 64-bit x86_64 executable`, or a universal binary.
fn macho(d: &[u8]) -> Option<String> {
    let magic = u32_at(d, 0, false)?;
    let (bits, le) = match magic {
        0xfeed_face => ("", false),
        0xcefa_edfe => ("", true),
        0xfeed_facf => ("64-bit ", false),
        0xcffa_edfe => ("64-bit ", true),
        // 0xcafebabe is also Java's: a universal binary names few architectures.
        0xcafe_babe if u32_at(d, 4, false).is_some_and(|n| (1..20).contains(&n)) => {
            return Some("Mach-O universal binary".to_string());
        }
        _ => return None,
    };
    let cpu = match u32_at(d, 4, le)? {
        7 => "i386",
        0x0100_0007 => "x86_64",
        12 => "arm",
        0x0100_000c => "arm64",
        18 => "ppc",
        0x0100_0012 => "ppc64",
        _ => "",
    };
    let kind = match u32_at(d, 12, le)? {
        1 => "object",
        2 => "executable",
        6 => "dynamically linked shared library",
        8 => "bundle",
        _ => "file",
    };
    let cpu = if cpu.is_empty() { String::new() } else { format!("{cpu} ") };
    Some(format!("Mach-O {bits}{cpu}{kind}"))
}

/// A script by its `#!` line: `POSIX shell script`, `Python script`, ...
fn script(d: &[u8]) -> String {
    let line = d.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(&line[2..line.len().min(256)]).into_owned();
    let mut words = line.split_whitespace();
    let mut prog = words.next().unwrap_or("").rsplit('/').next().unwrap_or("").to_string();
    if prog == "env" {
        prog = words.find(|w| !w.starts_with('-')).unwrap_or("").to_string();
    }
    let name = prog.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    match name {
        "sh" | "dash" | "ash" | "busybox" => "POSIX shell script".to_string(),
        "bash" => "Bourne-Again shell script".to_string(),
        "zsh" => "Paul Falstad's zsh script".to_string(),
        "python" => "Python script".to_string(),
        "perl" => "Perl script text executable".to_string(),
        "ruby" => "Ruby script".to_string(),
        "php" => "PHP script".to_string(),
        "node" | "nodejs" => "Node.js script".to_string(),
        "" => "a script".to_string(),
        _ => format!("a {prog} script"),
    }
}

/// Archives and compressed data.
fn archive(d: &[u8]) -> Option<&'static str> {
    Some(if d.starts_with(&[0x1f, 0x8b]) {
        "gzip compressed data"
    } else if d.starts_with(b"PK\x03\x04") || d.starts_with(b"PK\x05\x06") {
        "Zip archive data"
    } else if d.starts_with(b"7z\xbc\xaf\x27\x1c") {
        "7-zip archive data"
    } else if d.starts_with(b"\xfd7zXZ\x00") {
        "XZ compressed data"
    } else if d.starts_with(b"BZh") && d.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        "bzip2 compressed data"
    } else if d.get(257..262) == Some(b"ustar") {
        "POSIX tar archive"
    } else if d.starts_with(b"Rar!\x1a\x07") {
        "RAR archive data"
    } else if d.starts_with(b"\xca\xfe\xba\xbe") {
        "compiled Java class data"
    } else {
        return None;
    })
}

/// Whether an executable carries the UPX packer's mark in its first 4 KiB.
fn upx(d: &[u8]) -> bool {
    d[..d.len().min(4096)].windows(4).any(|w| w == b"UPX!")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_hostile_headers_do_not_panic() {
        for d in [&b""[..], b"\x7fELF", b"\x7fELF\x02\x01", b"MZ", b"MZ\x00\x00", b"#!", b"\xcf\xfa\xed\xfe", b"PK"] {
            let _ = describe(d);
        }
        let mut mz = b"MZ".to_vec();
        mz.resize(0x40, 0);
        mz[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(describe(&mz).as_deref(), Some("MS-DOS executable"));
    }

    #[test]
    fn scripts() {
        assert_eq!(describe(b"#!/bin/sh\nwget x").as_deref(), Some("POSIX shell script"));
        assert_eq!(describe(b"#!/usr/bin/env python3\n").as_deref(), Some("Python script"));
        assert_eq!(describe(b"#! /bin/bash -e\n").as_deref(), Some("Bourne-Again shell script"));
        assert_eq!(describe(b"#!/opt/x/tclsh8.6\n").as_deref(), Some("a tclsh8.6 script"));
    }
}
