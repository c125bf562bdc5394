// Why the CPU runtime's uploads time plain and non-temporal copies and keep the faster
// (runtime/src/host_copy.rs): which wins depends on the machine.
//
// A train step's kernels read the input batch on every core, so when the next step copies its
// batch into the arena, the destination lines sit in the other core's cache. This times a
// 200,704-byte copy (an MNIST batch of 64) into such lines: thread 1, pinned to core 1, reads
// the destination between copies; thread 0, pinned to core 0, copies from a source in its own
// cache, with memcpy or with SSE2 non-temporal stores (`_mm_stream_si128`).
//
//   gcc -O2 tools/copy_bench.c -o /tmp/copy_bench -lpthread && /tmp/copy_bench
#define _GNU_SOURCE
#include <emmintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BYTES = 200704, ROUNDS = 2000 };
static char *src, *dst;
static atomic_int turn;
static volatile long sink;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void pin(int core) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void touch(const char *bytes) {
    long sum = 0;
    for (size_t i = 0; i < BYTES; i += 64) sum += bytes[i];
    sink = sum;
}

static void *reader(void *unused) {
    (void)unused;
    pin(1);
    for (int round = 0; round < 2 * ROUNDS; round++) {
        while (atomic_load(&turn) != 2 * round + 1) {}
        touch(dst);
        atomic_store(&turn, 2 * round + 2);
    }
    return NULL;
}

static void stream_copy(char *to, const char *from) {
    for (size_t i = 0; i < BYTES; i += 16)
        _mm_stream_si128((__m128i *)(to + i), _mm_loadu_si128((const __m128i *)(from + i)));
    _mm_sfence();
}

int main(void) {
    src = aligned_alloc(64, BYTES);
    dst = aligned_alloc(64, BYTES);
    memset(src, 1, BYTES);
    memset(dst, 2, BYTES);
    pin(0);
    pthread_t thread;
    pthread_create(&thread, NULL, reader, NULL);
    double seconds[2] = {0, 0};
    for (int round = 0; round < 2 * ROUNDS; round++) {
        int streamed = round % 2;
        touch(src);
        double started = now();
        if (streamed) stream_copy(dst, src); else memcpy(dst, src, BYTES);
        seconds[streamed] += now() - started;
        atomic_store(&turn, 2 * round + 1);
        while (atomic_load(&turn) != 2 * round + 2) {}
    }
    pthread_join(thread, NULL);
    printf("memcpy %.1f us, non-temporal stores %.1f us (mean of %d copies each)\n",
           seconds[0] / ROUNDS * 1e6, seconds[1] / ROUNDS * 1e6, ROUNDS);
    return 0;
}
