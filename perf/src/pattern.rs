//! The deterministic data pattern written by preparation and checked by reads.
//!
//! Every 8-byte word at absolute word index `i` of a file with seed `s` holds
//! `splitmix64(s ^ i)`, so any byte range can be generated or checked on its own,
//! in any order, with no state shared between streams.

/// SplitMix64 finaliser: a cheap, well-mixed function of its input.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for a file name (FNV-1a).
pub fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn byte_at(seed: u64, offset: u64) -> u8 {
    splitmix64(seed ^ (offset / 8)).to_le_bytes()[(offset % 8) as usize]
}

/// Fills `buf` with the pattern of file `seed` starting at `offset`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    if offset % 8 == 0 {
        let mut chunks = buf.chunks_exact_mut(8);
        let mut word = offset / 8;
        for c in &mut chunks {
            c.copy_from_slice(&splitmix64(seed ^ word).to_le_bytes());
            word += 1;
        }
        let rest = chunks.into_remainder();
        let base = word * 8;
        for (k, b) in rest.iter_mut().enumerate() {
            *b = byte_at(seed, base + k as u64);
        }
    } else {
        for (k, b) in buf.iter_mut().enumerate() {
            *b = byte_at(seed, offset + k as u64);
        }
    }
}

/// The pattern of file `seed` at `offset`, `len` bytes long.
pub fn make(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill(seed, offset, &mut v);
    v
}

/// Whether `data` is the pattern of file `seed` at `offset`.
pub fn check(seed: u64, offset: u64, data: &[u8]) -> bool {
    if offset % 8 == 0 {
        let mut chunks = data.chunks_exact(8);
        let mut word = offset / 8;
        for c in &mut chunks {
            if c != splitmix64(seed ^ word).to_le_bytes() {
                return false;
            }
            word += 1;
        }
        let base = word * 8;
        chunks
            .remainder()
            .iter()
            .enumerate()
            .all(|(k, b)| *b == byte_at(seed, base + k as u64))
    } else {
        data.iter()
            .enumerate()
            .all(|(k, b)| *b == byte_at(seed, offset + k as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_range_matches_the_whole() {
        let whole = make(7, 0, 1000);
        for (off, len) in [(0usize, 1000usize), (3, 17), (8, 64), (13, 500), (999, 1)] {
            assert_eq!(make(7, off as u64, len), whole[off..off + len].to_vec());
            assert!(check(7, off as u64, &whole[off..off + len]));
        }
    }

    #[test]
    fn a_flipped_byte_or_other_seed_fails() {
        let mut d = make(1, 4096, 4096);
        assert!(check(1, 4096, &d));
        assert!(!check(2, 4096, &d));
        assert!(!check(1, 0, &d));
        d[100] ^= 1;
        assert!(!check(1, 4096, &d));
    }
}
