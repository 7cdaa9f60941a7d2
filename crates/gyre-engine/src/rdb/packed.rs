//! The compact containers Redis writes inside RDB values: LZF-compressed
//! strings, ziplists, listpacks (read, and written for streams) and
//! intsets.
//!
//! Invariants: a container is read only after its own length fields agree
//! with the bytes given; elements come out as stored (integers as decimal
//! text, or as [`Lp`] where the caller needs the distinction).
//!
//! Limits: LZF output is exactly the declared length, which the caller
//! bounds; a listpack written here holds what one stream node holds.

use super::read::{Cur, R};
use super::RdbError;

/// LZF decompression (liblzf's format) into exactly `out_len` bytes.
pub fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len.min(input.len().saturating_mul(256)));
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            if out.len() + n > out_len {
                return None;
            }
            out.extend_from_slice(input.get(i..i + n)?);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(i)?);
                i += 1;
            }
            len += 2;
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            if back > out.len() || out.len() + len > out_len {
                return None;
            }
            let start = out.len() - back;
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

/// Elements of a ziplist (integers as decimal text).
pub(super) fn ziplist_entries(zl: &[u8]) -> R<Vec<Vec<u8>>> {
    let bad = RdbError::BadData("bad ziplist");
    if zl.len() < 11 || u32::from_le_bytes(zl[0..4].try_into().expect("4")) as usize != zl.len() {
        return Err(bad);
    }
    let mut c = Cur { b: &zl[..zl.len() - 1], at: 10 };
    if zl[zl.len() - 1] != 0xff {
        return Err(bad);
    }
    let mut out = Vec::new();
    while c.remaining() > 0 {
        let prev = c.u8()?;
        if prev == 0xfe {
            c.take(4)?;
        }
        let enc = c.u8()?;
        let v = match enc >> 6 {
            0 => c.take(usize::from(enc & 0x3f))?.to_vec(),
            1 => {
                let n = (usize::from(enc & 0x3f) << 8) | usize::from(c.u8()?);
                c.take(n)?.to_vec()
            }
            2 => {
                let n = u32::from_be_bytes(c.take(4)?.try_into().expect("4")) as usize;
                c.take(n)?.to_vec()
            }
            _ => {
                let i: i64 = match enc {
                    0xc0 => i64::from(i16::from_le_bytes(c.take(2)?.try_into().expect("2"))),
                    0xd0 => i64::from(i32::from_le_bytes(c.take(4)?.try_into().expect("4"))),
                    0xe0 => i64::from_le_bytes(c.take(8)?.try_into().expect("8")),
                    0xf0 => {
                        let b = c.take(3)?;
                        i64::from(i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8)
                    }
                    0xfe => i64::from(c.u8()? as i8),
                    0xf1..=0xfd => i64::from(enc & 0x0f) - 1,
                    _ => return Err(bad),
                };
                i.to_string().into_bytes()
            }
        };
        out.push(v);
    }
    Ok(out)
}

/// One listpack element as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lp<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Lp<'_> {
    pub(super) fn text(self) -> Vec<u8> {
        match self {
            Lp::Int(i) => i.to_string().into_bytes(),
            Lp::Str(s) => s.to_vec(),
        }
    }
}

/// The size of a listpack element's back-length (listpack.c's lpEncodeBacklen).
fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Elements of a listpack, as stored.
pub(super) fn listpack_elements(lp: &[u8]) -> R<Vec<Lp<'_>>> {
    let bad = RdbError::BadData("bad listpack");
    if lp.len() < 7 || u32::from_le_bytes(lp[0..4].try_into().expect("4")) as usize != lp.len() {
        return Err(bad);
    }
    let mut c = Cur { b: lp, at: 6 };
    let mut out = Vec::new();
    loop {
        let start = c.at;
        let enc = c.u8()?;
        if enc == 0xff {
            break;
        }
        let v = if enc & 0x80 == 0 {
            Lp::Int(i64::from(enc & 0x7f))
        } else if enc & 0xc0 == 0x80 {
            Lp::Str(c.take(usize::from(enc & 0x3f))?)
        } else if enc & 0xe0 == 0xc0 {
            let raw = (u16::from(enc & 0x1f) << 8) | u16::from(c.u8()?);
            // 13-bit two's complement.
            Lp::Int(if raw >= 1 << 12 { i64::from(raw) - (1 << 13) } else { i64::from(raw) })
        } else if enc & 0xf0 == 0xe0 {
            let n = (usize::from(enc & 0x0f) << 8) | usize::from(c.u8()?);
            Lp::Str(c.take(n)?)
        } else {
            match enc {
                0xf0 => {
                    let n = u32::from_le_bytes(c.take(4)?.try_into().expect("4")) as usize;
                    Lp::Str(c.take(n)?)
                }
                0xf1 => Lp::Int(i64::from(i16::from_le_bytes(c.take(2)?.try_into().expect("2")))),
                0xf2 => {
                    let b = c.take(3)?;
                    Lp::Int(i64::from(i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8))
                }
                0xf3 => Lp::Int(i64::from(i32::from_le_bytes(c.take(4)?.try_into().expect("4")))),
                0xf4 => Lp::Int(i64::from_le_bytes(c.take(8)?.try_into().expect("8"))),
                _ => return Err(bad),
            }
        };
        c.take(backlen_size(c.at - start))?;
        out.push(v);
    }
    if c.remaining() != 0 {
        return Err(bad);
    }
    Ok(out)
}

/// Elements of a listpack (integers as decimal text).
pub(super) fn listpack_entries(lp: &[u8]) -> R<Vec<Vec<u8>>> {
    Ok(listpack_elements(lp)?.into_iter().map(Lp::text).collect())
}

/// Builds a listpack (listpack.c's encodings): integers in the smallest
/// integer encoding, strings as they are.
#[derive(Default)]
pub(super) struct LpWriter {
    pub(super) body: Vec<u8>,
    pub(super) count: usize,
}

impl LpWriter {
    fn backlen(&mut self, l: usize) {
        let l = l as u64;
        let n = backlen_size(l as usize);
        for i in (0..n).rev() {
            let b = ((l >> (7 * i)) & 127) as u8;
            self.body.push(if i == n - 1 { b } else { b | 128 });
        }
    }

    pub(super) fn int(&mut self, v: i64) {
        let start = self.body.len();
        if (0..=127).contains(&v) {
            self.body.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = if v < 0 { (1 << 13) + v } else { v } as u16;
            self.body.extend_from_slice(&[0xc0 | (u >> 8) as u8, u as u8]);
        } else if let Ok(x) = i16::try_from(v) {
            self.body.push(0xf1);
            self.body.extend_from_slice(&x.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.body.push(0xf2);
            self.body.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(x) = i32::try_from(v) {
            self.body.push(0xf3);
            self.body.extend_from_slice(&x.to_le_bytes());
        } else {
            self.body.push(0xf4);
            self.body.extend_from_slice(&v.to_le_bytes());
        }
        self.backlen(self.body.len() - start);
        self.count += 1;
    }

    pub(super) fn str(&mut self, s: &[u8]) {
        let start = self.body.len();
        if s.len() < 64 {
            self.body.push(0x80 | s.len() as u8);
        } else if s.len() < 4096 {
            self.body.extend_from_slice(&[0xe0 | (s.len() >> 8) as u8, s.len() as u8]);
        } else {
            self.body.push(0xf0);
            self.body.extend_from_slice(&(s.len() as u32).to_le_bytes());
        }
        self.body.extend_from_slice(s);
        self.backlen(self.body.len() - start);
        self.count += 1;
    }

    pub(super) fn finish(self) -> Vec<u8> {
        let total = 6 + self.body.len() + 1;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(self.count.min(65535) as u16).to_le_bytes());
        out.extend_from_slice(&self.body);
        out.push(0xff);
        out
    }
}

pub(super) fn intset_entries(is: &[u8]) -> R<Vec<Vec<u8>>> {
    let bad = RdbError::BadData("bad intset");
    if is.len() < 8 {
        return Err(bad);
    }
    let width = u32::from_le_bytes(is[0..4].try_into().expect("4")) as usize;
    let n = u32::from_le_bytes(is[4..8].try_into().expect("4")) as usize;
    if !matches!(width, 2 | 4 | 8) || n.checked_mul(width) != Some(is.len() - 8) {
        return Err(bad);
    }
    Ok(is[8..]
        .chunks_exact(width)
        .map(|c| {
            let i = match width {
                2 => i64::from(i16::from_le_bytes(c.try_into().expect("2"))),
                4 => i64::from(i32::from_le_bytes(c.try_into().expect("4"))),
                _ => i64::from_le_bytes(c.try_into().expect("8")),
            };
            i.to_string().into_bytes()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's own listpack encodings of integers, element sizes at the
    /// back-length boundaries, read back.
    #[test]
    fn listpack_writer_reads_back() {
        let mut w = LpWriter::default();
        let ints =
            [0, 127, 128, -1, -4096, 4095, 4096, -32768, 32767, 8_388_607, -8_388_608, i32::MAX as i64, i64::MIN];
        for i in ints {
            w.int(i);
        }
        let strs: Vec<Vec<u8>> =
            [0usize, 63, 64, 125, 126, 4095, 4096, 16380, 16383, 20000].iter().map(|n| vec![b'q'; *n]).collect();
        for s in &strs {
            w.str(s);
        }
        let lp = w.finish();
        let els = listpack_elements(&lp).unwrap();
        let want: Vec<Lp<'_>> =
            ints.iter().map(|i| Lp::Int(*i)).chain(strs.iter().map(|s| Lp::Str(s.as_slice()))).collect();
        assert_eq!(els, want);
    }
}
