// Max pooling over channel-last maps with TF "same" padding (timm's MaxPool2dSame pads with
// -inf, so padding never wins), and the ReLU'd residual sum that ends a bottleneck block.
#include <algorithm>
#include <limits>

#include "kernels/kernels.h"

namespace vit::cpu {

namespace {

// The input pixel (row * W + column) holding the maximum of output pixel (oy, ox), channel c:
// the first in row-major window order among equals, as PyTorch picks.
inline int64_t window_argmax(const float* x, const ConvShape& s, int64_t oy, int64_t ox, int64_t c) {
    float best = -std::numeric_limits<float>::infinity();
    int64_t at = -1;
    for (int64_t ky = 0; ky < s.kernel; ky++) {
        const int64_t iy = oy * s.stride - s.pad_top + ky;
        if (iy < 0 || iy >= s.H) continue;
        for (int64_t kx = 0; kx < s.kernel; kx++) {
            const int64_t ix = ox * s.stride - s.pad_left + kx;
            if (ix < 0 || ix >= s.W) continue;
            const float v = x[(iy * s.W + ix) * s.C + c];
            if (at < 0 || v > best) {
                best = v;
                at = iy * s.W + ix;
            }
        }
    }
    return at;
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
                for (int64_t ky = 0; ky < s.kernel; ky++) {
                    const int64_t iy = oy * s.stride - s.pad_top + ky;
                    if (iy < 0 || iy >= s.H) continue;
                    for (int64_t kx = 0; kx < s.kernel; kx++) {
                        const int64_t ix = ox * s.stride - s.pad_left + kx;
                        if (ix < 0 || ix >= s.W) continue;
                        const float* v = x + (iy * s.W + ix) * s.C;
#pragma omp simd
                        for (int64_t c = 0; c < s.C; c++) y[c] = std::max(y[c], v[c]);
                    }
                }
            }
        }
    }
}

void maxpool_backward(float* dinp, const float* dout, const float* inp, const ConvShape& s) {
    // Windows overlap, so each thread owns whole images.
#pragma omp parallel for
    for (int64_t b = 0; b < s.B; b++) {
        const float* x = inp + b * s.H * s.W * s.C;
        float* dx = dinp + b * s.H * s.W * s.C;
        std::fill(dx, dx + s.H * s.W * s.C, 0.0f);
        for (int64_t oy = 0; oy < s.OH; oy++) {
            for (int64_t ox = 0; ox < s.OW; ox++) {
                const float* dy = dout + ((b * s.OH + oy) * s.OW + ox) * s.C;
                for (int64_t c = 0; c < s.C; c++) dx[window_argmax(x, s, oy, ox, c) * s.C + c] += dy[c];
            }
        }
    }
}

void add_relu_forward(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; i++) out[i] = std::max(a[i] + b[i], 0.0f);
}

void relu_backward(float* dinp, const float* out, const float* dout, int64_t n) {
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; i++) dinp[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

}  // namespace vit::cpu
