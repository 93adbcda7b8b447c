// GELU, exact and tanh-approximated, forward and backward.
// The forward saves the slope dy/dx for the backward, which multiplies by it:
//   exact:  y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2));   dy/dx = Phi(x) + x phi(x)
//   tanh:   u = sqrt(2/pi) (x + 0.044715 x^3),  y = 0.5 x (1 + tanh u)
//           dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
#include <type_traits>

#include "kernels/cpu/vec16.h"
#include "kernels/kernels.h"

namespace vit::cpu {

namespace {
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;
constexpr float kTanhCubic = 0.044715f;
constexpr int64_t kChunk = 4096;  // elements per parallel work item
}  // namespace

namespace {

// 1 / d for d >= 1: the 14-bit reciprocal estimate and one Newton step (within an ulp or two of
// the division, a few times cheaper) where the CPU has it.
inline f32x16 reciprocal(f32x16 d) {
#if defined(__AVX512F__)
    const f32x16 r = (f32x16)_mm512_maskz_rcp14_ps(0xffff, (__m512)d);  // (maskz: see exp_approx)
    return r * (2.0f - d * r);
#else
    return 1.0f / d;
#endif
}

// Phi(x) and phi(x) * sqrt(2 pi) = e^{-x^2/2} for 16 lanes. With z = |x| / sqrt 2 and erfc(z)
// from Abramowitz and Stegun 7.1.26 (vector_math.h, 1.5e-7 absolute),
// Phi(x) = 1 - erfc(z) / 2 for x >= 0 and erfc(z) / 2 for x < 0, which keeps the
// relative accuracy of the negative tail (no 1 - erf cancellation). z is capped at 10 for t (past
// it erfc(z) < 1e-44), which keeps t finite.
inline f32x16 normal_cdf(f32x16 x, f32x16& gauss) {
    const f32x16 z = x * kInvSqrt2;
    f32x16 az = z < 0.0f ? -z : z;
    az = az > 10.0f ? f32x16{} + 10.0f : az;
    gauss = exp_approx(-(z * z));
    const f32x16 t = reciprocal(1.0f + kErfcP * az);
    const f32x16 half_erfc = 0.5f * erfc_polynomial(t) * gauss;  // e^{-z^2} = e^{-x^2/2}
    return x < 0.0f ? half_erfc : 1.0f - half_erfc;
}

// out = GELU(x) and, when slope is given, slope = GELU'(x), from the same erf (or tanh) and exp.
template <typename T>
void gelu_elements(T* out, float* slope, const float* inp, int64_t n, bool tanh_approx_kind) {
#pragma omp parallel for schedule(static)
    for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
        int64_t i1 = i0 + kChunk < n ? i0 + kChunk : n;
        if (tanh_approx_kind) {
#pragma omp simd
            for (int64_t i = i0; i < i1; i++) {
                float x = inp[i];
                float u = kSqrt2OverPi * (x + kTanhCubic * x * x * x);
                float t = tanh_approx(u);
                out[i] = to<T>(0.5f * x * (1.0f + t));
                if (slope != nullptr) {
                    float du = kSqrt2OverPi * (1.0f + 3.0f * kTanhCubic * x * x);
                    slope[i] = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
                }
            }
        } else {
            for (int64_t i = i0; i < i1; i += 16) {
                const int64_t lanes = i1 - i < 16 ? i1 - i : 16;
                const f32x16 x = load_first(inp + i, lanes, 0.0f);
                f32x16 gauss;
                const f32x16 cdf = normal_cdf(x, gauss);
                if constexpr (std::is_same_v<T, bf16>) {
                    store_first_bf16(out + i, x * cdf, lanes);
                } else {
                    store_first(out + i, x * cdf, lanes);
                }
                if (slope != nullptr) store_first(slope + i, cdf + x * (kInvSqrt2Pi * gauss), lanes);
            }
        }
    }
}

}  // namespace

void gelu_forward(float* out, float* slope, const float* inp, int64_t n, bool tanh_approx_kind) {
    gelu_elements(out, slope, inp, n, tanh_approx_kind);
}

void gelu_forward_bf16(bf16* out, float* slope, const float* inp, int64_t n, bool tanh_approx_kind) {
    gelu_elements(out, slope, inp, n, tanh_approx_kind);
}

void gelu_backward(float* dinp, const float* slope, const float* dout, int64_t n) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
        dinp[i] = dout[i] * slope[i];
    }
}

}  // namespace vit::cpu
