// Bilinear and bicubic resampling of a channel-last grid, matching PyTorch's
// F.interpolate(mode='bilinear' | 'bicubic', align_corners=False), with and without antialias.
// All are separable: we build, per axis and output index, a list of (input index, weight) taps,
// then resample rows, then columns.
//
//  - Plain bicubic (upsample_bicubic2d): source x = scale (i + 0.5) - 0.5 with scale = in / out,
//    four taps at floor(x) - 1 .. floor(x) + 2 clamped to the border, Keys' kernel with A = -0.75.
//  - Plain bilinear (upsample_bilinear2d): the same source x, clamped below at 0; two taps at
//    floor(x) and floor(x) + 1 (clamped to the last index) weighted 1 - t and t.
//  - Antialias (PIL's resampling, which PyTorch follows): the kernel (cubic with A = -0.5, or the
//    triangle) is stretched by the scale when shrinking, taps span center +- support inside the
//    image, weights normalised.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/kernels.h"

namespace vit::cpu {

namespace {

struct Taps {
    std::vector<int64_t> first;   // per output index: offset into index/weight
    std::vector<int64_t> count;   // per output index: number of taps
    std::vector<int64_t> index;
    std::vector<float> weight;
};

float keys_cubic(float x, float A) {
    x = std::fabs(x);
    if (x <= 1.0f) {
        return ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f;
    }
    if (x < 2.0f) {
        return ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A;
    }
    return 0.0f;
}

Taps plain_cubic_taps(int64_t in, int64_t out) {
    Taps taps;
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    for (int64_t i = 0; i < out; i++) {
        float src = scale * (static_cast<float>(i) + 0.5f) - 0.5f;
        float f = std::floor(src);
        float t = src - f;
        taps.first.push_back(static_cast<int64_t>(taps.index.size()));
        taps.count.push_back(4);
        for (int64_t k = 0; k < 4; k++) {
            int64_t idx = std::clamp(static_cast<int64_t>(f) - 1 + k, int64_t{0}, in - 1);
            taps.index.push_back(idx);
            taps.weight.push_back(keys_cubic(t - static_cast<float>(k - 1), -0.75f));
        }
    }
    return taps;
}

Taps plain_linear_taps(int64_t in, int64_t out) {
    Taps taps;
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    for (int64_t i = 0; i < out; i++) {
        float src = std::max(scale * (static_cast<float>(i) + 0.5f) - 0.5f, 0.0f);
        int64_t i0 = static_cast<int64_t>(src);
        int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
        float t = src - static_cast<float>(i0);
        taps.first.push_back(static_cast<int64_t>(taps.index.size()));
        taps.count.push_back(2);
        taps.index.push_back(i0);
        taps.weight.push_back(1.0f - t);
        taps.index.push_back(i1);
        taps.weight.push_back(t);
    }
    return taps;
}

float triangle(float x) {
    x = std::fabs(x);
    return x < 1.0f ? 1.0f - x : 0.0f;
}

Taps antialias_taps(int64_t in, int64_t out, Filter filter) {
    Taps taps;
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    const float radius = filter == Filter::Bicubic ? 2.0f : 1.0f;
    const float support = scale >= 1.0f ? radius * scale : radius;
    const float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
    for (int64_t i = 0; i < out; i++) {
        float center = scale * (static_cast<float>(i) + 0.5f);
        int64_t lo = std::max(static_cast<int64_t>(center - support + 0.5f), int64_t{0});
        int64_t hi = std::min(static_cast<int64_t>(center + support + 0.5f), in);
        taps.first.push_back(static_cast<int64_t>(taps.index.size()));
        taps.count.push_back(hi - lo);
        float total = 0.0f;
        for (int64_t j = lo; j < hi; j++) {
            float x = (static_cast<float>(j) - center + 0.5f) * invscale;
            float w = filter == Filter::Bicubic ? keys_cubic(x, -0.5f) : triangle(x);
            taps.index.push_back(j);
            taps.weight.push_back(w);
            total += w;
        }
        for (int64_t k = 0; k < hi - lo; k++) {
            taps.weight[static_cast<size_t>(taps.first.back() + k)] /= total != 0.0f ? total : 1.0f;
        }
    }
    return taps;
}

}  // namespace

void resize_forward(float* out, const float* inp, int64_t IH, int64_t IW, int64_t OH, int64_t OW,
                    int64_t C, Filter filter, bool antialias) {
    auto taps = [&](int64_t in, int64_t outn) {
        if (antialias) return antialias_taps(in, outn, filter);
        return filter == Filter::Bicubic ? plain_cubic_taps(in, outn) : plain_linear_taps(in, outn);
    };
    const Taps tx = taps(IW, OW);
    const Taps ty = taps(IH, OH);
    // Rows first (along W): tmp[IH, OW, C].
    std::vector<float> tmp(static_cast<size_t>(IH * OW * C), 0.0f);
    for (int64_t y = 0; y < IH; y++) {
        for (int64_t x = 0; x < OW; x++) {
            float* dst = tmp.data() + (y * OW + x) * C;
            for (int64_t k = 0; k < tx.count[x]; k++) {
                size_t tap = static_cast<size_t>(tx.first[x] + k);
                const float* src = inp + (y * IW + tx.index[tap]) * C;
                for (int64_t c = 0; c < C; c++) {
                    dst[c] += tx.weight[tap] * src[c];
                }
            }
        }
    }
    // Then columns (along H).
    for (int64_t y = 0; y < OH; y++) {
        for (int64_t x = 0; x < OW; x++) {
            float* dst = out + (y * OW + x) * C;
            std::fill(dst, dst + C, 0.0f);
            for (int64_t k = 0; k < ty.count[y]; k++) {
                size_t tap = static_cast<size_t>(ty.first[y] + k);
                const float* src = tmp.data() + (ty.index[tap] * OW + x) * C;
                for (int64_t c = 0; c < C; c++) {
                    dst[c] += ty.weight[tap] * src[c];
                }
            }
        }
    }
}

}  // namespace vit::cpu
