// The preprocessing presets against timm's, torchvision's and Hugging Face's transforms run by
// Pillow on the same files (tests/reference/make_weight_fixtures.py).
//
// Tolerance: 1/255 per pixel before normalisation (the bar): Pillow resizes in two
// 8-bit passes, rounding in between; we resize in float and round once.
#include <gtest/gtest.h>

#include <cstdlib>

#include "test_util.h"
#include "vit/image_io.h"
#include "vit/preprocess.h"
#include "vit/safetensors.h"

namespace vit {
namespace {

std::string preprocess_dir() {
    const char* dir = std::getenv("VIT_FIXTURE_DIR");
    return std::string(dir != nullptr ? dir : "fixtures") + "/preprocess/";
}

TEST(Preprocess, PresetsMatchPillowWithinOneLevel) {
    const SafetensorsFile expected = SafetensorsFile::open(preprocess_dir() + "expected.safetensors");
    const std::vector<float> std_of[] = {{0.5f, 0.5f, 0.5f}, {0.229f, 0.224f, 0.225f}, {0.5f, 0.5f, 0.5f}};
    const std::vector<std::string> presets = preprocess_names();
    int checked = 0;
    for (const char* file : {"photo.jpg", "big.png", "grey.png", "rgba.png"}) {
        const Image img = decode_image_file(preprocess_dir() + file, 89'478'485);
        for (auto [h, w] : {std::pair<int64_t, int64_t>{224, 224}, {64, 96}}) {
            for (size_t p = 0; p < presets.size(); p++) {
                const std::string& preset = presets[p];
                const std::string key = fmt::format("{}.{}.{}x{}", file, preset, h, w);
                std::vector<float> out(static_cast<size_t>(3 * h * w));
                Rng rng(0);
                preprocess_pipeline(preset, h, w, 3).apply(img, rng, out.data());
                const std::vector<float> ref = expected.read_f32(key);
                ASSERT_EQ(ref.size(), out.size()) << key;
                for (int64_t ch = 0; ch < 3; ch++) {
                    const int64_t n = h * w;
                    const double tol = 1.0 / 255.0 / std_of[p][static_cast<size_t>(ch)] + 1e-5;
                    EXPECT_TRUE(test::all_near(out.data() + ch * n, ref.data() + ch * n, n, {tol, 0.0},
                                               fmt::format("{} channel {}", key, ch)));
                }
                checked++;
            }
        }
    }
    EXPECT_EQ(checked, 24);
}

TEST(Preprocess, BadNamesAndModels) {
    EXPECT_VIT_ERROR(preprocess_pipeline("imagenet", 224, 224, 3),
                     "unknown preprocessing preset 'imagenet'; expected timm, torchvision or hf");
    EXPECT_VIT_ERROR(preprocess_pipeline("timm", 28, 28, 2),
                     "preprocessing preset 'timm' is for RGB (or grey) models; this model takes 2 channels");
}

// A grey model gets the preset's geometry and the luma-weighted mean and std: on a grey image its
// value is the RGB pipeline's value of the same pixel, normalised the grey way.
TEST(Preprocess, GreyModels) {
    Image img{.height = 40, .width = 50, .channels = 1, .hwc = {}};
    for (int64_t i = 0; i < 40 * 50; i++) img.hwc.push_back(static_cast<float>(i % 251) / 255.0f);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    const float m = 0.299f * mean[0] + 0.587f * mean[1] + 0.114f * mean[2];
    const float s = 0.299f * std[0] + 0.587f * std[1] + 0.114f * std[2];
    std::vector<float> rgb(3 * 32 * 32), grey(32 * 32);
    Rng rng(0);
    preprocess_pipeline("torchvision", 32, 32, 3).apply(img, rng, rgb.data());
    preprocess_pipeline("torchvision", 32, 32, 1).apply(img, rng, grey.data());
    for (size_t i = 0; i < grey.size(); i++) {
        const float v = rgb[i] * std[0] + mean[0];  // channel 0 of the RGB output, unnormalised
        ASSERT_NEAR(grey[i], (v - m) / s, 1e-5) << i;
    }
}

}  // namespace
}  // namespace vit
