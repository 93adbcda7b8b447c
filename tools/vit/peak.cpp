// Measures the machine's fp32 and bf16 peaks: every thread runs independent chains of fused
// multiply-adds (or bf16 dot products) on full-width vectors, enough of them to hide the latency
// on CPUs with one or two vector pipes.
#include "peak.h"

#include <immintrin.h>
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
constexpr long kRounds = 4096;

using Clock = std::chrono::steady_clock;

bool past(Clock::time_point start, double seconds) {
    return std::chrono::duration<double>(Clock::now() - start).count() >= seconds;
}

// GFLOP/s of every thread running chains(start, seconds), which returns the flops it did.
template <typename Chains>
double gflops_of(int threads, double seconds, Chains chains) {
    double total_flops = 0.0;
    const auto start = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total_flops)
    total_flops += chains(start, seconds);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    return total_flops / elapsed / 1e9;
}

double fp32_chains(Clock::time_point start, double seconds) {
    Vec acc[kChains];
    for (int i = 0; i < kChains; i++) {
        acc[i] = splat(static_cast<float>(i));
    }
    const Vec a = splat(0.999999f);
    const Vec b = splat(1e-7f);
    long iterations = 0;
    while (!past(start, seconds)) {
        for (long r = 0; r < kRounds; r++) {
            for (int i = 0; i < kChains; i++) {
                acc[i] = fma(acc[i], a, b);
            }
        }
        iterations += kRounds;
    }
    volatile float sink = 0.0f;
    for (int i = 0; i < kChains; i++) {
        sink = sink + sum(acc[i]);
    }
    return 2.0 * kLanes * kChains * static_cast<double>(iterations);
}

// acc += a0 b0 + a1 b1 per fp32 lane: 32 bf16 pairs, 64 flops an instruction.
__attribute__((target("avx512f,avx512bf16"))) double bf16_chains(Clock::time_point start, double seconds) {
    __m512 acc[kChains];
    for (int i = 0; i < kChains; i++) {
        acc[i] = _mm512_set1_ps(static_cast<float>(i));
    }
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
    long iterations = 0;
    while (!past(start, seconds)) {
        for (long r = 0; r < kRounds; r++) {
            for (int i = 0; i < kChains; i++) {
                acc[i] = _mm512_dpbf16_ps(acc[i], a, a);
            }
        }
        iterations += kRounds;
    }
    alignas(64) float lanes[kChains][kLanes];
    for (int i = 0; i < kChains; i++) {
        _mm512_store_ps(lanes[i], acc[i]);
    }
    volatile float sink = lanes[kChains - 1][kLanes - 1];
    (void)sink;
    return 64.0 * kChains * static_cast<double>(iterations);
}

// The best of five short runs: a neighbour on a shared core lowers a run, never raises it.
template <typename Chains>
double best_of_five(int threads, double seconds, Chains chains) {
    double best = 0.0;
    for (int i = 0; i < 5; i++) {
        best = std::max(best, gflops_of(threads, seconds / 5, chains));
    }
    return best;
}

}  // namespace

double measure_fp32_peak_gflops(int threads, double seconds) { return best_of_five(threads, seconds, fp32_chains); }

std::optional<double> measure_bf16_peak_gflops(int threads, double seconds) {
    if (!__builtin_cpu_supports("avx512bf16")) {
        return std::nullopt;
    }
    return best_of_five(threads, seconds, bf16_chains);
}

}  // namespace vit::tools
