//! Copies of a batch into the arena's host memory (the CPU runtime's uploads), by whichever of
//! two ways this machine runs faster. The destination lines sit in the other cores' caches, as
//! the last step's kernels read them there. Non-temporal stores send the data to memory
//! without first fetching each line: 7 us against 22 us for a plain copy of 200 KB on a Zen 3;
//! on an AVX-512 Xeon under KVM the plain copy wins, 20 us against 41 us
//! (`tools/copy_bench.c`). So the first large copies alternate the two and time them, and the
//! rest use the faster.

use std::cell::Cell;
use std::time::Instant;

/// Copies smaller than this are not timed (their times are mostly the clock's).
const TIMED_BYTES: usize = 64 * 1024;

/// Timed copies of each kind before the choice is made.
const TRIALS: u32 = 8;

/// Copies into host memory, choosing between plain and non-temporal stores by timing the
/// first [`TRIALS`] large copies of each.
#[derive(Default)]
pub(crate) struct HostCopier {
    /// Large copies made so far, while the choice is open.
    timed: Cell<u32>,
    /// The best seconds per byte seen for plain and for non-temporal stores.
    best: Cell<[f64; 2]>,
    /// The chosen way, once both have had their trials: `true` for non-temporal stores.
    streaming: Cell<Option<bool>>,
}

impl HostCopier {
    /// Copies `src` into `dst` (of the same length).
    pub fn copy(&self, dst: &mut [u8], src: &[u8]) {
        assert_eq!(dst.len(), src.len(), "internal: copy between slices of different lengths");
        if let Some(streaming) = self.streaming.get() {
            return copy_with(streaming, dst, src);
        }
        if src.len() < TIMED_BYTES {
            return copy_with(false, dst, src);
        }
        let timed = self.timed.get();
        let streaming = timed % 2 == 1;
        let started = Instant::now();
        copy_with(streaming, dst, src);
        let per_byte = started.elapsed().as_secs_f64() / src.len() as f64;
        let mut best = self.best.get();
        if timed < 2 || per_byte < best[streaming as usize] {
            best[streaming as usize] = per_byte;
        }
        self.best.set(best);
        self.timed.set(timed + 1);
        if timed + 1 == 2 * TRIALS {
            self.streaming.set(Some(best[1] < best[0]));
        }
    }

    /// The chosen way, once made: `Some(true)` for non-temporal stores.
    pub fn choice(&self) -> Option<bool> {
        self.streaming.get()
    }
}

/// Copies with non-temporal stores (`streaming`, on x86-64) or plainly.
fn copy_with(streaming: bool, dst: &mut [u8], src: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if streaming {
        return stream_copy(dst, src);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = streaming; // only x86-64 has a streaming copy here
    dst.copy_from_slice(src);
}

/// Copies with SSE2 non-temporal stores, which go to memory without first fetching each line
/// into this core's cache.
#[cfg(target_arch = "x86_64")]
fn stream_copy(dst: &mut [u8], src: &[u8]) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    let head = dst.as_ptr().align_offset(16).min(dst.len());
    let (dst_head, dst_body) = dst.split_at_mut(head);
    let (src_head, src_body) = src.split_at(head);
    dst_head.copy_from_slice(src_head);
    let blocks = dst_body.len() / 16;
    for block in 0..blocks {
        // SAFETY: both blocks lie inside their slices; `dst_body` starts 16-byte aligned, as
        // `_mm_stream_si128` needs, and the load is unaligned. SSE2 is baseline on x86-64.
        unsafe {
            let value = _mm_loadu_si128(src_body.as_ptr().add(16 * block).cast::<__m128i>());
            _mm_stream_si128(dst_body.as_mut_ptr().add(16 * block).cast::<__m128i>(), value);
        }
    }
    // SAFETY: SSE is baseline on x86-64. Orders the streamed stores before whatever this thread
    // does next, such as queueing the kernels that read them.
    unsafe { _mm_sfence() };
    dst_body[16 * blocks..].copy_from_slice(&src_body[16 * blocks..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_exact_before_and_after_the_choice() {
        let copier = HostCopier::default();
        // Odd offsets and lengths exercise the unaligned head and the tail.
        let src: Vec<u8> = (0..TIMED_BYTES + 37).map(|i| (i * 31 % 251) as u8).collect();
        let mut dst = vec![0u8; src.len() + 3];
        for copy in 0..2 * TRIALS + 3 {
            dst.fill(0);
            let start = 1 + (copy % 3) as usize;
            let len = src.len() - start;
            copier.copy(&mut dst[start..start + len], &src[..len]);
            assert_eq!(&dst[start..start + len], &src[..len], "copy {copy}");
            assert!(dst[..start].iter().all(|&b| b == 0), "copy {copy} wrote before its start");
        }
        assert!(copier.choice().is_some(), "no choice after {} timed copies", 2 * TRIALS);
        let mut small = [0u8; 5];
        copier.copy(&mut small, &[1, 2, 3, 4, 5]);
        assert_eq!(small, [1, 2, 3, 4, 5]);
    }
}
