//! Pure: the GetPC heuristic of the cpuEmu plugin: where in an attack string x86 shellcode
//! most likely starts, found by the instruction sequences position-independent code uses to
//! learn its own address. The C original's htm_cpuEmu.c ran libemu's x86 emulator from
//! such a place; no well-kept x86 emulator crate fits this program, so this version detects
//! and records the offset only and runs nothing.
//!
//! Recognised, each checked within the data:
//! * `call $+5; pop r32` (`E8 00 00 00 00` then `58`–`5F`);
//! * jmp/call/pop: a `call` with a short negative displacement whose target is a `pop r32`
//!   (reported at the `jmp` before it when there is one);
//! * `call $+4` into its own last byte (`E8 FF FF FF FF` then `C0`–`CF`: `inc`/`dec r32`);
//! * the FPU form: an FPU instruction (`D8`–`DF`) followed within 16 bytes by
//!   `fnstenv [esp-0xc]` (`D9 74 24 F4`).

/// Which sequence was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetPc {
    CallPop,
    JmpCallPop,
    CallSelf,
    Fnstenv,
}

impl GetPc {
    pub fn name(self) -> &'static str {
        match self {
            GetPc::CallPop => "call/pop",
            GetPc::JmpCallPop => "jmp/call/pop",
            GetPc::CallSelf => "call into itself",
            GetPc::Fnstenv => "fnstenv",
        }
    }
}

fn is_pop_r32(b: u8) -> bool {
    (0x58..=0x5f).contains(&b)
}

/// The first place in `data` where a GetPC sequence starts, and which one.
pub fn find(data: &[u8]) -> Option<(usize, GetPc)> {
    for i in 0..data.len() {
        match data[i] {
            0xe8 => {
                let Some(rel) = data.get(i + 1..i + 5) else { continue };
                let rel = i32::from_le_bytes([rel[0], rel[1], rel[2], rel[3]]);
                if rel == 0 && data.get(i + 5).copied().is_some_and(is_pop_r32) {
                    return Some((i, GetPc::CallPop));
                }
                if rel == -1 && data.get(i + 5).is_some_and(|b| (0xc0..=0xcf).contains(b)) {
                    return Some((i, GetPc::CallSelf));
                }
                if (-256..=-5).contains(&rel) {
                    let target = (i as i64) + 5 + i64::from(rel);
                    if target >= 0 && data.get(target as usize).copied().is_some_and(is_pop_r32) {
                        let t = target as usize;
                        let start = if t >= 2 && data[t - 2] == 0xeb { t - 2 } else { t };
                        return Some((start, GetPc::JmpCallPop));
                    }
                }
            }
            0xd8..=0xdf => {
                let window = &data[i + 1..data.len().min(i + 18)];
                if window.windows(4).any(|w| w == [0xd9, 0x74, 0x24, 0xf4]) {
                    return Some((i, GetPc::Fnstenv));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequences() {
        let sled = [0x90u8; 40];
        let with = |code: &[u8]| [&sled[..], code, b"\xcc\xcc"].concat();
        assert_eq!(find(&with(b"\xe8\x00\x00\x00\x00\x5d\x83\xc5\x10")), Some((40, GetPc::CallPop)));
        // jmp short +N; (pop esi at the target of the later call); ...; call back.
        let jcp = with(b"\xeb\x05\x5e\x31\xc9\xeb\x05\xe8\xf6\xff\xff\xff");
        assert_eq!(find(&jcp), Some((40, GetPc::JmpCallPop)));
        assert_eq!(find(&with(b"\xe8\xff\xff\xff\xff\xc3\x58")), Some((40, GetPc::CallSelf)));
        assert_eq!(find(&with(b"\xd9\xee\xd9\x74\x24\xf4\x5b")), Some((40, GetPc::Fnstenv)));
        // Text, a call elsewhere and short data are not shellcode.
        assert_eq!(find(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"), None);
        assert_eq!(find(b"\xe8\x10\x00\x00\x00\x90"), None);
        assert_eq!(find(b"\xe8\x00\x00"), None);
        assert_eq!(find(b"\xd9"), None);
        assert_eq!(find(b"\xe8\xfb\xff\xff\xff"), None);
    }
}
