//! Checked big-endian reads shared by the packet views. Every read returns `None` instead of
//! panicking when the bytes are not there; the views turn that into their own errors or, for
//! fields their constructor already proved present, into a harmless default.

use std::ops::Range;

pub(crate) fn be_u16(b: &[u8], r: Range<usize>) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(r)?.try_into().ok()?))
}

pub(crate) fn be_u32(b: &[u8], r: Range<usize>) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(r)?.try_into().ok()?))
}

pub(crate) fn byte(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

pub(crate) fn array4(b: &[u8], r: Range<usize>) -> Option<[u8; 4]> {
    b.get(r)?.try_into().ok()
}

pub(crate) fn array16(b: &[u8], r: Range<usize>) -> Option<[u8; 16]> {
    b.get(r)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked() {
        let b = [1, 2, 3, 4, 5];
        assert_eq!(be_u16(&b, 0..2), Some(0x0102));
        assert_eq!(be_u16(&b, 4..6), None);
        assert_eq!(be_u16(&b, 0..3), None);
        assert_eq!(be_u32(&b, 1..5), Some(0x0203_0405));
        assert_eq!(be_u32(&b, 2..6), None);
        assert_eq!(byte(&b, 4), Some(5));
        assert_eq!(byte(&b, 5), None);
        assert_eq!(array4(&b, 0..4), Some([1, 2, 3, 4]));
        assert_eq!(array16(&b, 0..16), None);
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 3..1;
        assert_eq!(be_u16(&b, backwards), None);
    }
}
