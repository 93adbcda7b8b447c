// RandAugment's operations on 8-bit images, following torchvision 0.14's tensor code
// (transforms/autoaugment.py _apply_op and functional_tensor.py) step by step, including where it
// computes in fp32 and where it truncates to uint8, so that the results are the same pixels (the
// file is compiled without fused multiply-adds: torch rounds each product and sum on its own).
#include "vit/rand_augment.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "vit/error.h"

namespace vit {

namespace {

constexpr double kPi = 3.14159265358979323846;

// An image as bytes, channel-last.
struct Bytes {
    int64_t height = 0, width = 0, channels = 0;
    std::vector<uint8_t> hwc;
    uint8_t& at(int64_t y, int64_t x, int64_t c) { return hwc[static_cast<size_t>((y * width + x) * channels + c)]; }
    uint8_t at(int64_t y, int64_t x, int64_t c) const {
        return hwc[static_cast<size_t>((y * width + x) * channels + c)];
    }
};

Bytes to_bytes(const Image& img) {
    Bytes b{img.height, img.width, img.channels, std::vector<uint8_t>(img.hwc.size())};
    for (size_t i = 0; i < img.hwc.size(); i++) {
        b.hwc[i] = static_cast<uint8_t>(std::nearbyint(std::clamp(img.hwc[i], 0.0f, 1.0f) * 255.0f));
    }
    return b;
}

Image to_image(const Bytes& b) {
    Image img{b.height, b.width, b.channels, std::vector<float>(b.hwc.size())};
    for (size_t i = 0; i < b.hwc.size(); i++) img.hwc[i] = static_cast<float>(b.hwc[i]) / 255.0f;
    return img;
}

// A float result stored as uint8 the way torch's .to(torch.uint8) does after clamp(0, 255):
// truncation.
uint8_t clamp_to_byte(float v) { return static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f)); }

// ---- geometry: F.affine and F.rotate on tensors -------------------------------------------------

// torchvision's _get_inverse_affine_matrix (in double, as Python): output pixel -> input pixel,
// both relative to the image centre.
std::array<double, 6> inverse_affine(double cx, double cy, double angle, double tx, double ty, double shear_x,
                                     double shear_y) {
    const double rot = angle * kPi / 180.0, sx = shear_x * kPi / 180.0, sy = shear_y * kPi / 180.0;
    const double a = std::cos(rot - sy) / std::cos(sy);
    const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
    const double c = std::sin(rot - sy) / std::cos(sy);
    const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
    std::array<double, 6> m = {d, -b, 0.0, -c, a, 0.0};
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
    m[2] += cx;
    m[5] += cy;
    return m;
}

// _gen_affine_grid and grid_sample(mode="nearest", padding_mode="zeros", align_corners=False) in
// fp32: the output pixel's centre (x, y) relative to the image centre maps to normalised
// g = (m x + m y + m) / (size / 2), which grid_sample takes back to ((g + 1) size - 1) / 2 and
// rounds half to even; outside the image, zeros.
Bytes warp_nearest(const Bytes& in, const std::array<double, 6>& m) {
    const float half_w = 0.5f * static_cast<float>(in.width), half_h = 0.5f * static_cast<float>(in.height);
    float r[6];
    for (int i = 0; i < 6; i++) r[i] = static_cast<float>(m[i]) / (i < 3 ? half_w : half_h);
    Bytes out{in.height, in.width, in.channels, std::vector<uint8_t>(in.hwc.size(), 0)};
    const float W = static_cast<float>(in.width), H = static_cast<float>(in.height);
    for (int64_t i = 0; i < in.height; i++) {
        const float y = -half_h + 0.5f + static_cast<float>(i);
        for (int64_t j = 0; j < in.width; j++) {
            const float x = -half_w + 0.5f + static_cast<float>(j);
            const float gx = x * r[0] + y * r[1] + r[2], gy = x * r[3] + y * r[4] + r[5];
            const float ix = std::nearbyint(((gx + 1.0f) * W - 1.0f) / 2.0f);
            const float iy = std::nearbyint(((gy + 1.0f) * H - 1.0f) / 2.0f);
            if (ix < 0.0f || iy < 0.0f || ix > W - 1.0f || iy > H - 1.0f) continue;
            for (int64_t c = 0; c < in.channels; c++) {
                out.at(i, j, c) = in.at(static_cast<int64_t>(iy), static_cast<int64_t>(ix), c);
            }
        }
    }
    return out;
}

// ---- colour: F.adjust_* on uint8 tensors ----------------------------------------------------

// _blend: (ratio img1 + (1 - ratio) img2).clamp(0, 255).to(uint8), in fp32; img2 per pixel
// (one value for every channel) from `other`.
template <typename Other>
Bytes blend(const Bytes& img, double ratio, Other other) {
    const float r1 = static_cast<float>(ratio), r2 = static_cast<float>(1.0 - ratio);
    Bytes out = img;
    for (int64_t y = 0; y < img.height; y++) {
        for (int64_t x = 0; x < img.width; x++) {
            for (int64_t c = 0; c < img.channels; c++) {
                out.at(y, x, c) = clamp_to_byte(r1 * static_cast<float>(img.at(y, x, c)) + r2 * other(y, x, c));
            }
        }
    }
    return out;
}

// rgb_to_grayscale of a uint8 image: (0.2989 r + 0.587 g + 0.114 b).to(uint8).
uint8_t grey(const Bytes& img, int64_t y, int64_t x) {
    const float l = 0.2989f * static_cast<float>(img.at(y, x, 0)) + 0.587f * static_cast<float>(img.at(y, x, 1)) +
                    0.114f * static_cast<float>(img.at(y, x, 2));
    return static_cast<uint8_t>(l);
}

Bytes adjust_contrast(const Bytes& img, double factor) {
    double sum = 0.0;  // the sum of bytes, exact; torch divides it in fp32
    for (int64_t y = 0; y < img.height; y++) {
        for (int64_t x = 0; x < img.width; x++) {
            if (img.channels == 3) {
                sum += grey(img, y, x);
            } else {
                for (int64_t c = 0; c < img.channels; c++) sum += img.at(y, x, c);
            }
        }
    }
    const int64_t count = img.height * img.width * (img.channels == 3 ? 1 : img.channels);
    const float mean = static_cast<float>(sum) / static_cast<float>(count);
    return blend(img, factor, [&](int64_t, int64_t, int64_t) { return mean; });
}

// _blurred_degenerate_image: the 3 x 3 kernel [1 1 1; 1 5 1; 1 1 1] / 13 over the interior,
// rounded half to even; the border keeps the image's pixels.
Bytes blurred(const Bytes& img) {
    Bytes out = img;
    const float side = 1.0f / 13.0f, centre = 5.0f / 13.0f;
    for (int64_t y = 1; y + 1 < img.height; y++) {
        for (int64_t x = 1; x + 1 < img.width; x++) {
            for (int64_t c = 0; c < img.channels; c++) {
                float s = 0.0f;
                for (int64_t dy = -1; dy <= 1; dy++) {
                    for (int64_t dx = -1; dx <= 1; dx++) {
                        s += (dy == 0 && dx == 0 ? centre : side) * static_cast<float>(img.at(y + dy, x + dx, c));
                    }
                }
                out.at(y, x, c) = static_cast<uint8_t>(std::nearbyint(s));
            }
        }
    }
    return out;
}

Bytes autocontrast(const Bytes& img) {
    Bytes out = img;
    for (int64_t c = 0; c < img.channels; c++) {
        uint8_t lo = 255, hi = 0;
        for (int64_t p = 0; p < img.height * img.width; p++) {
            lo = std::min(lo, img.hwc[static_cast<size_t>(p * img.channels + c)]);
            hi = std::max(hi, img.hwc[static_cast<size_t>(p * img.channels + c)]);
        }
        // 255.0 / tensor is computed by torch as reciprocal(tensor) * 255
        float minimum = lo, scale = (1.0f / static_cast<float>(hi - lo)) * 255.0f;
        if (hi == lo) minimum = 0.0f, scale = 1.0f;
        for (int64_t p = 0; p < img.height * img.width; p++) {
            uint8_t& v = out.hwc[static_cast<size_t>(p * img.channels + c)];
            v = clamp_to_byte((static_cast<float>(v) - minimum) * scale);
        }
    }
    return out;
}

// _scale_channel per channel: the histogram's cumulative sum, in steps of
// floor(sum of all bins but the last non-empty one / 255), gives the lookup table, shifted by one.
Bytes equalize(const Bytes& img) {
    Bytes out = img;
    const int64_t pixels = img.height * img.width;
    for (int64_t c = 0; c < img.channels; c++) {
        int64_t hist[256] = {};
        for (int64_t p = 0; p < pixels; p++) hist[img.hwc[static_cast<size_t>(p * img.channels + c)]]++;
        int64_t last = 255;
        while (last > 0 && hist[last] == 0) last--;
        int64_t below_last = 0;
        for (int64_t v = 0; v < last; v++) below_last += hist[v];
        const int64_t step = below_last / 255;
        if (step == 0) continue;
        uint8_t lut[256];
        int64_t cumulative = 0;
        lut[0] = 0;
        for (int64_t v = 0; v < 255; v++) {
            cumulative += hist[v];
            lut[v + 1] = static_cast<uint8_t>(std::min<int64_t>(255, (cumulative + step / 2) / step));
        }
        for (int64_t p = 0; p < pixels; p++) {
            uint8_t& v = out.hwc[static_cast<size_t>(p * img.channels + c)];
            v = lut[v];
        }
    }
    return out;
}

Bytes apply(const Bytes& img, AugmentOp op, double magnitude) {
    const double cx = -0.5 * static_cast<double>(img.width), cy = -0.5 * static_cast<double>(img.height);
    const auto shear = [](double m) { return std::atan(m) * 180.0 / kPi; };
    switch (op) {
        case AugmentOp::Identity: return img;
        // shear about the top-left corner (center [0, 0] in pixels)
        case AugmentOp::ShearX: return warp_nearest(img, inverse_affine(cx, cy, 0.0, 0.0, 0.0, shear(magnitude), 0.0));
        case AugmentOp::ShearY: return warp_nearest(img, inverse_affine(cx, cy, 0.0, 0.0, 0.0, 0.0, shear(magnitude)));
        case AugmentOp::TranslateX:
            return warp_nearest(img, inverse_affine(0.0, 0.0, 0.0, std::trunc(magnitude), 0.0, 0.0, 0.0));
        case AugmentOp::TranslateY:
            return warp_nearest(img, inverse_affine(0.0, 0.0, 0.0, 0.0, std::trunc(magnitude), 0.0, 0.0));
        // F.rotate passes -angle to the same matrix (counter-clockwise for positive angles)
        case AugmentOp::Rotate: return warp_nearest(img, inverse_affine(0.0, 0.0, -magnitude, 0.0, 0.0, 0.0, 0.0));
        case AugmentOp::Brightness: return blend(img, 1.0 + magnitude, [](int64_t, int64_t, int64_t) { return 0.0f; });
        case AugmentOp::Color:
            if (img.channels != 3) return img;
            return blend(img, 1.0 + magnitude, [&](int64_t y, int64_t x, int64_t) {
                return static_cast<float>(grey(img, y, x));
            });
        case AugmentOp::Contrast: return adjust_contrast(img, 1.0 + magnitude);
        case AugmentOp::Sharpness: {
            if (img.width <= 2 || img.height <= 2) return img;
            const Bytes degenerate = blurred(img);
            return blend(img, 1.0 + magnitude, [&](int64_t y, int64_t x, int64_t c) {
                return static_cast<float>(degenerate.at(y, x, c));
            });
        }
        case AugmentOp::Posterize: {
            const int64_t bits = static_cast<int64_t>(magnitude);
            if (bits < 0 || bits > 8) fail("posterize: bits must be in [0, 8], got {}", bits);
            const auto mask = static_cast<uint8_t>(0xff << (8 - bits));
            Bytes out = img;
            for (uint8_t& v : out.hwc) v &= mask;
            return out;
        }
        case AugmentOp::Solarize: {
            Bytes out = img;
            for (uint8_t& v : out.hwc) v = v >= magnitude ? static_cast<uint8_t>(255 - v) : v;
            return out;
        }
        case AugmentOp::AutoContrast: return autocontrast(img);
        case AugmentOp::Equalize: return equalize(img);
    }
    return img;
}

// torch.linspace(start, end, steps)[i] in fp32, as torch 1.13's CPU kernel computes it (which
// the magnitude tables come from): in blocks of 16 values, two vectors of 8 that each add i * step
// to a first value; after the last full block, each value alone with a fused multiply-add, from
// the start for the first half and from the end for the second.
float linspace_at(float start, float end, int64_t steps, int64_t i) {
    if (steps == 1) return start;
    const float step = (end - start) / static_cast<float>(steps - 1);
    auto alone = [&](int64_t k) {
        return k < steps / 2 ? std::fma(step, static_cast<float>(k), start)
                             : std::fma(-step, static_cast<float>(steps - k - 1), end);
    };
    if (i < steps / 16 * 16) {
        const int64_t first = i / 8 * 8;
        return alone(first) + static_cast<float>(i - first) * step;
    }
    return alone(i);
}

}  // namespace

const char* augment_op_name(AugmentOp op) {
    static const char* const names[kAugmentOps] = {"Identity",   "ShearX",   "ShearY",    "TranslateX",   "TranslateY",
                                                   "Rotate",     "Brightness", "Color",   "Contrast",     "Sharpness",
                                                   "Posterize",  "Solarize", "AutoContrast", "Equalize"};
    return names[static_cast<int>(op)];
}

AugmentMagnitude augment_magnitude(AugmentOp op, int64_t bin, int64_t bins, int64_t height, int64_t width) {
    if (bins < 2 || bin < 0 || bin >= bins) {
        fail("RandAugment: magnitude must be in [0, {}) with at least 2 bins, got {} of {}", bins, bin, bins);
    }
    auto range = [&](float hi) { return AugmentMagnitude{linspace_at(0.0f, hi, bins, bin), true}; };
    switch (op) {
        case AugmentOp::Identity:
        case AugmentOp::AutoContrast:
        case AugmentOp::Equalize: return {0.0, false};
        case AugmentOp::ShearX:
        case AugmentOp::ShearY: return range(0.3f);
        // (the range's end computed in double, as Python does, then taken to fp32 by linspace)
        case AugmentOp::TranslateX: return range(static_cast<float>(150.0 / 331.0 * static_cast<double>(width)));
        case AugmentOp::TranslateY: return range(static_cast<float>(150.0 / 331.0 * static_cast<double>(height)));
        case AugmentOp::Rotate: return range(30.0f);
        case AugmentOp::Brightness:
        case AugmentOp::Color:
        case AugmentOp::Contrast:
        case AugmentOp::Sharpness: return range(0.9f);
        case AugmentOp::Posterize: {  // 8 - round(bin / ((bins - 1) / 4)), the division in fp32
            const float q = static_cast<float>(bin) / (static_cast<float>(bins - 1) / 4.0f);
            return {8.0 - std::nearbyint(q), false};
        }
        case AugmentOp::Solarize: return {linspace_at(255.0f, 0.0f, bins, bin), false};
    }
    return {0.0, false};
}

Image apply_augment_op(const Image& img, AugmentOp op, double magnitude) {
    return to_image(apply(to_bytes(img), op, magnitude));
}

Image rand_augment(const Image& img, int64_t num_ops, int64_t magnitude, int64_t bins, Rng& rng) {
    Bytes b = to_bytes(img);
    for (int64_t i = 0; i < num_ops; i++) {
        const auto op = static_cast<AugmentOp>(rng.next_u64() % kAugmentOps);
        AugmentMagnitude m = augment_magnitude(op, magnitude, bins, b.height, b.width);
        if (m.is_signed && rng.uniform() < 0.5) m.value = -m.value;
        b = apply(b, op, m.value);
    }
    return to_image(b);
}

}  // namespace vit
