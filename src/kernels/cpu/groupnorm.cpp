// GroupNorm over channel-last maps x[B, HW, C]: per image and group of C/G channels, the mean and
// variance over HW x C/G values, then a per-channel affine map and optionally ReLU (timm's
// GroupNormAct). Threads own images; the parameter gradients are summed over images in order, so
// results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/kernels.h"

namespace vit::cpu {

void groupnorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t B, int64_t HW, int64_t C, int64_t G, float eps, bool relu) {
    const int64_t CG = C / G;
    const double count = static_cast<double>(HW * CG);
#pragma omp parallel
    {
        std::vector<double> channel(static_cast<size_t>(C));
        std::vector<float> scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C));
#pragma omp for
        for (int64_t b = 0; b < B; b++) {
            const float* x = inp + b * HW * C;
            // two passes: the group means, then the squared deviations from them
            std::fill(channel.begin(), channel.end(), 0.0);
            for (int64_t i = 0; i < HW; i++) {
#pragma omp simd
                for (int64_t c = 0; c < C; c++) channel[c] += x[i * C + c];
            }
            std::vector<double> mu(static_cast<size_t>(G), 0.0), var(static_cast<size_t>(G), 0.0);
            for (int64_t c = 0; c < C; c++) mu[c / CG] += channel[c];
            for (int64_t g = 0; g < G; g++) mu[g] /= count;
            for (int64_t c = 0; c < C; c++) shift[c] = static_cast<float>(mu[c / CG]);  // the mean, per channel
            std::fill(channel.begin(), channel.end(), 0.0);
            for (int64_t i = 0; i < HW; i++) {
#pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                    const double d = static_cast<double>(x[i * C + c]) - shift[c];
                    channel[c] += d * d;
                }
            }
            for (int64_t c = 0; c < C; c++) var[c / CG] += channel[c];
            for (int64_t g = 0; g < G; g++) {
                const double r = 1.0 / std::sqrt(var[g] / count + eps);
                if (mean != nullptr) mean[b * G + g] = static_cast<float>(mu[g]);
                if (rstd != nullptr) rstd[b * G + g] = static_cast<float>(r);
                for (int64_t c = g * CG; c < (g + 1) * CG; c++) {
                    scale[c] = static_cast<float>(r * weight[c]);
                    shift[c] = static_cast<float>(bias[c] - mu[g] * r * weight[c]);
                }
            }
            float* y = out + b * HW * C;
            for (int64_t i = 0; i < HW; i++) {
#pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                    const float v = x[i * C + c] * scale[c] + shift[c];
                    y[i * C + c] = relu ? std::max(v, 0.0f) : v;
                }
            }
        }
    }
}

void groupnorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* out, const float* weight, const float* mean, const float* rstd,
                        int64_t B, int64_t HW, int64_t C, int64_t G, bool relu) {
    const int64_t CG = C / G;
    const double count = static_cast<double>(HW * CG);
    // per image and channel: sum of dy * xhat and of dy (dy after the ReLU's mask). Kept between
    // calls: a fresh allocation of this size is fresh pages, whose faults cost more than the sums.
    // (thread_local: the calling thread's buffers, handed to the team below as pointers)
    static thread_local std::vector<double> sums;
    sums.assign(static_cast<size_t>(2 * B * C), 0.0);
    double* const sum_dy_xhat = sums.data();
    double* const sum_dy = sums.data() + B * C;
#pragma omp parallel
    {
        // the group statistics spread over channels, so that inner loops run over channels
        std::vector<float> mu(static_cast<size_t>(C)), r(static_cast<size_t>(C)), a(static_cast<size_t>(C)),
            m(static_cast<size_t>(C)), masked(static_cast<size_t>(C));
#pragma omp for
        for (int64_t b = 0; b < B; b++) {
            for (int64_t c = 0; c < C; c++) {
                mu[c] = mean[b * G + c / CG];
                r[c] = rstd[b * G + c / CG];
            }
            const float* x = inp + b * HW * C;
            const float* dy = dout + b * HW * C;
            const float* y = out + b * HW * C;
            double* sdx = sum_dy_xhat + b * C;
            double* sd = sum_dy + b * C;
            auto mask_row = [&](int64_t i) {
#pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                    masked[c] = relu && y[i * C + c] <= 0.0f ? 0.0f : dy[i * C + c];
                }
            };
            for (int64_t i = 0; i < HW; i++) {
                mask_row(i);
#pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                    sdx[c] += masked[c] * ((x[i * C + c] - mu[c]) * r[c]);
                    sd[c] += masked[c];
                }
            }
            if (dinp == nullptr) {
                continue;
            }
            // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) over the group,
            // with dxhat = dy * weight
            for (int64_t g = 0; g < G; g++) {
                double s_dxhat = 0.0, s_dxhat_xhat = 0.0;
                for (int64_t c = g * CG; c < (g + 1) * CG; c++) {
                    s_dxhat += sd[c] * weight[c];
                    s_dxhat_xhat += sdx[c] * weight[c];
                }
                for (int64_t c = g * CG; c < (g + 1) * CG; c++) {
                    m[c] = static_cast<float>(s_dxhat / count);
                    a[c] = static_cast<float>(s_dxhat_xhat / count);
                }
            }
            float* dx = dinp + b * HW * C;
            for (int64_t i = 0; i < HW; i++) {
                mask_row(i);
#pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                    const float xhat = (x[i * C + c] - mu[c]) * r[c];
                    dx[i * C + c] = r[c] * (masked[c] * weight[c] - m[c] - xhat * a[c]);
                }
            }
        }
    }
    for (int64_t c = 0; c < C; c++) {
        double w = 0.0, s = 0.0;
        for (int64_t b = 0; b < B; b++) {
            w += sum_dy_xhat[b * C + c];
            s += sum_dy[b * C + c];
        }
        if (dweight != nullptr) dweight[c] += static_cast<float>(w);
        if (dbias != nullptr) dbias[c] += static_cast<float>(s);
    }
}

}  // namespace vit::cpu
