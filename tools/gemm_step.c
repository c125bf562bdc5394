// The MNIST MLP's two large products as a train step runs them, written directly in C with
// the tiles kiln emits, to separate what the code generator costs from what the machine costs.
//
// Each step: the main thread copies a batch of 64 images into `x` (as `Arena::upload` does),
// then two threads (OpenMP, pinned) run
//   forward          out[64, 256] = x[64, 784] W[256, 784]^T   NT tiles of 4 by 4, 16 lanes along k
//   weight gradient  W -= lr * dy[64, 256]^T x                 NN tiles of 12 rows by 32 columns
// (kiln's `nt_tile` and `nn_tile` shapes on AVX-512). Each thread's forward tiles cover one half
// of W's rows. The weight gradient's tiles are split either by the same halves of W's rows
// ("rows": each core updates the weights its forward read) or by halves of k ("k columns":
// each core updates half of every weight row). Prints the step and the kernels' time, medians
// of `rounds` (default 7) runs of 2,000 steps, alternating the two splits.
//
//   gcc -O3 -march=native -fopenmp tools/gemm_step.c -o /tmp/gemm_step &&
//   OMP_NUM_THREADS=2 OMP_WAIT_POLICY=active OMP_PROC_BIND=true /tmp/gemm_step
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { M = 64, K = 784, N = 256, STEPS = 2000 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// out[r0..r0+4, c0..c0+4] = x[r0.., :] . w[c0.., :], 16 accumulators of 16 lanes along k.
static void nt_tile(const float *x, const float *w, float *out, int r0, int c0) {
    __m512 acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        __m512 a[4], b[4];
        for (int i = 0; i < 4; i++) a[i] = _mm512_load_ps(x + (r0 + i) * K + k);
        for (int j = 0; j < 4; j++) b[j] = _mm512_load_ps(w + (c0 + j) * K + k);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_ps(a[i], b[j], acc[i][j]);
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) out[(r0 + i) * N + c0 + j] = _mm512_reduce_add_ps(acc[i][j]);
}

// w[j0..j0+12, k0..k0+32] -= lr * sum_i dy[i, j] x[i, k]: 24 accumulators, each broadcast of
// dy feeding two multiply-adds.
static void wgrad_tile(const float *dy, const float *x, float *w, int j0, int k0) {
    __m512 acc[12][2];
    int rows = N - j0 < 12 ? N - j0 : 12;
    int second = k0 + 16 < K;
    for (int t = 0; t < 12; t++) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    for (int i = 0; i < M; i++) {
        __m512 b0 = _mm512_load_ps(x + i * K + k0);
        __m512 b1 = second ? _mm512_load_ps(x + i * K + k0 + 16) : b0;
        for (int t = 0; t < 12; t++) {
            if (t < rows) {
                __m512 a = _mm512_set1_ps(dy[i * N + j0 + t]);
                acc[t][0] = _mm512_fmadd_ps(a, b0, acc[t][0]);
                acc[t][1] = _mm512_fmadd_ps(a, b1, acc[t][1]);
            }
        }
    }
    __m512 lr = _mm512_set1_ps(1e-6f);
    for (int t = 0; t < rows; t++) {
        float *p = w + (j0 + t) * K + k0;
        _mm512_store_ps(p, _mm512_fnmadd_ps(lr, acc[t][0], _mm512_load_ps(p)));
        if (second) _mm512_store_ps(p + 16, _mm512_fnmadd_ps(lr, acc[t][1], _mm512_load_ps(p + 16)));
    }
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Runs STEPS steps; returns ms per step and sets *kernels to the products' ms per step.
static double run(int split_by_rows, const float *batch, float *x, float *w, float *out, const float *dy, double *kernels) {
    double in_kernels = 0, started = now();
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < M * K; i++) x[i] = batch[i];
        double t0 = now();
#pragma omp parallel
        {
            int t = omp_get_thread_num(), threads = omp_get_num_threads();
            for (int c0 = t * N / threads; c0 < (t + 1) * N / threads; c0 += 4)
                for (int r0 = 0; r0 < M; r0 += 4) nt_tile(x, w, out, r0, c0);
#pragma omp barrier
            if (split_by_rows) {
                for (int j0 = t * N / threads; j0 < (t + 1) * N / threads; j0 += 12)
                    for (int k0 = 0; k0 < K; k0 += 32) wgrad_tile(dy, x, w, j0, k0);
            } else {
                int blocks = (K + 31) / 32;
                for (int b = t * blocks / threads; b < (t + 1) * blocks / threads; b++)
                    for (int j0 = 0; j0 < N; j0 += 12) wgrad_tile(dy, x, w, j0, b * 32);
            }
        }
        in_kernels += now() - t0;
    }
    *kernels = in_kernels / STEPS * 1e3;
    return (now() - started) / STEPS * 1e3;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 7;
    if (rounds < 1 || rounds > 100) rounds = 7;
    float *batch = aligned_alloc(64, M * K * 4), *x = aligned_alloc(64, M * K * 4);
    float *w = aligned_alloc(64, N * K * 4), *out = aligned_alloc(64, M * N * 4), *dy = aligned_alloc(64, M * N * 4);
    for (int i = 0; i < M * K; i++) batch[i] = (i % 7) * 0.1f;
    for (int i = 0; i < N * K; i++) w[i] = (i % 5) * 0.01f;
    for (int i = 0; i < M * N; i++) dy[i] = (i % 3) * 0.01f;
    double step[2][100], kernel[2][100];
    for (int r = 0; r < rounds; r++)
        for (int split = 0; split < 2; split++) step[split][r] = run(split, batch, x, w, out, dy, &kernel[split][r]);
    const char *names[2] = {"k columns", "rows"};
    for (int split = 0; split < 2; split++) {
        qsort(step[split], rounds, sizeof(double), compare);
        qsort(kernel[split], rounds, sizeof(double), compare);
        printf("weight gradient split by %-9s: step %.4f ms, products %.4f ms (min %.4f, max %.4f; %d threads, medians of %d)\n", names[split], step[split][rounds / 2],
               kernel[split][rounds / 2], kernel[split][0], kernel[split][rounds - 1], omp_get_max_threads(), rounds);
    }
    free(batch), free(x), free(w), free(out), free(dy);
    return 0;
}
