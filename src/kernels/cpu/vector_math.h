// Branch-free exp, erf and tanh in fp32 that GCC vectorises inside `#pragma omp simd` loops.
// Accuracy (tested against libm in tests/kernels): exp within 2 ulp over [-87, 88];
// erf within 3e-7 absolute and 1e-6 relative; tanh within 3e-7 absolute.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "vit/bf16.h"

namespace vit::cpu {

// e^x: x = n ln2 + r with |r| <= ln2/2, e^r by its degree-6 Taylor polynomial (truncation error
// below 1.2e-7 relative), 2^n assembled in the exponent bits. n is rounded by adding and
// subtracting 1.5 * 2^23 (floorf and branches would stop GCC from vectorising the loop).
inline float exp_approx(float x) {
    x = std::min(std::max(x, -87.0f), 88.0f);
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f;  // ln2 split in a high part exact in fp32 ...
    r = r - n * 1.428606765330187045e-06f;  // ... and the rest
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    return p * std::bit_cast<float>(bits);
}

// erf: for |x| < 0.5 its Taylor series to x^11 (relative error < 1e-7: no cancellation near 0);
// otherwise Abramowitz and Stegun 7.1.26, 1 - (a1 t + ... + a5 t^5) e^{-x^2} with
// t = 1 / (1 + p|x|), absolute error at most 1.5e-7. Both are computed and one selected, so the
// loop stays branch-free.
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
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float poly = 1.061405429f;
    poly = poly * t - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    float y = 1.0f - poly * t * exp_neg_x2;
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
