// Residual adds with DropPath, dropout, tanh, token pooling and rounding to bf16.
#include <algorithm>

#include "kernels/cpu/row_chunks.h"
#include "kernels/cpu/vector_math.h"
#include "kernels/kernels.h"
#include "vit/rng.h"

namespace vit::cpu {

void round_to_bf16(bf16* out, const float* inp, int64_t n) {
    constexpr int64_t kChunk = 1 << 14;
#pragma omp parallel for schedule(static) if (n > kChunk)
    for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
        const int64_t i1 = i0 + kChunk < n ? i0 + kChunk : n;
#pragma omp simd
        for (int64_t i = i0; i < i1; i++) {
            out[i] = to_bf16(inp[i]);
        }
    }
}

void residual_forward(float* out, const float* x, const float* f, const float* scale, int64_t B,
                      int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        float s = scale != nullptr ? scale[b] : 1.0f;
        const float* xb = x + b * n;
        const float* fb = f + b * n;
        float* ob = out + b * n;
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            ob[i] = xb[i] + fb[i] * s;
        }
    }
}

void residual_backward(float* dx, float* df, const float* dout, const float* scale, int64_t B,
                       int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        float s = scale != nullptr ? scale[b] : 1.0f;
        const float* gb = dout + b * n;
        if (dx != nullptr) {
            float* dxb = dx + b * n;
#pragma omp simd
            for (int64_t i = 0; i < n; i++) {
                dxb[i] += gb[i];
            }
        }
        if (df != nullptr) {
            float* dfb = df + b * n;
#pragma omp simd
            for (int64_t i = 0; i < n; i++) {
                dfb[i] += gb[i] * s;
            }
        }
    }
}

void dropout_forward(float* out, const float* inp, int64_t n, float p, uint64_t seed,
                     uint64_t stream, uint64_t first_index) {
    const float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        bool keep = uniform01(seed, stream, first_index + static_cast<uint64_t>(i)) >= p;
        out[i] = keep ? inp[i] * keep_scale : 0.0f;
    }
}

void layer_scale_forward(float* out, const float* inp, const float* gamma, int64_t M, int64_t C) {
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; m++) {
#pragma omp simd
        for (int64_t c = 0; c < C; c++) {
            out[m * C + c] = inp[m * C + c] * gamma[c];
        }
    }
}

void layer_scale_backward(float* dinp, float* dgamma, const float* dout, const float* inp, const float* gamma,
                          int64_t M, int64_t C) {
    sum_row_chunks(
        M, C,
        [&](int64_t m0, int64_t rows, float* sums) {
            std::fill_n(sums, C, 0.0f);
            for (int64_t m = m0; m < m0 + rows; m++) {
#pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                    const float d = dout[m * C + c];
                    sums[c] += d * inp[m * C + c];
                    dinp[m * C + c] = d * gamma[c];
                }
            }
        },
        [&](int64_t c, float total) { dgamma[c] += total; });
}

void drop_path_scales(float* scale, int64_t B, float p, uint64_t seed, uint64_t stream, uint64_t first_index) {
    for (int64_t b = 0; b < B; b++) {
        bool keep = uniform01(seed, stream, first_index + static_cast<uint64_t>(b)) >= p;
        scale[b] = keep ? 1.0f / (1.0f - p) : 0.0f;
    }
}

void tanh_forward(float* out, const float* inp, int64_t n) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
        out[i] = tanh_approx(inp[i]);
    }
}

void tanh_backward(float* dinp, const float* out, const float* dout, int64_t n) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
        dinp[i] = dout[i] * (1.0f - out[i] * out[i]);
    }
}

void pool_forward(float* out, const float* x, int64_t B, int64_t N, int64_t C, bool mean) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        float* ob = out + b * C;
        const float* xb = x + b * N * C;
        if (!mean) {
            for (int64_t c = 0; c < C; c++) {
                ob[c] = xb[c];
            }
            continue;
        }
        for (int64_t c = 0; c < C; c++) {
            ob[c] = 0.0f;
        }
        for (int64_t t = 1; t < N; t++) {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                ob[c] += xb[t * C + c];
            }
        }
        const float inv = 1.0f / static_cast<float>(N - 1);
        for (int64_t c = 0; c < C; c++) {
            ob[c] *= inv;
        }
    }
}

void pool_backward(float* dx, const float* dout, int64_t B, int64_t N, int64_t C, bool mean) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        const float* gb = dout + b * C;
        float* dxb = dx + b * N * C;
        if (!mean) {
            for (int64_t c = 0; c < C; c++) {
                dxb[c] += gb[c];
            }
            continue;
        }
        const float inv = 1.0f / static_cast<float>(N - 1);
        for (int64_t t = 1; t < N; t++) {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                dxb[t * C + c] += gb[c] * inv;
            }
        }
    }
}

}  // namespace vit::cpu
