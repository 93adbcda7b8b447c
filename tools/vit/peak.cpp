// Measures the machine's fp32 peak: every thread runs independent chains of fused multiply-adds
// on full-width vectors, enough of them to hide the FMA latency.
#include "peak.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

namespace vit::tools {

namespace {

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec splat(float x) { return _mm512_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float sum(Vec v) {
    alignas(64) float t[16];
    _mm512_store_ps(t, v);
    float s = 0.0f;
    for (float x : t) {
        s += x;
    }
    return s;
}
#else
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec splat(float x) { return _mm256_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float sum(Vec v) {
    alignas(32) float t[8];
    _mm256_store_ps(t, v);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#endif

constexpr int kChains = 12;

}  // namespace

namespace {
double measure_once(int threads, double seconds) {
    using clock = std::chrono::steady_clock;
    double total_flops = 0.0;
    double elapsed = 0.0;
    volatile float sink = 0.0f;
    auto start = clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total_flops)
    {
        Vec acc[kChains];
        for (int i = 0; i < kChains; i++) {
            acc[i] = splat(static_cast<float>(i));
        }
        const Vec a = splat(0.999999f);
        const Vec b = splat(1e-7f);
        long iterations = 0;
        while (std::chrono::duration<double>(clock::now() - start).count() < seconds) {
            for (int r = 0; r < 4096; r++) {
                for (int i = 0; i < kChains; i++) {
                    acc[i] = fma(acc[i], a, b);
                }
            }
            iterations += 4096;
        }
        float s = 0.0f;
        for (int i = 0; i < kChains; i++) {
            s += sum(acc[i]);
        }
        sink = sink + s;
        total_flops += 2.0 * kLanes * kChains * static_cast<double>(iterations);
    }
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
    return total_flops / elapsed / 1e9;
}
}  // namespace

// The best of five short runs: a neighbour on a shared core lowers a run, never raises it.
double measure_fp32_peak_gflops(int threads, double seconds) {
    double best = 0.0;
    for (int i = 0; i < 5; i++) {
        best = std::max(best, measure_once(threads, seconds / 5));
    }
    return best;
}

}  // namespace vit::tools
