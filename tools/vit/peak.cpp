// Measures the machine's fp32 peak: every thread runs independent chains of fused multiply-adds
// on full-width vectors, enough of them to hide the FMA latency.
#include "peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

namespace vit::tools {

namespace {

// The widest vector the build targets: GCC lowers 16 lanes to one AVX-512 register, two AVX
// registers or four SSE ones, and a * b + c to a fused multiply-add where the target has one.
typedef float Vec __attribute__((vector_size(64)));
constexpr int kLanes = 16;
inline Vec splat(float x) { return Vec{} + x; }
inline Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }
inline float sum(Vec v) {
    float s = 0.0f;
    for (int i = 0; i < kLanes; i++) {
        s += v[i];
    }
    return s;
}

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
