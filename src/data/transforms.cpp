// Transforms on channel-last float images, following torchvision.transforms on tensors.
#include "vit/transforms.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"
#include "vit/error.h"
#include "vit/rand_augment.h"

namespace vit {

namespace {

// An h x w box at a uniform position inside a height x width area (the top drawn first).
CropBox place_box(int64_t h, int64_t w, int64_t height, int64_t width, Rng& rng) {
    const int64_t top = static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(height - h + 1));
    const int64_t left = static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(width - w + 1));
    return {top, left, h, w};
}

}  // namespace

Image resize(const Image& img, int64_t height, int64_t width, Interpolation interp) {
    if (height == img.height && width == img.width) {
        return img;
    }
    Image out{height, width, img.channels, std::vector<float>(static_cast<size_t>(height * width * img.channels))};
    cpu::resize_forward(out.hwc.data(), img.hwc.data(), img.height, img.width, height, width, img.channels,
                        interp == Interpolation::Bicubic ? cpu::Filter::Bicubic : cpu::Filter::Bilinear,
                        /*antialias=*/true);
    return out;
}

Image resize_shorter_side(const Image& img, int64_t size, Interpolation interp) {
    if (img.height <= img.width) {
        return resize(img, size, std::max<int64_t>(1, size * img.width / img.height), interp);
    }
    return resize(img, std::max<int64_t>(1, size * img.height / img.width), size, interp);
}

Image crop(const Image& img, int64_t top, int64_t left, int64_t height, int64_t width) {
    Image out{height, width, img.channels, std::vector<float>(static_cast<size_t>(height * width * img.channels), 0.0f)};
    for (int64_t y = std::max<int64_t>(0, -top); y < height && top + y < img.height; y++) {
        for (int64_t x = std::max<int64_t>(0, -left); x < width && left + x < img.width; x++) {
            std::copy_n(img.at(top + y, left + x), img.channels, out.at(y, x));
        }
    }
    return out;
}

Image center_crop(const Image& img, int64_t height, int64_t width) {
    // torchvision: a crop larger than the image pads (size difference // 2 before); otherwise the
    // offset is Python's round((size - crop) / 2), which rounds halves to even, as nearbyint does.
    auto offset = [](int64_t size, int64_t crop_size) {
        return crop_size > size ? -((crop_size - size) / 2)
                                : static_cast<int64_t>(std::nearbyint(static_cast<double>(size - crop_size) / 2.0));
    };
    return crop(img, offset(img.height, height), offset(img.width, width), height, width);
}

Image horizontal_flip(const Image& img) {
    Image out{img.height, img.width, img.channels, std::vector<float>(img.hwc.size())};
    for (int64_t y = 0; y < img.height; y++) {
        for (int64_t x = 0; x < img.width; x++) {
            std::copy_n(img.at(y, img.width - 1 - x), img.channels, out.at(y, x));
        }
    }
    return out;
}

Image to_channels(const Image& img, int64_t channels) {
    if (img.channels == channels) {
        return img;
    }
    Image out{img.height, img.width, channels, std::vector<float>(static_cast<size_t>(img.height * img.width * channels))};
    const int64_t pixels = img.height * img.width;
    if (img.channels == 1 && channels == 3) {
        for (int64_t p = 0; p < pixels; p++) std::fill_n(out.hwc.data() + p * 3, 3, img.hwc[static_cast<size_t>(p)]);
    } else if (img.channels == 3 && channels == 1) {
        for (int64_t p = 0; p < pixels; p++) {
            const float* s = img.hwc.data() + p * 3;
            out.hwc[static_cast<size_t>(p)] = 0.299f * s[0] + 0.587f * s[1] + 0.114f * s[2];
        }
    } else {
        fail("cannot convert an image with {} channels to {} channels", img.channels, channels);
    }
    return out;
}

CropBox random_resized_crop_box(int64_t height, int64_t width, const float scale[2], const float ratio[2], Rng& rng) {
    const double area = static_cast<double>(height * width);
    const double log_r0 = std::log(ratio[0]), log_r1 = std::log(ratio[1]);
    for (int attempt = 0; attempt < 10; attempt++) {
        const double target = area * (scale[0] + (scale[1] - scale[0]) * rng.uniform());
        const double aspect = std::exp(log_r0 + (log_r1 - log_r0) * rng.uniform());
        const int64_t w = std::llround(std::sqrt(target * aspect));
        const int64_t h = std::llround(std::sqrt(target / aspect));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            return place_box(h, w, height, width, rng);
        }
    }
    const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
    int64_t w = width, h = height;
    if (in_ratio < ratio[0]) {
        h = std::llround(static_cast<double>(w) / ratio[0]);
    } else if (in_ratio > ratio[1]) {
        w = std::llround(static_cast<double>(h) * ratio[1]);
    }
    return {(height - h) / 2, (width - w) / 2, h, w};
}

CropBox random_erasing_box(int64_t height, int64_t width, const float scale[2], const float ratio[2], Rng& rng) {
    const double area = static_cast<double>(height * width);
    const double log_r0 = std::log(ratio[0]), log_r1 = std::log(ratio[1]);
    for (int attempt = 0; attempt < 10; attempt++) {
        const double target = area * (scale[0] + (scale[1] - scale[0]) * rng.uniform());
        const double aspect = std::exp(log_r0 + (log_r1 - log_r0) * rng.uniform());
        const int64_t h = std::llround(std::sqrt(target * aspect));
        const int64_t w = std::llround(std::sqrt(target / aspect));
        if (h < height && w < width) {
            return place_box(h, w, height, width, rng);
        }
    }
    return {};
}

namespace {

// Writes the value (or noise) into box b of a [H, W, C] (channel_stride 1, pixel_stride C) or
// [C, H, W] (pixel_stride 1, channel_stride H * W) array of width `width`.
void erase_box(float* data, int64_t width, int64_t channels, int64_t pixel_stride, int64_t channel_stride,
               const CropBox& b, const Transform& t, Rng& rng) {
    for (int64_t c = 0; c < channels; c++) {
        for (int64_t y = b.top; y < b.top + b.height; y++) {
            for (int64_t x = b.left; x < b.left + b.width; x++) {
                data[c * channel_stride + (y * width + x) * pixel_stride] =
                    t.erase_random ? static_cast<float>(rng.normal()) : t.erase_value;
            }
        }
    }
}

// RandomErasing: with probability p, a random_erasing_box of the image is erased.
CropBox draw_erasing(const Transform& t, int64_t height, int64_t width, Rng& rng) {
    return rng.uniform() < t.p ? random_erasing_box(height, width, t.scale, t.ratio, rng) : CropBox{};
}

}  // namespace

Transform make_random_erasing(double p) {
    Transform t;
    t.op = TransformOp::RandomErasing;
    t.p = p;
    t.scale[0] = 0.02f;
    t.scale[1] = 0.33f;
    t.ratio[0] = 0.3f;
    t.ratio[1] = 3.3f;
    return t;
}

Transform make_rand_augment(int64_t num_ops, int64_t magnitude) {
    Transform t;
    t.op = TransformOp::RandAugment;
    t.num_ops = num_ops;
    t.magnitude = magnitude;
    return t;
}

Transform make_resize(int64_t height, int64_t width, Interpolation interpolation) {
    Transform t;
    t.op = TransformOp::Resize;
    t.height = height;
    t.width = width;
    t.interpolation = interpolation;
    return t;
}

Transform make_center_crop(int64_t height, int64_t width) {
    Transform t;
    t.op = TransformOp::CenterCrop;
    t.height = height;
    t.width = width;
    return t;
}

Transform make_normalize(std::vector<float> mean, std::vector<float> std) {
    Transform t;
    t.op = TransformOp::Normalize;
    t.mean = std::move(mean);
    t.std = std::move(std);
    return t;
}

const char* transform_name(TransformOp op) {
    switch (op) {
        case TransformOp::Resize: return "resize";
        case TransformOp::CenterCrop: return "center_crop";
        case TransformOp::RandomResizedCrop: return "random_resized_crop";
        case TransformOp::RandomCrop: return "random_crop";
        case TransformOp::HorizontalFlip: return "horizontal_flip";
        case TransformOp::Normalize: return "normalize";
        case TransformOp::RandomErasing: return "random_erasing";
        case TransformOp::RandAugment: return "rand_augment";
    }
    return "?";
}

int64_t decode_shorter_side(const std::vector<Transform>& steps) {
    if (steps.empty() || steps.front().op != TransformOp::Resize) {
        return 0;
    }
    const Transform& t = steps.front();
    return t.width == 0 ? t.height : std::max(t.height, t.width);
}

Pipeline::Pipeline(std::vector<Transform> steps, int64_t channels, int64_t height, int64_t width)
    : steps_(std::move(steps)), channels_(channels), height_(height), width_(width) {
    const auto normalizes = std::count_if(steps_.begin(), steps_.end(), [](const Transform& t) {
        return t.op == TransformOp::Normalize;
    });
    if (normalizes > 1) {
        fail("transform normalize may appear once, got {} of them", normalizes);
    }
    bool normalized = false;
    for (size_t i = 0; i < steps_.size(); i++) {
        const Transform& t = steps_[i];
        const char* name = transform_name(t.op);
        if (normalized && t.op != TransformOp::RandomErasing) {
            fail("transform normalize must come after every transform but random_erasing, but {} (number {} of {}) "
                 "follows it", name, i + 1, steps_.size());
        }
        normalized = normalized || t.op == TransformOp::Normalize;
        const bool sized = t.op != TransformOp::HorizontalFlip && t.op != TransformOp::Normalize &&
                           t.op != TransformOp::RandomErasing && t.op != TransformOp::RandAugment;
        if (sized && (t.height < 1 || t.height > 16384 || t.width < 0 || t.width > 16384 ||
                      (t.width == 0 && t.op != TransformOp::Resize))) {
            fail("transform {}: size must be in [1, 16384], got {}x{}", name, t.height, t.width);
        }
        if (t.op == TransformOp::RandomResizedCrop &&
            !(t.scale[0] > 0 && t.scale[0] <= t.scale[1] && t.scale[1] <= 1 && t.ratio[0] > 0 && t.ratio[0] <= t.ratio[1])) {
            fail("transform {}: expected 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], got scale "
                 "[{}, {}] ratio [{}, {}]", name, t.scale[0], t.scale[1], t.ratio[0], t.ratio[1]);
        }
        if (t.op == TransformOp::RandomCrop && (t.padding < 0 || t.padding > 4096)) {
            fail("transform {}: padding must be in [0, 4096], got {}", name, t.padding);
        }
        if ((t.op == TransformOp::HorizontalFlip || t.op == TransformOp::RandomErasing) && !(t.p >= 0.0 && t.p <= 1.0)) {
            fail("transform {}: p must be in [0, 1], got {}", name, t.p);
        }
        if (t.op == TransformOp::RandomErasing &&
            !(t.scale[0] > 0 && t.scale[0] <= t.scale[1] && t.scale[1] < 1 && t.ratio[0] > 0 && t.ratio[0] <= t.ratio[1] &&
              std::isfinite(t.ratio[1]) && std::isfinite(t.erase_value))) {
            fail("transform {}: expected 0 < scale[0] <= scale[1] < 1, 0 < ratio[0] <= ratio[1] and a finite value, "
                 "got scale [{}, {}] ratio [{}, {}] value {}", name, t.scale[0], t.scale[1], t.ratio[0], t.ratio[1],
                 t.erase_value);
        }
        if (t.op == TransformOp::RandAugment &&
            (t.num_ops < 0 || t.num_ops > 16 || t.magnitude_bins < 2 || t.magnitude_bins > 1000 || t.magnitude < 0 ||
             t.magnitude >= t.magnitude_bins)) {
            fail("transform {}: expected num_ops in [0, 16], num_magnitude_bins in [2, 1000] and magnitude in [0, "
                 "num_magnitude_bins - 1], got num_ops {}, magnitude {}, num_magnitude_bins {}", name, t.num_ops,
                 t.magnitude, t.magnitude_bins);
        }
        if (t.op == TransformOp::Normalize) {
            if (static_cast<int64_t>(t.mean.size()) != channels || static_cast<int64_t>(t.std.size()) != channels) {
                fail("transform normalize: expected {} mean and std values (one per channel), got {} and {}", channels,
                     t.mean.size(), t.std.size());
            }
            for (float s : t.std) {
                if (!(s > 0.0f)) fail("transform normalize: every std must be positive, got {}", s);
            }
        }
    }
}

void Pipeline::apply(const Image& input, Rng& rng, float* out) const {
    Image img = to_channels(input, channels_);
    std::vector<float> mean(static_cast<size_t>(channels_), 0.0f), std(static_cast<size_t>(channels_), 1.0f);
    size_t step = 0;
    for (; step < steps_.size() && steps_[step].op != TransformOp::Normalize; step++) {
        const Transform& t = steps_[step];
        switch (t.op) {
            case TransformOp::Resize:
                img = t.width == 0 ? resize_shorter_side(img, t.height, t.interpolation)
                                   : resize(img, t.height, t.width, t.interpolation);
                if (t.round_to_8bit) {
                    for (float& v : img.hwc) v = std::nearbyint(std::clamp(v, 0.0f, 1.0f) * 255.0f) / 255.0f;
                }
                break;
            case TransformOp::CenterCrop: img = center_crop(img, t.height, t.width); break;
            case TransformOp::RandomResizedCrop: {
                CropBox b = random_resized_crop_box(img.height, img.width, t.scale, t.ratio, rng);
                img = resize(crop(img, b.top, b.left, b.height, b.width), t.height, t.width, t.interpolation);
                break;
            }
            case TransformOp::RandomCrop: {
                const int64_t H = img.height + 2 * t.padding, W = img.width + 2 * t.padding;
                if (H < t.height || W < t.width) {
                    fail("transform random_crop: {}x{} crop of a {}x{} image padded to {}x{}", t.height, t.width,
                         img.height, img.width, H, W);
                }
                const CropBox b = place_box(t.height, t.width, H, W, rng);
                img = crop(img, b.top - t.padding, b.left - t.padding, t.height, t.width);
                break;
            }
            case TransformOp::HorizontalFlip:
                if (rng.uniform() < t.p) img = horizontal_flip(img);
                break;
            case TransformOp::RandAugment: img = rand_augment(img, t.num_ops, t.magnitude, t.magnitude_bins, rng); break;
            case TransformOp::RandomErasing:
                erase_box(img.hwc.data(), img.width, img.channels, img.channels, 1,
                          draw_erasing(t, img.height, img.width, rng), t, rng);
                break;
            case TransformOp::Normalize: break;  // the loop stops before it
        }
    }
    if (step < steps_.size()) {  // normalize, applied while writing out; only erasing follows it
        mean = steps_[step].mean;
        std = steps_[step].std;
        step++;
    }
    if (img.height != height_ || img.width != width_) {
        fail("after the transforms an image is {}x{}, but the model takes {}x{} (add a resize or crop)", img.height,
             img.width, height_, width_);
    }
    const int64_t pixels = height_ * width_;
    for (int64_t c = 0; c < channels_; c++) {
        for (int64_t p = 0; p < pixels; p++) {
            out[c * pixels + p] = (img.hwc[static_cast<size_t>(p * channels_ + c)] - mean[static_cast<size_t>(c)]) /
                                  std[static_cast<size_t>(c)];
        }
    }
    for (; step < steps_.size(); step++) {
        erase_box(out, width_, channels_, 1, pixels, draw_erasing(steps_[step], height_, width_, rng), steps_[step], rng);
    }
}

}  // namespace vit
