// Reference twins of the hybrid backbone's kernels: direct loops in double precision.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/reference/reference.h"

namespace vit::ref {

namespace {

struct Same {
    int64_t out, pad;
};
Same same(int64_t in, int64_t kernel, int64_t stride) {
    const int64_t out = (in + stride - 1) / stride;
    return {out, std::max<int64_t>((out - 1) * stride + kernel - in, 0) / 2};
}

}  // namespace

Vec conv2d_same(const Vec& inp, const Vec& weight, int64_t B, int64_t C, int64_t H, int64_t W, int64_t O,
                int64_t kernel, int64_t stride, bool nchw_input) {
    const Same y = same(H, kernel, stride), x = same(W, kernel, stride);
    auto at = [&](int64_t b, int64_t c, int64_t h, int64_t w) {
        return nchw_input ? inp[static_cast<size_t>(((b * C + c) * H + h) * W + w)]
                          : inp[static_cast<size_t>(((b * H + h) * W + w) * C + c)];
    };
    Vec out(static_cast<size_t>(B * y.out * x.out * O), 0.0);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t oy = 0; oy < y.out; oy++) {
            for (int64_t ox = 0; ox < x.out; ox++) {
                for (int64_t o = 0; o < O; o++) {
                    double sum = 0.0;
                    for (int64_t c = 0; c < C; c++) {
                        for (int64_t ky = 0; ky < kernel; ky++) {
                            for (int64_t kx = 0; kx < kernel; kx++) {
                                const int64_t ih = oy * stride - y.pad + ky, iw = ox * stride - x.pad + kx;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                sum += at(b, c, ih, iw) *
                                       weight[static_cast<size_t>(((o * C + c) * kernel + ky) * kernel + kx)];
                            }
                        }
                    }
                    out[static_cast<size_t>(((b * y.out + oy) * x.out + ox) * O + o)] = sum;
                }
            }
        }
    }
    return out;
}

Vec standardize(const Vec& weight, int64_t O, int64_t K, double eps) {
    Vec out(weight.size());
    for (int64_t o = 0; o < O; o++) {
        double mean = 0.0, var = 0.0;
        for (int64_t k = 0; k < K; k++) mean += weight[static_cast<size_t>(o * K + k)] / static_cast<double>(K);
        for (int64_t k = 0; k < K; k++) {
            const double d = weight[static_cast<size_t>(o * K + k)] - mean;
            var += d * d / static_cast<double>(K);
        }
        for (int64_t k = 0; k < K; k++) {
            out[static_cast<size_t>(o * K + k)] = (weight[static_cast<size_t>(o * K + k)] - mean) / std::sqrt(var + eps);
        }
    }
    return out;
}

Vec groupnorm(const Vec& x, const Vec& weight, const Vec& bias, int64_t B, int64_t HW, int64_t C, int64_t G,
              double eps, bool relu) {
    const int64_t CG = C / G;
    Vec out(x.size());
    for (int64_t b = 0; b < B; b++) {
        for (int64_t g = 0; g < G; g++) {
            auto index = [&](int64_t i, int64_t c) { return static_cast<size_t>((b * HW + i) * C + g * CG + c); };
            const double n = static_cast<double>(HW * CG);
            double mean = 0.0, var = 0.0;
            for (int64_t i = 0; i < HW; i++) {
                for (int64_t c = 0; c < CG; c++) mean += x[index(i, c)] / n;
            }
            for (int64_t i = 0; i < HW; i++) {
                for (int64_t c = 0; c < CG; c++) var += (x[index(i, c)] - mean) * (x[index(i, c)] - mean) / n;
            }
            for (int64_t i = 0; i < HW; i++) {
                for (int64_t c = 0; c < CG; c++) {
                    const double v = (x[index(i, c)] - mean) / std::sqrt(var + eps) * weight[static_cast<size_t>(g * CG + c)] +
                                     bias[static_cast<size_t>(g * CG + c)];
                    out[index(i, c)] = relu ? std::max(v, 0.0) : v;
                }
            }
        }
    }
    return out;
}

Vec maxpool_same(const Vec& x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t kernel, int64_t stride) {
    const Same y = same(H, kernel, stride), xs = same(W, kernel, stride);
    Vec out(static_cast<size_t>(B * y.out * xs.out * C));
    for (int64_t b = 0; b < B; b++) {
        for (int64_t oy = 0; oy < y.out; oy++) {
            for (int64_t ox = 0; ox < xs.out; ox++) {
                for (int64_t c = 0; c < C; c++) {
                    double best = -std::numeric_limits<double>::infinity();
                    for (int64_t ky = 0; ky < kernel; ky++) {
                        for (int64_t kx = 0; kx < kernel; kx++) {
                            const int64_t ih = oy * stride - y.pad + ky, iw = ox * stride - xs.pad + kx;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                            best = std::max(best, x[static_cast<size_t>(((b * H + ih) * W + iw) * C + c)]);
                        }
                    }
                    out[static_cast<size_t>(((b * y.out + oy) * xs.out + ox) * C + c)] = best;
                }
            }
        }
    }
    return out;
}

}  // namespace vit::ref
