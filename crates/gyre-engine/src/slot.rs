//! Hash slots: every key belongs to one of 16384 slots, computed exactly as Redis
//! Cluster computes them (CRC16/XMODEM of the key, or of the first non-empty
//! `{hash tag}` in it), so cluster-aware clients route without redirects.
//!
//! The CRC is a 256-entry table generated at compile time. A crate would do, but
//! this is twelve lines on the hottest path of every command and must match Redis
//! bit for bit; the tests pin it to Redis's published check values.

/// Number of hash slots, as in Redis Cluster.
pub const SLOT_COUNT: usize = 16384;

/// A hash slot in `0..SLOT_COUNT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotId(pub u16);

impl SlotId {
    /// The slot of `key`, honouring `{hash tags}`.
    #[inline]
    pub fn of(key: &[u8]) -> SlotId {
        SlotId(crc16(hash_tag(key)) & (SLOT_COUNT as u16 - 1))
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The part of the key that is hashed: the bytes between the first `{` and the
/// next `}` when that span is non-empty, else the whole key (Redis's rule).
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = find_byte(key, b'{') else {
        return key;
    };
    match find_byte(&key[open + 1..], b'}') {
        Some(len) if len > 0 => &key[open + 1..open + 1 + len],
        _ => key,
    }
}

/// The first position of `byte`, eight bytes at a time. This runs for every
/// key of every command, on keys mostly shorter than `memchr`'s vector
/// width, where its set-up costs more than the scan (callgrind: about 140
/// instructions per 16-byte key, against 60 byte by byte and about 20 here).
#[inline]
fn find_byte(hay: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(byte);
    let mut words = hay.chunks_exact(8);
    let mut offset = 0;
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().expect("eight bytes")) ^ pattern;
        // A zero byte of `x` is a match. The borrow can only mark bytes above
        // the first real zero, so the lowest mark is exact.
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(offset + (zeros.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words.remainder().iter().position(|&b| b == byte).map(|p| offset + p)
}

const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// `CRC16_SLICES[k][x]`: the CRC contribution of byte `x` followed by `k` zero
/// bytes, so that four bytes fold in with four independent table reads
/// ("slicing-by-4") instead of a dependent chain of four.
const CRC16_SLICES: [[u16; 256]; 4] = {
    let mut t = [[0u16; 256]; 4];
    t[0] = CRC16_TABLE;
    let mut k = 1;
    while k < 4 {
        let mut x = 0;
        while x < 256 {
            let prev = t[k - 1][x];
            t[k][x] = (prev << 8) ^ CRC16_TABLE[(prev >> 8) as usize];
            x += 1;
        }
        k += 1;
    }
    t
};

/// CRC16/XMODEM (polynomial 0x1021, initial value 0), as Redis's `crc16()`.
#[inline]
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    let mut chunks = bytes.chunks_exact(4);
    for c in &mut chunks {
        crc = CRC16_SLICES[3][usize::from((crc >> 8) as u8 ^ c[0])]
            ^ CRC16_SLICES[2][usize::from(crc as u8 ^ c[1])]
            ^ CRC16_SLICES[1][usize::from(c[2])]
            ^ CRC16_SLICES[0][usize::from(c[3])];
    }
    chunks.remainder().iter().fold(crc, |crc, &b| (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_redis_check_value() {
        // Redis's crc16.c documents: crc16("123456789") == 0x31C3.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn find_byte_agrees_with_a_byte_by_byte_scan() {
        // Neighbours of the searched byte, its high-bit twin and zero are the
        // values a word-at-a-time trick could mistake for it.
        let fillers = [b'a', b'{' - 1, b'{' + 1, b'{' | 0x80, 0, 0xff];
        for len in 0..40 {
            for &filler in &fillers {
                for first in (0..len).map(Some).chain([None]) {
                    let mut hay = vec![filler; len];
                    if let Some(i) = first {
                        hay[i] = b'{';
                        // A second match after the first must not win.
                        if i + 3 < len {
                            hay[i + 3] = b'{';
                        }
                    }
                    let expected = hay.iter().position(|&b| b == b'{');
                    assert_eq!(find_byte(&hay, b'{'), expected, "{hay:?}");
                }
            }
        }
    }

    #[test]
    fn slots_match_redis_cluster_keyslot() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(SlotId::of(b"foo").0, 12182);
        assert_eq!(SlotId::of(b"bar").0, 5061);
        assert_eq!(SlotId::of(b"").0, 0);
        assert_eq!(SlotId::of(b"{user1000}.following"), SlotId::of(b"user1000"));
        assert_eq!(SlotId::of(b"{user1000}.followers"), SlotId::of(b"user1000"));
    }

    fn crc16_bytewise(bytes: &[u8]) -> u16 {
        bytes.iter().fold(0u16, |crc, &b| (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)])
    }

    proptest::proptest! {
        #[test]
        fn sliced_crc_equals_bytewise(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            proptest::prop_assert_eq!(crc16(&bytes), crc16_bytewise(&bytes));
        }
    }

    #[test]
    fn hash_tag_rules() {
        assert_eq!(hash_tag(b"foo{bar}zap"), b"bar");
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"{bar"), b"{bar");
        // (gyre-cli's cases, now that it uses this rule.)
        assert_eq!(hash_tag(b"{user}.a"), b"user");
        assert_eq!(hash_tag(b"a{b}{c}"), b"b");
        assert_eq!(hash_tag(b"{}user"), b"{}user");
        assert_eq!(hash_tag(b"a}b{c"), b"a}b{c");
        assert_eq!(hash_tag(b"{{x}}"), b"{x");
    }
}
