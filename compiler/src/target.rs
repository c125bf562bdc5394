//! The CPU whose vector registers the emitted product tiles are shaped for.

/// Vector registers of the CPU that runs the kernels: an NT product tile keeps as many vector
/// accumulators as fit beside its loads, each as wide as a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// 16 registers of 256 bits (AVX2): NT tiles of 2 rows by 4 columns, 8 lanes; NN tiles of
    /// 6 rows.
    Avx2,
    /// 32 registers of 512 bits (AVX-512): NT tiles of 4 rows by 4 columns, 16 lanes; NN tiles
    /// of 12 rows by one vector of 16 lanes.
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

    /// Rows of an NN tile of `vectors` vectors of `lanes` per row: 6 rows of 16 lanes
    /// keep 12 AVX2 registers of accumulators beside a vector of `b` and a broadcast of `a`
    /// (the MNIST MLP's weight gradient `%59` took 0.195 ms with 4 rows and 0.173 ms with 6 on
    /// a 2-core Zen 3, `benches/kernel_times.py mlp`). With AVX-512, a row of 16 lanes is one
    /// register, so 12 rows keep the same 12 accumulators: enough independent multiply-adds
    /// to cover the latency of two FMA units. Only with one vector: the tile's second 6
    /// accumulators hold either a second vector or rows 6-11 (`kiln_kernels::nn_tile`).
    pub(crate) fn nn_rows(self, lanes: usize, vectors: usize) -> usize {
        match self {
            Target::Avx512 if lanes == 16 && vectors == 1 => 12,
            _ => 6,
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

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn twelve_row_nn_tiles_only_for_one_register_wide_rows() {
        assert_eq!(Target::Avx512.nn_rows(16, 1), 12);
        // Two vectors of 8 lanes need the second accumulators for the second vector.
        assert_eq!(Target::Avx512.nn_rows(8, 2), 6);
        assert_eq!(Target::Avx512.nn_rows(8, 1), 6);
        assert_eq!(Target::Avx2.nn_rows(16, 1), 6);
    }
}
