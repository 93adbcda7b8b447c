// Rows of 16 fp32 values as one vector (f32x16, vector_math.h).
// For rows shorter than a multiple of 16, load_first / store_first move only the first n lanes:
// masked loads and stores on AVX-512, a plain loop elsewhere. Attention's softmax works on rows
// of N = 17 or 50 values, where a scalar remainder loop would cost as much as the vector body.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/vector_math.h"
#include "vit/bf16.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace vit::cpu {

typedef uint32_t u32x16 __attribute__((vector_size(64)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x4 __attribute__((vector_size(16)));

inline f32x16 splat16(float x) { return f32x16{} + x; }

inline f32x16 load16(const float* p) {
    f32x16 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline void store16(float* p, f32x16 v) { std::memcpy(p, &v, sizeof v); }

// Lanes 0..n-1 from p (0 <= n <= 16), the others `fill`; nothing past p[n-1] is read.
inline f32x16 load_first(const float* p, int64_t n, float fill) {
#if defined(__AVX512F__)
    const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1u);
    return (f32x16)_mm512_mask_loadu_ps(_mm512_set1_ps(fill), mask, p);
#else
    f32x16 v = splat16(fill);
    for (int64_t i = 0; i < n; i++) v[i] = p[i];
    return v;
#endif
}

// p[0..n-1] = lanes 0..n-1 (0 <= n <= 16); nothing past p[n-1] is written.
inline void store_first(float* p, f32x16 v, int64_t n) {
#if defined(__AVX512F__)
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), (__m512)v);
#else
    for (int64_t i = 0; i < n; i++) p[i] = v[i];
#endif
}

// Each lane rounded to bf16 as to_bf16 does (nearest, ties to even; NaN stays NaN), in the low
// 16 bits of its 32.
inline u32x16 bf16_bits(f32x16 v) {
    const u32x16 u = std::bit_cast<u32x16>(v);
    const u32x16 rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (u & 0x7fffffffu) > 0x7f800000u ? ((u >> 16) | 0x40u) : rounded;
}

// p[0..n-1] = the first n lanes rounded to bf16.
inline void store_first_bf16(bf16* p, f32x16 v, int64_t n) {
    const u32x16 bits = bf16_bits(v);
#if defined(__AVX512F__)
    _mm512_mask_cvtepi32_storeu_epi16(p, static_cast<__mmask16>((1u << n) - 1u), (__m512i)bits);
#else
    for (int64_t i = 0; i < n; i++) p[i] = bf16{static_cast<uint16_t>(bits[i])};
#endif
}

// The same, except that lanes below 2^-126 in magnitude (fp32 denormals) are stored as zero:
// the CPU's conversion instruction where it has one, one instruction for store_first_bf16's ten.
// For intermediate values whose denormals cannot matter, such as probabilities. (GCC folds
// the conversion of constants without the flush.)
inline void store_first_bf16_ftz(bf16* p, f32x16 v, int64_t n) {
#if defined(__AVX512BF16__)
    _mm256_mask_storeu_epi16(p, static_cast<__mmask16>((1u << n) - 1u), (__m256i)_mm512_cvtneps_pbh((__m512)v));
#else
    store_first_bf16(p, v, n);
#endif
}

// The bits of p[0..n-1] (rounded to bf16 for fp32) in the low halves of lanes 0..n-1, the other
// lanes zero.
inline u32x16 load_first_bits(const bf16* p, int64_t n) {
#if defined(__AVX512BW__)
    const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1u);
    return (u32x16)_mm512_maskz_cvtepu16_epi32(mask, _mm256_maskz_loadu_epi16(mask, p));
#else
    u32x16 v = {};
    for (int64_t i = 0; i < n; i++) v[i] = p[i].bits;
    return v;
#endif
}

inline u32x16 load_first_bits(const float* p, int64_t n) { return bf16_bits(load_first(p, n, 0.0f)); }

// Lanes 0..n-1 = the n words (pairs of bf16 values) at p, the other lanes zero.
inline u32x16 load_first_words(const bf16* p, int64_t n) {
#if defined(__AVX512F__)
    return (u32x16)_mm512_maskz_loadu_epi32(static_cast<__mmask16>((1u << n) - 1u), p);
#else
    u32x16 v = {};
    std::memcpy(&v, p, static_cast<size_t>(n) * 4);
    return v;
#endif
}

inline void store16(uint32_t* p, u32x16 v) { std::memcpy(p, &v, sizeof v); }

// Sums and maxima of the 16 lanes as a tree: halves, quarters, ... (GCC's reduction intrinsics
// trip its own uninitialised-variable warning).
inline float reduce_add(f32x16 v) {
    const f32x8 h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                    __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    const f32x4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
    return (q[0] + q[2]) + (q[1] + q[3]);
}

inline float reduce_max(f32x16 v) {
    const f32x8 lo = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
    const f32x8 hi = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    const f32x8 h = lo > hi ? lo : hi;
    const f32x4 a = __builtin_shufflevector(h, h, 0, 1, 2, 3), b = __builtin_shufflevector(h, h, 4, 5, 6, 7);
    const f32x4 q = a > b ? a : b;
    const float m0 = q[0] > q[2] ? q[0] : q[2], m1 = q[1] > q[3] ? q[1] : q[3];
    return m0 > m1 ? m0 : m1;
}

// Lanes 0..n-1 of v, the others zero.
inline f32x16 first_lanes(f32x16 v, int64_t n) {
    const i32x16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    return lane < static_cast<int32_t>(n) ? v : f32x16{};
}

}  // namespace vit::cpu
