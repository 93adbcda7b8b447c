// Mixup and CutMix (see vit/mix.h). The draws follow timm's Mixup._params_per_batch and
// rand_bbox: whether to mix, which of the two, lambda, then the box centre.
#include "vit/mix.h"

#include <algorithm>
#include <cmath>

#include "vit/error.h"
#include "vit/rng.h"

namespace vit {

void MixOptions::validate() const {
    if (!(mixup_alpha >= 0.0f)) fail("mixup_alpha must be >= 0 (0 = off), got {}", mixup_alpha);
    if (!(cutmix_alpha >= 0.0f)) fail("cutmix_alpha must be >= 0 (0 = off), got {}", cutmix_alpha);
    if (!(prob >= 0.0f && prob <= 1.0f)) fail("mix_prob must be in [0, 1], got {}", prob);
    if (!(switch_prob >= 0.0f && switch_prob <= 1.0f)) fail("mix_switch_prob must be in [0, 1], got {}", switch_prob);
}

MixDraw draw_mix(const MixOptions& o, int64_t H, int64_t W, uint64_t seed) {
    o.validate();
    MixDraw d;
    Rng rng(mix64(seed));
    if (!o.enabled() || !(rng.uniform() < o.prob)) {
        return d;
    }
    d.cutmix = o.mixup_alpha > 0.0f && o.cutmix_alpha > 0.0f ? rng.uniform() < o.switch_prob : o.cutmix_alpha > 0.0f;
    const double alpha = d.cutmix ? o.cutmix_alpha : o.mixup_alpha;
    d.lam = rng.beta(alpha, alpha);
    if (d.cutmix) {
        // Sides sqrt(1 - lam) of the image's, centred at a uniformly drawn pixel, clipped at the
        // border; lam becomes 1 - the box's area fraction.
        const double ratio = std::sqrt(1.0 - d.lam);
        const int64_t cut_h = static_cast<int64_t>(static_cast<double>(H) * ratio);
        const int64_t cut_w = static_cast<int64_t>(static_cast<double>(W) * ratio);
        const int64_t cy = std::min<int64_t>(static_cast<int64_t>(rng.uniform() * static_cast<double>(H)), H - 1);
        const int64_t cx = std::min<int64_t>(static_cast<int64_t>(rng.uniform() * static_cast<double>(W)), W - 1);
        d.box[0] = std::clamp<int64_t>(cy - cut_h / 2, 0, H);
        d.box[1] = std::clamp<int64_t>(cy + cut_h / 2, 0, H);
        d.box[2] = std::clamp<int64_t>(cx - cut_w / 2, 0, W);
        d.box[3] = std::clamp<int64_t>(cx + cut_w / 2, 0, W);
        d.lam = 1.0 - static_cast<double>((d.box[1] - d.box[0]) * (d.box[3] - d.box[2])) / static_cast<double>(H * W);
    }
    return d;
}

std::vector<float> mix_with_partners(float* images, const float* partners, const int32_t* labels,
                                     const int32_t* partner_labels, int64_t B, int64_t C, int64_t H, int64_t W,
                                     int64_t K, float smoothing, const MixDraw& d) {
    if (!(smoothing >= 0.0f && smoothing < 1.0f)) {
        fail("label smoothing must be in [0, 1), got {}", smoothing);
    }
    for (int64_t b = 0; b < B; b++) {
        for (const int32_t label : {labels[b], partner_labels[b]}) {
            if (label < 0 || label >= K) fail("label {} of sample {} is outside the {} classes [0, {})", label, b, K, K);
        }
    }
    const int64_t plane = H * W, image = C * plane;
    const float own = static_cast<float>(d.lam), other = static_cast<float>(1.0 - d.lam);
    for (int64_t b = 0; d.lam < 1.0 && b < B; b++) {
        float* x = images + b * image;
        const float* y = partners + b * image;
        if (d.cutmix) {  // the box comes from the partner
            for (int64_t c = 0; c < C; c++) {
                for (int64_t r = d.box[0]; r < d.box[1]; r++) {
                    const int64_t at = c * plane + r * W;
                    std::copy(y + at + d.box[2], y + at + d.box[3], x + at + d.box[2]);
                }
            }
            continue;
        }
        for (int64_t i = 0; i < image; i++) x[i] = x[i] * own + y[i] * other;
    }
    const float off = smoothing / static_cast<float>(K), on = 1.0f - smoothing + off;
    std::vector<float> targets(static_cast<size_t>(B * K));
    for (int64_t b = 0; b < B; b++) {
        for (int64_t k = 0; k < K; k++) {
            targets[b * K + k] = (k == labels[b] ? on : off) * own + (k == partner_labels[b] ? on : off) * other;
        }
    }
    return targets;
}

std::vector<float> apply_mix(float* images, const int32_t* labels, int64_t B, int64_t C, int64_t H, int64_t W,
                             int64_t K, float smoothing, const MixDraw& d) {
    // Image b is paired with image B-1-b (the middle one of an odd batch with itself).
    const int64_t image = C * H * W;
    std::vector<float> partners(static_cast<size_t>(B * image));
    std::vector<int32_t> partner_labels(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; b++) {
        std::copy_n(images + (B - 1 - b) * image, image, partners.begin() + b * image);
        partner_labels[static_cast<size_t>(b)] = labels[B - 1 - b];
    }
    return mix_with_partners(images, partners.data(), labels, partner_labels.data(), B, C, H, W, K, smoothing, d);
}

MixedTargets mix_batch(float* images, const int32_t* labels, int64_t B, int64_t C, int64_t H, int64_t W, int64_t K,
                       float smoothing, const MixOptions& options, uint64_t seed) {
    MixedTargets m;
    m.draw = draw_mix(options, H, W, seed);
    m.targets = apply_mix(images, labels, B, C, H, W, K, smoothing, m.draw);
    return m;
}

}  // namespace vit
