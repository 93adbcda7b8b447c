// LayerNorm over the last dimension. Statistics in fp32 with a two-pass variance (mean first,
// then the mean of squared deviations), which is what PyTorch's CPU kernel computes in effect
// and is stable for rows with a large mean.
//
// Backward (derivation in docs/kernels.md): with xhat = (x - mean) * rstd and g = dout * weight,
//   dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)),
//   dweight = sum over rows of dout * xhat,   dbias = sum over rows of dout.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/vec16.h"
#include "kernels/kernels.h"

namespace vit::cpu {

namespace {

// Stores the first n lanes of v: fp32 as they are, bf16 rounded by the CPU's conversion.
inline void store_first_as(float* p, f32x16 v, int64_t n) { store_first(p, v, n); }
inline void store_first_as(bf16* p, f32x16 v, int64_t n) { store_first_bf16_ftz(p, v, n); }

// Sums of a row in four chains of vector additions (one chain through 48 vectors of a 768-wide
// row would wait on 48 dependent additions): sum of x[c] - shift, or with `square` its square.
template <bool square>
float row_sum(const float* x, int64_t C, float shift) {
    f32x16 acc[4] = {};
    int64_t c = 0;
    for (; c + 64 <= C; c += 64) {
#pragma GCC unroll 4
        for (int64_t k = 0; k < 4; k++) {
            const f32x16 d = load16(x + c + 16 * k) - shift;
            acc[k] += square ? d * d : d;
        }
    }
    for (; c < C; c += 16) {
        const int64_t n = std::min<int64_t>(16, C - c);
        const f32x16 d = first_lanes(load_first(x + c, n, 0.0f) - shift, n);
        acc[0] += square ? d * d : d;
    }
    return reduce_add((acc[0] + acc[1]) + (acc[2] + acc[3]));
}

template <typename T>
void layernorm_rows(T* out, float* mean, float* rstd, const float* inp, const float* weight,
                    const float* bias, int64_t M, int64_t C, float eps) {
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; m++) {
        const float* x = inp + m * C;
        const float mu = row_sum<false>(x, C, 0.0f) / static_cast<float>(C);
        const float s = 1.0f / std::sqrt(row_sum<true>(x, C, mu) / static_cast<float>(C) + eps);
        T* y = out + m * C;
        for (int64_t c = 0; c < C; c += 16) {
            const int64_t n = std::min<int64_t>(16, C - c);
            const f32x16 xhat = (load_first(x + c, n, 0.0f) - mu) * s;
            store_first_as(y + c, xhat * load_first(weight + c, n, 0.0f) + load_first(bias + c, n, 0.0f), n);
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
