// LayerNorm over the last dimension. Statistics in fp32 with a two-pass variance (mean first,
// then the mean of squared deviations), which is what PyTorch's CPU kernel computes in effect
// and is stable for rows with a large mean.
//
// Backward (derivation in docs/kernels.md): with xhat = (x - mean) * rstd and g = dout * weight,
//   dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)),
//   dweight = sum over rows of dout * xhat,   dbias = sum over rows of dout.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/row_chunks.h"
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
    // One pass over chunks of rows (row_chunks.h): each row's input gradient, and the chunk's
    // parameter gradients as column sums, dweight's in sums[0, C) and dbias's in sums[C, 2C).
    auto chunk = [&](int64_t m0, int64_t rows, float* sums) {
        for (int64_t m = m0; m < m0 + rows; m++) {
            const float* x = inp + m * C;
            const float* dy = dout + m * C;
            const float mu = mean[m], s = rstd[m];
            f32x16 g_sum[2] = {}, gx_sum[2] = {};  // two chains each
            for (int64_t c = 0; c < C; c += 16) {
                const int64_t n = std::min<int64_t>(16, C - c);
                const f32x16 d = load_first(dy + c, n, 0.0f);
                const f32x16 xhat = first_lanes((load_first(x + c, n, 0.0f) - mu) * s, n);
                const f32x16 g = d * load_first(weight + c, n, 0.0f);
                g_sum[(c / 16) % 2] += g;
                gx_sum[(c / 16) % 2] += g * xhat;
                const bool first = m == m0;
                store_first(sums + c, first ? d * xhat : load_first(sums + c, n, 0.0f) + d * xhat, n);
                store_first(sums + C + c, first ? d : load_first(sums + C + c, n, 0.0f) + d, n);
            }
            if (dinp == nullptr) continue;
            const float g_mean = reduce_add(g_sum[0] + g_sum[1]) / static_cast<float>(C);
            const float gx_mean = reduce_add(gx_sum[0] + gx_sum[1]) / static_cast<float>(C);
            float* dx = dinp + m * C;
            for (int64_t c = 0; c < C; c += 16) {
                const int64_t n = std::min<int64_t>(16, C - c);
                const f32x16 xhat = (load_first(x + c, n, 0.0f) - mu) * s;
                const f32x16 g = load_first(dy + c, n, 0.0f) * load_first(weight + c, n, 0.0f);
                store_first(dx + c, load_first(dx + c, n, 0.0f) + s * (g - g_mean - xhat * gx_mean), n);
            }
        }
    };
    sum_row_chunks(M, 2 * C, chunk, [&](int64_t n, float total) {
        float* out = n < C ? dweight : dbias;
        if (out != nullptr) out[n % C] += total;
    });
}

}  // namespace vit::cpu
