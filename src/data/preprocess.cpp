// Preprocessing presets: timm's, torchvision's and Hugging Face's evaluation transforms.
#include "vit/preprocess.h"

#include "vit/error.h"

namespace vit {

namespace {

// Pillow resizes 8-bit images: the result is clamped and rounded to 1/255 steps.
Transform resize_8bit(int64_t height, int64_t width, Interpolation interpolation) {
    Transform t = make_resize(height, width, interpolation);
    t.round_to_8bit = true;
    return t;
}

// A preset's RGB normalisation for a model of `channels` (1: grey, the luma-weighted mean of the
// three, as the image's grey value is; 3: as it is).
Transform normalize_for(int64_t channels, const std::vector<float>& mean, const std::vector<float>& std) {
    if (channels == 3) return make_normalize(mean, std);
    constexpr float luma[3] = {0.299f, 0.587f, 0.114f};
    float m = 0.0f, s = 0.0f;
    for (size_t c = 0; c < 3; c++) {
        m += luma[c] * mean[c];
        s += luma[c] * std[c];
    }
    return make_normalize({m}, {s});
}

}  // namespace

std::vector<std::string> preprocess_names() { return {"timm", "torchvision", "hf"}; }

Pipeline preprocess_pipeline(const std::string& name, int64_t H, int64_t W, int64_t channels) {
    if (channels != 3 && channels != 1) {
        fail("preprocessing preset '{}' is for RGB (or grey) models; this model takes {} channels", name, channels);
    }
    std::vector<Transform> steps;
    if (name == "timm") {  // crop_pct 0.9
        steps = {resize_8bit(static_cast<int64_t>(static_cast<double>(std::min(H, W)) / 0.9), 0, Interpolation::Bicubic),
                 make_center_crop(H, W), normalize_for(channels, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f})};
    } else if (name == "torchvision") {
        steps = {resize_8bit(std::min(H, W) * 256 / 224, 0, Interpolation::Bilinear), make_center_crop(H, W),
                 normalize_for(channels, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f})};
    } else if (name == "hf") {
        steps = {resize_8bit(H, W, Interpolation::Bilinear), normalize_for(channels, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f})};
    } else {
        fail("unknown preprocessing preset '{}'; expected timm, torchvision or hf", name);
    }
    return Pipeline(std::move(steps), channels, H, W);
}

}  // namespace vit
