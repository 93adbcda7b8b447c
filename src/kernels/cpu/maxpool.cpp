// Max pooling over channel-last maps with TF "same" padding (timm's MaxPool2dSame pads with
// -inf, so padding never wins), ReLU, and the ReLU'd residual sum that ends a bottleneck block.
#include <algorithm>
#include <limits>
#include <vector>

#include "kernels/kernels.h"

namespace vit::cpu {

namespace {

// Calls f(pixel) for the input pixels (row * W + column) of output pixel (oy, ox)'s window, in
// row-major order, skipping the padding.
template <typename F>
inline void for_each_window_pixel(const ConvShape& s, int64_t oy, int64_t ox, F&& f) {
    for (int64_t ky = 0; ky < s.kernel; ky++) {
        const int64_t iy = oy * s.stride - s.pad_top + ky;
        if (iy < 0 || iy >= s.H) continue;
        for (int64_t kx = 0; kx < s.kernel; kx++) {
            const int64_t ix = ox * s.stride - s.pad_left + kx;
            if (ix >= 0 && ix < s.W) f(iy * s.W + ix);
        }
    }
}

}  // namespace

void maxpool_forward(float* out, const float* inp, const ConvShape& s) {
#pragma omp parallel for collapse(2)
    for (int64_t b = 0; b < s.B; b++) {
        for (int64_t oy = 0; oy < s.OH; oy++) {
            const float* x = inp + b * s.H * s.W * s.C;
            for (int64_t ox = 0; ox < s.OW; ox++) {
                float* y = out + ((b * s.OH + oy) * s.OW + ox) * s.C;
                std::fill(y, y + s.C, -std::numeric_limits<float>::infinity());
                for_each_window_pixel(s, oy, ox, [&](int64_t pixel) {
                    const float* v = x + pixel * s.C;
#pragma omp simd
                    for (int64_t c = 0; c < s.C; c++) y[c] = std::max(y[c], v[c]);
                });
            }
        }
    }
}

void maxpool_backward(float* dinp, const float* dout, const float* inp, const ConvShape& s) {
    // Windows overlap, so each thread owns whole images. Each gradient goes to the first
    // maximum of its window (row-major order among equals), as PyTorch routes it.
#pragma omp parallel
    {
        std::vector<float> best(static_cast<size_t>(s.C));
        std::vector<int64_t> at(static_cast<size_t>(s.C));
#pragma omp for
        for (int64_t b = 0; b < s.B; b++) {
            const float* x = inp + b * s.H * s.W * s.C;
            float* dx = dinp + b * s.H * s.W * s.C;
            std::fill(dx, dx + s.H * s.W * s.C, 0.0f);
            for (int64_t oy = 0; oy < s.OH; oy++) {
                for (int64_t ox = 0; ox < s.OW; ox++) {
                    std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
                    std::fill(at.begin(), at.end(), int64_t{-1});
                    for_each_window_pixel(s, oy, ox, [&](int64_t pixel) {
                        const float* v = x + pixel * s.C;
                        for (int64_t c = 0; c < s.C; c++) {
                            if (at[c] < 0 || v[c] > best[c]) {
                                best[c] = v[c];
                                at[c] = pixel;
                            }
                        }
                    });
                    const float* dy = dout + ((b * s.OH + oy) * s.OW + ox) * s.C;
                    for (int64_t c = 0; c < s.C; c++) dx[at[c] * s.C + c] += dy[c];
                }
            }
        }
    }
}

void add_relu_forward(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; i++) out[i] = std::max(a[i] + b[i], 0.0f);
}

void relu_forward(float* out, const float* inp, int64_t n) {
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; i++) out[i] = std::max(inp[i], 0.0f);
}

void relu_backward(float* dinp, const float* out, const float* dout, int64_t n) {
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; i++) dinp[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

}  // namespace vit::cpu
