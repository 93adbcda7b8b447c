// GELU, exact and tanh-approximated, forward and backward.
// The forward saves the slope dy/dx for the backward, which multiplies by it:
//   exact:  y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2));   dy/dx = Phi(x) + x phi(x)
//   tanh:   u = sqrt(2/pi) (x + 0.044715 x^3),  y = 0.5 x (1 + tanh u)
//           dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
#include "kernels/cpu/vector_math.h"
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
#pragma omp simd
            for (int64_t i = i0; i < i1; i++) {
                float x = inp[i];
                float z = x * kInvSqrt2;
                float gauss = exp_approx(-z * z);  // e^{-x^2/2}, shared by Phi and phi
                float cdf = 0.5f * (1.0f + erf_from_exp(z, gauss));
                out[i] = to<T>(x * cdf);
                if (slope != nullptr) {
                    slope[i] = cdf + x * (kInvSqrt2Pi * gauss);
                }
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
