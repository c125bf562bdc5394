//! The machine's fp32 peak: 12 independent chains of fused multiply-adds per thread (enough to
//! cover the FMA units' latency), 8 lanes wide (AVX2) and, where the CPU has AVX-512, 16 lanes
//! wide, on one thread and then on one thread per CPU. The GFLOP/s the README's kernel figures
//! are compared with.
//!
//! `cargo run --release -p kiln-benches --example fma_peak`

use std::time::Instant;

/// Multiply-adds per chain.
const STEPS: usize = 20_000_000;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,fma")]
fn chains8(seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let (x, y) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    // Distinct starting values, so no two chains can be merged.
    let mut acc: [__m256; 12] = std::array::from_fn(|i| _mm256_set1_ps(seed + i as f32));
    for _ in 0..STEPS {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, x, y);
        }
    }
    let sum = acc.iter().fold(_mm256_setzero_ps(), |s, a| _mm256_add_ps(s, *a));
    _mm256_cvtss_f32(sum)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn chains16(seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let (x, y) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let mut acc: [__m512; 12] = std::array::from_fn(|i| _mm512_set1_ps(seed + i as f32));
    for _ in 0..STEPS {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(*a, x, y);
        }
    }
    let sum = acc.iter().fold(_mm512_setzero_ps(), |s, a| _mm512_add_ps(s, *a));
    _mm512_reduce_add_ps(sum)
}

/// GFLOP/s of `threads` threads running the chains `lanes` wide at once.
#[cfg(target_arch = "x86_64")]
fn gflops(threads: usize, lanes: usize) -> f64 {
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let seed = std::hint::black_box(t as f32);
            // SAFETY: main checked that the CPU has the chains' features.
            s.spawn(move || {
                std::hint::black_box(unsafe {
                    if lanes == 16 {
                        chains16(seed)
                    } else {
                        chains8(seed)
                    }
                })
            });
        }
    });
    (2 * lanes * 12 * STEPS * threads) as f64 / started.elapsed().as_secs_f64() / 1e9
}

#[cfg(target_arch = "x86_64")]
fn main() {
    if !(is_x86_feature_detected!("avx") && is_x86_feature_detected!("fma")) {
        eprintln!("this CPU has no AVX FMA");
        std::process::exit(1);
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let widths: &[usize] = if is_x86_feature_detected!("avx512f") { &[8, 16] } else { &[8] };
    for &lanes in widths {
        for threads in [1, cpus] {
            let best = (0..3).map(|_| gflops(threads, lanes)).fold(0.0, f64::max);
            println!("{lanes} lanes, {threads} thread(s): {best:.1} GFLOP/s (best of 3)");
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("fma_peak measures x86-64 AVX FMA only");
    std::process::exit(1);
}
