// Branch-free exp, erf and tanh in fp32 that GCC vectorises inside `#pragma omp simd` loops.
// Accuracy (tested against libm in tests/kernels): exp within 2 ulp over [-87, 88];
// erf within 3e-7 absolute and 1e-6 relative; tanh within 3e-7 absolute.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "vit/bf16.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace vit::cpu {

// 16 fp32 lanes (an AVX-512 register, or two AVX / four SSE registers where the CPU has less:
// GCC lowers the vector type to the widest registers the target has); vec16.h has their loads,
// stores and reductions.
typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));

// NaN has no integer (converting it is undefined): it gives 0, and exp_approx(NaN) stays NaN
// through its polynomial.
inline int32_t truncate_to_int(float x) { return x == x ? static_cast<int32_t>(x) : 0; }
inline i32x16 truncate_to_int(f32x16 x) { return __builtin_convertvector(x, i32x16); }

// e^x of a float, or of each lane of an f32x16 (softmax rows written with vectors): x = n ln2 + r
// with |r| <= ln2/2, e^r by its degree-6 Taylor polynomial (truncation error below 1.2e-7
// relative), 2^n assembled in the exponent bits. n is rounded by adding and subtracting
// 1.5 * 2^23 (floorf and branches would stop GCC from vectorising the loop).

// e^r, with r = x - n ln2 for the rounded n: the polynomial part of exp_approx.
template <typename F>
inline F exp_reduced(F x, F n) {
    F r = x - n * 0.693145751953125f;  // ln2 split in a high part exact in fp32 ...
    r = r - n * 1.428606765330187045e-06f;  // ... and the rest
    F p = F{} + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    return p * r + 1.0f;
}

template <typename F>
inline F exp_approx(F x) {
    const F lo = F{} - 87.0f, hi = F{} + 88.0f;
    x = x < lo ? lo : x;
    x = x > hi ? hi : x;
    const F n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    return exp_reduced(x, n) * std::bit_cast<F>((truncate_to_int(n) + 127) << 23);
}

#if defined(__AVX512F__)
// The same for 16 lanes in fewer instructions: n rounded by vrndscaleps and p * 2^n formed by
// vscalefps, which rounds once as the multiplication by the exact power of two does.
inline f32x16 exp_approx(f32x16 x) {
    const f32x16 lo = f32x16{} - 87.0f, hi = f32x16{} + 88.0f;
    x = x < lo ? lo : x;
    x = x > hi ? hi : x;
    // (the maskz forms with all lanes: GCC 12's unmasked ones read an uninitialised register)
    const f32x16 n = (f32x16)_mm512_maskz_roundscale_ps(0xffff, (__m512)(x * 1.44269504088896341f),
                                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return (f32x16)_mm512_maskz_scalef_ps(0xffff, (__m512)exp_reduced(x, n), (__m512)n);
}
#endif

// Abramowitz and Stegun 7.1.26: for z >= 0, erfc(z) = (a1 t + ... + a5 t^5) e^{-z^2} with
// t = 1 / (1 + kErfcP z), absolute error at most 1.5e-7. erfc_polynomial(t) is the sum in t.
inline constexpr float kErfcP = 0.3275911f;
template <typename F>
inline F erfc_polynomial(F t) {
    F poly = F{} + 1.061405429f;
    poly = poly * t - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    return poly * t;
}

// erf: for |x| < 0.5 its Taylor series to x^11 (relative error < 1e-7: no cancellation near 0);
// otherwise 1 - erfc(|x|) from the formula above, with the sign of x. Both are computed and one
// selected, so the loop stays branch-free.
// erf_from_exp takes e^{-x^2} from the caller, who may need it too (the GELU derivative).
inline float erf_from_exp(float x, float exp_neg_x2) {
    float x2 = x * x;
    float series = -1.0f / 1320.0f;
    series = series * x2 + 1.0f / 216.0f;
    series = series * x2 - 1.0f / 42.0f;
    series = series * x2 + 1.0f / 10.0f;
    series = series * x2 - 1.0f / 3.0f;
    series = series * x2 + 1.0f;
    series = series * x * 1.12837916709551257f;  // 2 / sqrt(pi)
    float ax = std::fabs(x);
    float t = 1.0f / (1.0f + kErfcP * ax);
    float y = 1.0f - erfc_polynomial(t) * exp_neg_x2;
    y = x < 0.0f ? -y : y;
    return ax < 0.5f ? series : y;
}

inline float erf_approx(float x) { return erf_from_exp(x, exp_approx(-x * x)); }

// tanh(x) = 1 - 2 / (e^{2x} + 1); saturates correctly at both ends.
inline float tanh_approx(float x) { return 1.0f - 2.0f / (exp_approx(2.0f * x) + 1.0f); }

// An fp32 result stored as T: kernels that write fp32 or bf16 share one body through this.
template <typename T>
inline T to(float x);
template <>
inline float to<float>(float x) { return x; }
template <>
inline bf16 to<bf16>(float x) { return to_bf16(x); }

}  // namespace vit::cpu
