//! The CPU whose vector registers the emitted product tiles are shaped for.

/// Vector registers of the CPU that runs the kernels: an NT product tile keeps as many vector
/// accumulators as fit beside its loads, each as wide as a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// 16 registers of 256 bits (AVX2): NT tiles of 2 rows by 4 columns, 8 lanes; NN tiles of
    /// 6 rows.
    Avx2,
    /// 32 registers of 512 bits (AVX-512): NT tiles of 4 rows by 4 columns, 16 lanes; NN tiles
    /// of 12 rows by two vectors of 16 lanes.
    Avx512,
}

impl Target {
    /// The CPU running the build (kiln compiles in `build.rs`, and the CPU runtime JIT-compiles
    /// the kernels for the same machine), as rustc's `-C target-cpu=native`: AVX-512 where
    /// `avx512f` is detected, else AVX2. The kernels are correct on any CPU; only their speed
    /// depends on this.
    pub fn host() -> Target {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Target::Avx512;
        }
        Target::Avx2
    }

    /// Lanes of an NT tile's vectors along k: one register each.
    pub(crate) fn nt_lanes(self) -> usize {
        match self {
            Target::Avx2 => 8,
            Target::Avx512 => 16,
        }
    }

    /// Vectors (1 or 2) and rows (6 or 12) of an NN tile whose rows are `columns` vectors of
    /// `lanes` wide. On AVX2, 6 rows by 2 vectors of up to 8 lanes keep 12 registers of
    /// accumulators beside a vector of `b` and a broadcast of `a` (the classic AVX2 kernel), and
    /// 6 rows of one 16-lane vector (two registers) the same 12 (the MNIST MLP's weight gradient
    /// `%59` took 0.195 ms with 4 rows and 0.173 ms with 6 on a 2-core Zen 3,
    /// `benches/kernel_times.py mlp`). With AVX-512 a 16-lane vector is one register: 12 rows by
    /// 2 vectors keep 24 accumulators, and each broadcast of `a` feeds two multiply-adds. On the
    /// 2-core AVX-512 Xeon, `%59`'s product alone (256x64 by 64x784) took 0.169-0.214 ms, against
    /// 0.191-0.233 with 6 rows by 2 vectors and 0.232-0.284 with 12 rows by 1, the fastest in each
    /// of 9 rounds (`benches/examples/nn_tiles.rs`). Where a row has an odd number of vectors the last
    /// tile's second vector is left out, so AVX-512 pairs any, AVX2 only an even number.
    pub(crate) fn nn_tile(self, lanes: usize, columns: usize) -> (usize, usize) {
        match self {
            Target::Avx512 if lanes == 16 => (if columns > 1 { 2 } else { 1 }, 12),
            _ => (if (2..=8).contains(&lanes) && columns.is_multiple_of(2) { 2 } else { 1 }, 6),
        }
    }

    /// Rows of an NT tile (by 4 columns): 2 rows keep 8 accumulators, which fit AVX2's 16
    /// registers beside the tile's 6 loads; 4 rows (16 accumulators) spill there. The MNIST
    /// MLP's forward product took 0.376 ms with 4 rows and 0.175 ms with 2 on a 2-core Zen 3
    /// (`benches/kernel_times.py mlp`); with AVX-512's 32 registers 4 rows were faster, 0.126
    /// against 0.140 ms on a Zen 4 (`matmul_tiles` example).
    pub(crate) fn nt_rows(self) -> usize {
        match self {
            Target::Avx2 => 2,
            Target::Avx512 => 4,
        }
    }
}

// The tuning constants of code generation, in one place, with what set each.

/// Kernel indices a launch costs about as much as: a merge into a `kernel::segmented` kernel
/// may add this many per kernel it saves (their vector width is the narrowest of its groups').
/// A launch costs 20-50 us on the CPU runtime (`KILN_PROFILE=20 step_time mlp`), a few thousand
/// scalar indices of an optimizer update.
pub(crate) const LAUNCH_COST_IN_INDICES: usize = 2048;

/// Offsets are multiples of this many f32 (256 bytes): aligned for the widest vector loads of
/// every backend.
pub(crate) const ALIGN: usize = 64;

/// Lanes of the vectors the direct kernels read along the batch.
pub(crate) const DIRECT_CONV_LANES: usize = 8;

/// The fewest rows a pointwise kernel or reduction runs a row at a time (see
/// `kernel::Expr::by_rows`): enough to share among the 16 units of a CPU launch.
pub(crate) const MIN_ROWS: usize = 64;

/// Most elements a `kernel::phased` kernel computes in all: its cube runs them
/// in about the time of a launch (20-40 us on the CPU runtime, `KILN_PROFILE=20 step_time mlp`).
pub(crate) const PHASED_ELEMENTS: usize = 4096;

/// Most scores a pick at labels reads as a one-hot sum (see `lower::summed_picks`), which fuses
/// into the kernels around it, rather than gathering them in a launch of its own: as many as a
/// `kernel::phased` cube runs in the time of a launch. The MNIST MLP's loss ([64, 10]) stays one
/// phased kernel: with a gather it took two more launches and 0.431-0.541 ms a step against
/// 0.484-0.594 (`step_time mlp 2000`, four alternations); the seq2seq benchmark's [1536, 8000]
/// gathers.
pub(crate) const PICK_SUM_MAX_ELEMENTS: usize = PHASED_ELEMENTS;

/// The fewest output rows from which a product `x @ W^T` of a weight reads a transposed copy
/// of `W` (the NN form, see `lower::transposed_products`) even where `k` suits the NT form:
/// the seq2seq benchmark's readout after its decoder loop, [1536, 256] x [256, 8000], took
/// 38-48 ms in the NN form against 55-72 ms in the NT form (`KILN_PROFILE=1 step_time seq2seq
/// 5`, two runs each). A batch of 64 rows (the MLP, LeNet-5) keeps the NT form.
pub(crate) const NN_FORM_MIN_ROWS: usize = 1024;

/// How an NN product template sums k in blocks (`kiln_kernels::product::NnTiling::k_block`):
/// terms per block, and the row and column tiles of each unit's work item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NnBlocking {
    /// Terms of k per block.
    pub k_block: usize,
    /// Row tiles per work item.
    pub panel: usize,
    /// Column tiles per work item.
    pub group: usize,
}

/// The blocking of an NN product of `m` x `k` by `k` x `n` whose tiles are `rows` rows by
/// `vectors` vectors of `lanes` (`column_tiles` across), or `None` for all of k in one pass.
/// Without blocks, each row of tiles reads all of `b`; blocks of [`NN_K_BLOCK`] pay where `b`
/// outgrows a core's L2 ([`L2_BYTES`]). A work item is a panel of up to [`NN_PANEL_TILES`]
/// row tiles by as many column tiles as keep its sums within [`NN_BLOCKED_SUMS_BYTES`] and
/// leave at least [`NN_MIN_ITEMS`] items, evened out. Measured with
/// `KILN_PROFILE=20 step_time lstm64 2` and `... seq2seq 2` (AVX2; docs/performance.md).
pub(crate) fn nn_blocking(
    (m, k, n): (usize, usize, usize),
    (rows, vectors, lanes): (usize, usize, usize),
    column_tiles: usize,
) -> Option<NnBlocking> {
    let b_bytes = k * n * std::mem::size_of::<f32>();
    if k < 2 * NN_K_BLOCK || b_bytes <= L2_BYTES {
        return None;
    }
    let row_tiles = m.div_ceil(rows);
    let panel = row_tiles.min(NN_PANEL_TILES);
    let panels = row_tiles.div_ceil(panel);
    let tile_bytes = rows * vectors * lanes * std::mem::size_of::<f32>();
    let fit = (NN_BLOCKED_SUMS_BYTES / (panel * tile_bytes)).max(1);
    let group = fit.min((column_tiles * panels / NN_MIN_ITEMS).max(1)).min(column_tiles);
    let group = column_tiles.div_ceil(column_tiles.div_ceil(group));
    Some(NnBlocking { k_block: NN_K_BLOCK, panel, group })
}

/// A core's L2 cache on the machines kiln is tuned on (the 2-core AMD EPYC: 512 KiB).
pub(crate) const L2_BYTES: usize = 512 * 1024;

/// Terms of k an NN product sums per pass over a work item where k is long (see
/// [`nn_blocking`]): a block of `b` under a tile column of 16 lanes is 16 KB, half of L1.
pub(crate) const NN_K_BLOCK: usize = 256;

/// Most row tiles in a blocked NN product's work item: 16 tiles of 6 rows read 96 rows of `a`
/// per term, a block of 96 KB in L2.
pub(crate) const NN_PANEL_TILES: usize = 16;

/// Most bytes of sums a blocked NN product's work item keeps between blocks of k.
pub(crate) const NN_BLOCKED_SUMS_BYTES: usize = 64 * 1024;

/// Fewest work items a blocked NN product splits into where its tiles allow: enough for the
/// units of a CPU launch to balance. The LSTM benchmark's input-weight gradient took 2.6-3.1 ms
/// in 32 items of one column and 3.3 ms in 16 of two (`KILN_PROFILE=20 step_time lstm64 2`).
pub(crate) const NN_MIN_ITEMS: usize = 32;

/// Columns of output per NT tile (`kiln_kernels::nt_tile`).
pub(crate) const NT_COLUMNS: usize = 4;

/// The work in a chunk of tiles a balanced kernel's unit claims: about 2 us of one core here
/// (a claim moves the counter's cache line between cores, some 0.1 us).
pub(crate) const CLAIMED_FLOPS: usize = 200_000;

/// Most pointwise ops recomputed in each consumer's kernel rather than stored once.
pub(crate) const MAX_RECOMPUTED_OPS: usize = 3;

#[cfg(test)]
mod tests {
    use super::{nn_blocking, NnBlocking, Target, NN_K_BLOCK};

    #[test]
    fn nn_products_block_k_only_where_b_outgrows_l2() {
        let blocking = |m, k, n, column_tiles| nn_blocking((m, k, n), (6, 1, 16), column_tiles);
        // The LSTM benchmark's input-weight gradient: 8 MiB of `b`, 9 row tiles, 32 columns.
        assert_eq!(blocking(50, 4096, 512, 32), Some(NnBlocking { k_block: NN_K_BLOCK, panel: 9, group: 1 }));
        // The seq2seq readout's weight gradient: 84 panels, two groups of 8 columns.
        assert_eq!(blocking(8000, 1536, 256, 16), Some(NnBlocking { k_block: NN_K_BLOCK, panel: 16, group: 8 }));
        // The LSTM's per-step hidden-state gradient: `b` is 256 KiB.
        assert_eq!(blocking(64, 512, 128, 8), None);
        // k within two blocks.
        assert_eq!(blocking(50, 500, 8192, 512), None);
    }

    #[test]
    fn nn_tiles_pair_one_register_vectors_on_avx512() {
        // The MNIST MLP's weight gradient: 49 vectors of 16 lanes a row, the last tile ragged.
        assert_eq!(Target::Avx512.nn_tile(16, 49), (2, 12));
        assert_eq!(Target::Avx512.nn_tile(16, 1), (1, 12));
        // Two 8-lane vectors take 12 accumulators at 6 rows, as on AVX2.
        assert_eq!(Target::Avx512.nn_tile(8, 4), (2, 6));
        assert_eq!(Target::Avx2.nn_tile(8, 4), (2, 6));
        assert_eq!(Target::Avx2.nn_tile(8, 3), (1, 6));
        assert_eq!(Target::Avx2.nn_tile(16, 4), (1, 6));
        assert_eq!(Target::Avx2.nn_tile(1, 10), (1, 6));
    }
}
