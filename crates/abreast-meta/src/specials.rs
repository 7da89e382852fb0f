//! The structural index the tokenizer walks: where the bytes `<`, `>`, `"`
//! and `'` are. Those are the only bytes that can end text or a tag, so the
//! tokenizer jumps from one to the next instead of reading every byte.
//!
//! The index is built 64 bytes at a time, as a bit mask, when the tokenizer
//! first looks into a block: with AVX2 where the CPU has it (checked once per
//! input) two 32-byte compares per needle, else with SSE2 (part of every
//! x86-64 CPU) four 16-byte ones, elsewhere a plain loop. Finding the next
//! special byte is then a `trailing_zeros`. Searching for one byte with
//! `memchr` costs a call and its set-up per search, which dominates when, as
//! in HTML, the answer is a few bytes away: on a 64 KiB page with 2,000
//! tags, walking this index is about five times faster.

/// The block size, in bytes: one bit of a `u64` each.
const BLOCK: usize = 64;

/// Finds the special bytes of one input, in increasing order of position.
pub(crate) struct Specials<'a> {
    input: &'a [u8],
    /// The start of the block `mask` describes (`usize::MAX`: none yet).
    block: usize,
    /// Bit `i` set when `input[block + i]` is special.
    mask: u64,
    /// The CPU has AVX2: masks are made 32 bytes at a time.
    wide: bool,
}

impl<'a> Specials<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Specials {
            input,
            block: usize::MAX,
            mask: 0,
            wide: has_avx2(),
        }
    }

    /// The position of the first special byte at or after `at`.
    #[inline]
    pub(crate) fn next(&mut self, at: usize) -> Option<usize> {
        let block = at - at % BLOCK;
        if block != self.block {
            if block >= self.input.len() {
                return None;
            }
            self.load(block);
        }
        let mask = self.mask & (u64::MAX << (at - block));
        if mask != 0 {
            return Some(block + mask.trailing_zeros() as usize);
        }
        self.next_from_block(block + BLOCK)
    }

    /// The position of the first special byte in the blocks from `block` on. The whole
    /// blocks without one (text) are skipped in one call, the masks made in a loop that the
    /// compiler keeps in registers, instead of one call per block.
    fn next_from_block(&mut self, block: usize) -> Option<usize> {
        let (block, mask) = first_special_block(self.input, block, self.wide);
        if mask == 0 {
            // No whole block from `block` on has one: the last, partial block may.
            if block >= self.input.len() {
                return None;
            }
            self.load(block);
            return (self.mask != 0).then(|| block + self.mask.trailing_zeros() as usize);
        }
        self.block = block;
        self.mask = mask;
        Some(block + mask.trailing_zeros() as usize)
    }

    /// The position of the first `byte` (one of the special ones) at or
    /// after `at`.
    #[inline]
    pub(crate) fn next_of(&mut self, mut at: usize, byte: u8) -> Option<usize> {
        debug_assert!(is_special(byte));
        loop {
            let found = self.next(at)?;
            if self.input[found] == byte {
                return Some(found);
            }
            at = found + 1;
        }
    }

    fn load(&mut self, block: usize) {
        self.block = block;
        self.mask = match self.input.get(block..block + BLOCK) {
            Some(bytes) => mask_of(bytes.try_into().unwrap_or(&[0; BLOCK]), self.wide),
            None => {
                // The last, partial block, padded with bytes that are not
                // special.
                let mut padded = [0; BLOCK];
                let tail = &self.input[block..];
                padded[..tail.len()].copy_from_slice(tail);
                mask_of(&padded, self.wide)
            }
        };
    }
}

/// The first whole block at or after `block` (a multiple of [`BLOCK`]) that holds a special
/// byte, with its mask; else the start of the last, partial block (or the input's length) and 0.
#[inline]
fn first_special_block(input: &[u8], block: usize, wide: bool) -> (usize, u64) {
    #[cfg(target_arch = "x86_64")]
    if wide {
        // SAFETY: `wide` is only true where `has_avx2` found AVX2.
        return unsafe { first_special_block_avx2(input, block) };
    }
    let mut block = block;
    while let Some(bytes) = input.get(block..block + BLOCK) {
        let mask = mask_of(bytes.try_into().unwrap_or(&[0; BLOCK]), false);
        if mask != 0 {
            return (block, mask);
        }
        block += BLOCK;
    }
    (block, 0)
}

/// [`first_special_block`] with AVX2, every mask made in this one call.
///
/// # Safety
///
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn first_special_block_avx2(input: &[u8], mut block: usize) -> (usize, u64) {
    while let Some(bytes) = input.get(block..block + BLOCK) {
        // SAFETY: the caller guarantees AVX2.
        let mask = unsafe { block_mask_avx2(bytes.try_into().unwrap_or(&[0; BLOCK])) };
        if mask != 0 {
            return (block, mask);
        }
        block += BLOCK;
    }
    (block, 0)
}

/// Whether `byte` is one the index finds.
pub(crate) fn is_special(byte: u8) -> bool {
    matches!(byte, b'<' | b'>' | b'"' | b'\'')
}

/// Whether the CPU has AVX2 (the standard library caches the answer).
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// Whether the CPU has AVX2: never, off x86-64.
#[cfg(not(target_arch = "x86_64"))]
fn has_avx2() -> bool {
    false
}

/// The mask of the special bytes of one block, with AVX2 if `wide` says the
/// CPU has it.
#[cfg(target_arch = "x86_64")]
#[inline]
fn mask_of(block: &[u8; BLOCK], wide: bool) -> u64 {
    if wide {
        // SAFETY: `wide` is only true where `has_avx2` found AVX2.
        unsafe { block_mask_avx2(block) }
    } else {
        block_mask(block)
    }
}

/// The mask of the special bytes of one block.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn mask_of(block: &[u8; BLOCK], _wide: bool) -> u64 {
    block_mask(block)
}

/// The mask of the special bytes of one block, 32 bytes at a time.
///
/// # Safety
///
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn block_mask_avx2(block: &[u8; BLOCK]) -> u64 {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8,
    };

    let mut mask = 0;
    // SAFETY: the caller guarantees AVX2; each load reads the 32 bytes of
    // `lane`, which are in bounds, and has no alignment requirement.
    unsafe {
        let needle = |byte: u8| _mm256_set1_epi8(i8::from_ne_bytes([byte]));
        let [open, close, double, single] = [b'<', b'>', b'"', b'\''].map(needle);
        for (index, lane) in block.chunks_exact(32).enumerate() {
            let bytes = _mm256_loadu_si256(lane.as_ptr().cast::<__m256i>());
            let matches = _mm256_or_si256(
                _mm256_or_si256(
                    _mm256_cmpeq_epi8(bytes, open),
                    _mm256_cmpeq_epi8(bytes, close),
                ),
                _mm256_or_si256(
                    _mm256_cmpeq_epi8(bytes, double),
                    _mm256_cmpeq_epi8(bytes, single),
                ),
            );
            let lane_mask = u64::from(_mm256_movemask_epi8(matches) as u32);
            mask |= lane_mask << (32 * index);
        }
    }
    mask
}

/// The mask of the special bytes of one block.
#[cfg(target_arch = "x86_64")]
fn block_mask(block: &[u8; BLOCK]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    let mut mask = 0;
    // SAFETY: SSE2 is part of the x86-64 baseline, so every x86-64 CPU has
    // these instructions; each load reads the 16 bytes of `lane`, which are
    // in bounds, and has no alignment requirement.
    unsafe {
        let needle = |byte: u8| _mm_set1_epi8(i8::from_ne_bytes([byte]));
        let [open, close, double, single] = [b'<', b'>', b'"', b'\''].map(needle);
        for (index, lane) in block.chunks_exact(16).enumerate() {
            let bytes = _mm_loadu_si128(lane.as_ptr().cast::<__m128i>());
            let matches = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(bytes, open), _mm_cmpeq_epi8(bytes, close)),
                _mm_or_si128(_mm_cmpeq_epi8(bytes, double), _mm_cmpeq_epi8(bytes, single)),
            );
            let lane_mask = u64::from(_mm_movemask_epi8(matches) as u16);
            mask |= lane_mask << (16 * index);
        }
    }
    mask
}

/// The mask of the special bytes of one block.
#[cfg(not(target_arch = "x86_64"))]
fn block_mask(block: &[u8; BLOCK]) -> u64 {
    block.iter().enumerate().fold(0, |mask, (index, &byte)| {
        mask | u64::from(is_special(byte)) << index
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_special_byte_in_order_across_blocks() {
        let mut input = Vec::new();
        for index in 0..300u32 {
            input.push(b"<a>\"b'c"[index as usize % 7]);
            input.extend(std::iter::repeat_n(b'x', (index % 5) as usize));
        }
        let expected: Vec<usize> = (0..input.len())
            .filter(|&at| is_special(input[at]))
            .collect();
        let mut specials = Specials::new(&input);
        let mut found = Vec::new();
        let mut at = 0;
        while let Some(position) = specials.next(at) {
            found.push(position);
            at = position + 1;
        }
        assert_eq!(found, expected);
        // Looking back, and past the end.
        assert_eq!(specials.next(0), Some(expected[0]));
        assert_eq!(specials.next(input.len()), None);
        assert_eq!(specials.next(input.len() + 100), None);
        assert_eq!(
            specials.next_of(0, b'\''),
            input.iter().position(|&byte| byte == b'\'')
        );
    }

    #[test]
    fn runs_of_plain_blocks_are_skipped_to_the_next_special_byte() {
        // Specials after 0 to 5 plain blocks, at every offset of a block, and in the partial
        // last block or not at all.
        for plain_blocks in 0..6 {
            for offset in 0..BLOCK {
                for tail in [0, 1, 17, BLOCK - 1] {
                    let mut input = vec![b'x'; plain_blocks * BLOCK + BLOCK + tail];
                    let special = plain_blocks * BLOCK + offset;
                    input[special] = b'<';
                    let mut specials = Specials::new(&input);
                    assert_eq!(specials.next(0), Some(special));
                    assert_eq!(specials.next(special + 1), None);
                    if tail > 0 {
                        let last = input.len() - 1;
                        input[last] = b'"';
                        let mut specials = Specials::new(&input);
                        assert_eq!(specials.next(special + 1), Some(last));
                    }
                    for wide in [false, has_avx2()] {
                        let found = first_special_block(&input, 0, wide);
                        assert_eq!(found.0, plain_blocks * BLOCK, "{wide}");
                        assert_eq!(found.1, 1 << offset, "{wide}");
                        let past = first_special_block(&input, found.0 + BLOCK, wide);
                        assert_eq!(past, (input.len() - input.len() % BLOCK, 0), "{wide}");
                    }
                }
            }
        }
    }

    #[test]
    fn block_mask_matches_the_definition() {
        let block: [u8; BLOCK] = std::array::from_fn(|index| (index * 37 % 256) as u8);
        let mut every = [0u8; BLOCK];
        for (index, byte) in every.iter_mut().enumerate() {
            *byte = [b'<', b'>', b'"', b'\'', b'a', 0, 0xFF, b'='][index % 8];
        }
        for block in [block, every, [0; BLOCK], [b'<'; BLOCK]] {
            let expected = (0..BLOCK).fold(0u64, |mask, index| {
                mask | u64::from(is_special(block[index])) << index
            });
            assert_eq!(block_mask(&block), expected);
            assert_eq!(mask_of(&block, false), expected);
            if has_avx2() {
                assert_eq!(mask_of(&block, true), expected);
            }
        }
    }

    #[test]
    fn both_widths_find_the_same_bytes_of_every_block() {
        // Every byte value at every position of a block, through both paths.
        for value in 0..=255u8 {
            for position in 0..BLOCK {
                let mut block = [b'a'; BLOCK];
                block[position] = value;
                let expected = u64::from(is_special(value)) << position;
                assert_eq!(mask_of(&block, false), expected, "{value} at {position}");
                if has_avx2() {
                    assert_eq!(mask_of(&block, true), expected, "{value} at {position}");
                }
            }
        }
    }
}
