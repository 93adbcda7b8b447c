// Patch embedding as unfold + matrix product (the product itself is matmul_forward), the 2-D
// position tables, and the assembly of the token sequence: class token first, then the patches,
// plus the position table.
#include <cmath>
#include <cstring>

#include "kernels/kernels.h"

namespace vit::cpu {

void im2patch_forward(float* patches, const float* images, int64_t B, int64_t C, int64_t H,
                      int64_t W, int64_t P) {
    const int64_t GH = H / P;
    const int64_t GW = W / P;
    const int64_t patch_dim = C * P * P;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; b++) {
        for (int64_t gy = 0; gy < GH; gy++) {
            for (int64_t gx = 0; gx < GW; gx++) {
                float* dst = patches + ((b * GH + gy) * GW + gx) * patch_dim;
                for (int64_t c = 0; c < C; c++) {
                    for (int64_t py = 0; py < P; py++) {
                        const float* src = images + ((b * C + c) * H + gy * P + py) * W + gx * P;
                        std::memcpy(dst + (c * P + py) * P, src, static_cast<size_t>(P) * sizeof(float));
                    }
                }
            }
        }
    }
}

namespace {

// Visits every (patch value, map value) pair of the channel-last unfolding: patch (b, gy, gx),
// value (c, py, px) <-> maps[b, gy*P + py, gx*P + px, c]. Patches do not overlap.
template <typename F>
void for_each_nhwc_patch_value(int64_t B, int64_t C, int64_t H, int64_t W, int64_t P, F&& f) {
    const int64_t GH = H / P, GW = W / P, patch_dim = C * P * P;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; b++) {
        for (int64_t gy = 0; gy < GH; gy++) {
            for (int64_t gx = 0; gx < GW; gx++) {
                const int64_t patch = ((b * GH + gy) * GW + gx) * patch_dim;
                for (int64_t py = 0; py < P; py++) {
                    for (int64_t px = 0; px < P; px++) {
                        const int64_t map = ((b * H + gy * P + py) * W + gx * P + px) * C;
                        for (int64_t c = 0; c < C; c++) f(patch + (c * P + py) * P + px, map + c);
                    }
                }
            }
        }
    }
}

}  // namespace

void nhwc2patch_forward(float* patches, const float* maps, int64_t B, int64_t C, int64_t H, int64_t W,
                        int64_t P) {
    for_each_nhwc_patch_value(B, C, H, W, P, [&](int64_t p, int64_t m) { patches[p] = maps[m]; });
}

void nhwc2patch_backward(float* dmaps, const float* dpatches, int64_t B, int64_t C, int64_t H, int64_t W,
                         int64_t P) {
    for_each_nhwc_patch_value(B, C, H, W, P, [&](int64_t p, int64_t m) { dmaps[m] = dpatches[p]; });
}

void tokens_forward(float* x, const float* patch_tokens, const float* cls, const float* pos,
                    int64_t B, int64_t NP, int64_t C) {
    const int64_t N = NP + 1;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; b++) {
        for (int64_t t = 0; t < N; t++) {
            const float* src = t == 0 ? cls : patch_tokens + (b * NP + t - 1) * C;
            float* dst = x + (b * N + t) * C;
            if (pos == nullptr) {
                std::memcpy(dst, src, static_cast<size_t>(C) * sizeof(float));
                continue;
            }
            const float* pos_t = pos + t * C;
#pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                dst[c] = src[c] + pos_t[c];
            }
        }
    }
}

void tokens_backward(float* dpatch_tokens, float* dcls, float* dpos, const float* dx, int64_t B,
                     int64_t NP, int64_t C) {
    const int64_t N = NP + 1;
    if (dpatch_tokens != nullptr) {
#pragma omp parallel for collapse(2) schedule(static)
        for (int64_t b = 0; b < B; b++) {
            for (int64_t t = 1; t < N; t++) {
                const float* src = dx + (b * N + t) * C;
                float* dst = dpatch_tokens + (b * NP + t - 1) * C;
#pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                    dst[c] = src[c];
                }
            }
        }
    }
    // dpos[t] sums over the batch; dcls is dpos[0]'s twin. Each thread owns a range of tokens.
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < N; t++) {
        for (int64_t b = 0; b < B; b++) {
            const float* src = dx + (b * N + t) * C;
            for (int64_t c = 0; c < C; c++) {
                if (dpos != nullptr) {
                    dpos[t * C + c] += src[c];
                }
                if (t == 0 && dcls != nullptr) {
                    dcls[c] += src[c];
                }
            }
        }
    }
}

void pos_embed_2d_forward(float* pos, const float* row, const float* col, int64_t GH, int64_t GW, int64_t C) {
    const int64_t half = C / 2;
    std::memset(pos, 0, static_cast<size_t>(C) * sizeof(float));  // the class token's row
    for (int64_t r = 0; r < GH; r++) {
        for (int64_t c = 0; c < GW; c++) {
            float* dst = pos + (1 + r * GW + c) * C;
            std::memcpy(dst, row + r * half, static_cast<size_t>(half) * sizeof(float));
            std::memcpy(dst + half, col + c * half, static_cast<size_t>(half) * sizeof(float));
        }
    }
}

void pos_embed_2d_backward(float* drow, float* dcol, const float* dpos, int64_t GH, int64_t GW, int64_t C) {
    const int64_t half = C / 2;
    for (int64_t r = 0; r < GH; r++) {
        for (int64_t c = 0; c < GW; c++) {
            const float* src = dpos + (1 + r * GW + c) * C;
            for (int64_t k = 0; k < half; k++) {
                drow[r * half + k] += src[k];
                dcol[c * half + k] += src[half + k];
            }
        }
    }
}

void pos_embed_sincos_2d(float* pos, int64_t GH, int64_t GW, int64_t C) {
    const int64_t Q = C / 4;
    std::memset(pos, 0, static_cast<size_t>(C) * sizeof(float));  // the class token's row
    for (int64_t r = 0; r < GH; r++) {
        for (int64_t c = 0; c < GW; c++) {
            float* dst = pos + (1 + r * GW + c) * C;
            for (int64_t k = 0; k < Q; k++) {
                const double w = std::pow(10000.0, -static_cast<double>(k) / static_cast<double>(Q));
                dst[k] = static_cast<float>(std::sin(static_cast<double>(c) * w));
                dst[Q + k] = static_cast<float>(std::cos(static_cast<double>(c) * w));
                dst[2 * Q + k] = static_cast<float>(std::sin(static_cast<double>(r) * w));
                dst[3 * Q + k] = static_cast<float>(std::cos(static_cast<double>(r) * w));
            }
        }
    }
}

}  // namespace vit::cpu
