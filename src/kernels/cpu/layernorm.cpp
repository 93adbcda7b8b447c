// LayerNorm over the last dimension. Statistics in fp32 with a two-pass variance (mean first,
// then the mean of squared deviations), which is what PyTorch's CPU kernel computes in effect
// and is stable for rows with a large mean.
//
// Backward (derivation in docs/kernels.md): with xhat = (x - mean) * rstd and g = dout * weight,
//   dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)),
//   dweight = sum over rows of dout * xhat,   dbias = sum over rows of dout.
#include <cmath>

#include "kernels/cpu/vector_math.h"
#include "kernels/kernels.h"

namespace vit::cpu {

namespace {

template <typename T>
void layernorm_rows(T* out, float* mean, float* rstd, const float* inp, const float* weight,
                    const float* bias, int64_t M, int64_t C, float eps) {
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; m++) {
        const float* x = inp + m * C;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t c = 0; c < C; c++) {
            sum += x[c];
        }
        float mu = sum / static_cast<float>(C);
        float var_sum = 0.0f;
#pragma omp simd reduction(+ : var_sum)
        for (int64_t c = 0; c < C; c++) {
            float d = x[c] - mu;
            var_sum += d * d;
        }
        float s = 1.0f / std::sqrt(var_sum / static_cast<float>(C) + eps);
        T* y = out + m * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) {
            y[c] = to<T>((x[c] - mu) * s * weight[c] + bias[c]);
        }
        if (mean != nullptr) {
            mean[m] = mu;
            rstd[m] = s;
        }
    }
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t M, int64_t C, float eps) {
    layernorm_rows(out, mean, rstd, inp, weight, bias, M, C, eps);
}

void layernorm_forward_bf16(bf16* out, float* mean, float* rstd, const float* inp, const float* weight,
                            const float* bias, int64_t M, int64_t C, float eps) {
    layernorm_rows(out, mean, rstd, inp, weight, bias, M, C, eps);
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean, const float* rstd,
                        int64_t M, int64_t C) {
    if (dinp != nullptr) {
#pragma omp parallel for schedule(static)
        for (int64_t m = 0; m < M; m++) {
            const float* x = inp + m * C;
            const float* dy = dout + m * C;
            float mu = mean[m];
            float s = rstd[m];
            float g_sum = 0.0f;
            float gx_sum = 0.0f;
#pragma omp simd reduction(+ : g_sum, gx_sum)
            for (int64_t c = 0; c < C; c++) {
                float g = dy[c] * weight[c];
                g_sum += g;
                gx_sum += g * (x[c] - mu) * s;
            }
            float g_mean = g_sum / static_cast<float>(C);
            float gx_mean = gx_sum / static_cast<float>(C);
            float* dx = dinp + m * C;
#pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                float xhat = (x[c] - mu) * s;
                dx[c] += s * (dy[c] * weight[c] - g_mean - xhat * gx_mean);
            }
        }
    }
    // Parameter gradients: each thread owns a block of columns, so no reduction is shared.
    constexpr int64_t kColumnBlock = 64;
#pragma omp parallel for schedule(static)
    for (int64_t c0 = 0; c0 < C; c0 += kColumnBlock) {
        int64_t c1 = c0 + kColumnBlock < C ? c0 + kColumnBlock : C;
        for (int64_t m = 0; m < M; m++) {
            const float* x = inp + m * C;
            const float* dy = dout + m * C;
            float mu = mean[m];
            float s = rstd[m];
            for (int64_t c = c0; c < c1; c++) {
                if (dweight != nullptr) {
                    dweight[c] += dy[c] * (x[c] - mu) * s;
                }
                if (dbias != nullptr) {
                    dbias[c] += dy[c];
                }
            }
        }
    }
}

}  // namespace vit::cpu
