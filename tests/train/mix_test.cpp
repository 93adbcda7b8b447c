// Mixup and CutMix against timm's formulas run in PyTorch (mix.safetensors, make_fixtures.py), the
// draws' statistics, and the soft-target cross-entropy against PyTorch and the hard-label one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/kernel_test_util.h"
#include "test_util.h"
#include "vit/error.h"
#include "vit/mix.h"
#include "vit/model.h"
#include "vit/rng.h"
#include "vit/safetensors.h"

namespace vit {
namespace {

std::string fixture_dir() {
    const char* dir = std::getenv("VIT_FIXTURE_DIR");
    return dir != nullptr ? dir : "fixtures";
}

// Each case: the images and soft targets for a given lambda or box equal PyTorch's (1e-6: the
// same fp32 products and sums), and the soft cross-entropy and its gradient equal autograd's.
TEST(Mix, MatchesTimmInPyTorch) {
    SafetensorsFile f = SafetensorsFile::open(fixture_dir() + "/mix.safetensors");
    const auto cases = nlohmann::json::parse(f.metadata().at("cases"));
    const auto shape = nlohmann::json::parse(f.metadata().at("shape"));
    const int64_t C = shape[0], H = shape[1], W = shape[2];
    const int64_t K = std::stoll(f.metadata().at("classes"));
    const float smoothing = std::stof(f.metadata().at("smoothing"));
    for (size_t i = 0; i < cases.size(); i++) {
        const int64_t B = cases[i]["batch"];
        MixDraw draw;
        if (cases[i]["box"].is_null()) {
            draw.lam = cases[i]["lam"];
        } else {
            draw.cutmix = true;
            for (int j = 0; j < 4; j++) draw.box[j] = cases[i]["box"][j];
            draw.lam = 1.0 - static_cast<double>((draw.box[1] - draw.box[0]) * (draw.box[3] - draw.box[2])) /
                                 static_cast<double>(H * W);
        }
        const std::string name = "case" + std::to_string(i);
        std::vector<float> images = f.read_f32(name + ".images");
        std::vector<int32_t> labels;
        for (float l : f.read_f32(name + ".labels")) labels.push_back(static_cast<int32_t>(l));
        const std::vector<float> targets = apply_mix(images.data(), labels.data(), B, C, H, W, K, smoothing, draw);
        EXPECT_TRUE(test::all_near(images, f.read_f32(name + ".mixed"), {1e-6, 1e-6}, name + " images"));
        EXPECT_TRUE(test::all_near(targets, f.read_f32(name + ".targets"), {1e-6, 1e-6}, name + " targets"));

        const std::vector<float> logits = f.read_f32(name + ".logits");
        const Loss loss = soft_cross_entropy(logits.data(), targets.data(), B, K);
        EXPECT_NEAR(loss.mean, f.read_f32(name + ".loss")[0], 1e-5) << name;
        EXPECT_TRUE(test::all_near(loss.dlogits, f.read_f32(name + ".dlogits"), {1e-6, 1e-5}, name + " dlogits"));
    }
}

// With label-smoothed one-hot targets the soft loss is the hard-label loss (itself checked
// against PyTorch in the parity tests).
TEST(Mix, SoftCrossEntropyOfOneHotTargetsIsTheHardLabelLoss) {
    const int64_t B = 3, K = 7;
    const float eps = 0.1f;
    const std::vector<float> logits = test::random_floats(B * K, 41, 3.0);
    const std::vector<int32_t> labels = {6, 0, 3};
    std::vector<float> targets(static_cast<size_t>(B * K), eps / K);
    for (int64_t b = 0; b < B; b++) targets[b * K + labels[b]] += 1.0f - eps;
    const Loss soft = soft_cross_entropy(logits.data(), targets.data(), B, K);
    const Loss hard = cross_entropy(logits.data(), labels.data(), B, K, eps);
    EXPECT_NEAR(soft.mean, hard.mean, 1e-6);
    EXPECT_TRUE(test::all_near(soft.dlogits, hard.dlogits, {1e-7, 1e-6}, "dlogits"));

    targets[0] += 0.5f;  // no longer a distribution
    EXPECT_THROW(soft_cross_entropy(logits.data(), targets.data(), B, K), Error);
}

// Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1)); 20000 draws put the sample mean within
// 0.01 and the variance within 5% (both about 4 standard errors).
TEST(Mix, BetaDrawsHaveTheRightMoments) {
    for (double a : {0.2, 0.8, 1.0, 3.0}) {
        Rng rng(5);
        double sum = 0.0, sum2 = 0.0;
        const int n = 20000;
        for (int i = 0; i < n; i++) {
            const double x = rng.beta(a, a);
            ASSERT_TRUE(x >= 0.0 && x <= 1.0);
            sum += x;
            sum2 += x * x;
        }
        const double mean = sum / n, var = sum2 / n - mean * mean, expected = 1.0 / (4.0 * (2.0 * a + 1.0));
        EXPECT_NEAR(mean, 0.5, 0.01) << "a = " << a;
        EXPECT_NEAR(var, expected, 0.05 * expected) << "a = " << a;
    }
}

// The draws: deterministic per seed; prob 0 never mixes; CutMix boxes lie in the image and their
// lam is 1 - the area fraction; with both alphas on, about switch_prob of the batches are CutMix.
TEST(Mix, DrawsFollowTheOptions) {
    const MixOptions both{.mixup_alpha = 0.8f, .cutmix_alpha = 1.0f};
    int cutmix = 0;
    for (uint64_t seed = 0; seed < 400; seed++) {
        const MixDraw d = draw_mix(both, 28, 20, seed), again = draw_mix(both, 28, 20, seed);
        EXPECT_EQ(d.lam, again.lam);
        EXPECT_EQ(d.cutmix, again.cutmix);
        ASSERT_TRUE(d.lam >= 0.0 && d.lam <= 1.0);
        if (d.cutmix) {
            cutmix++;
            EXPECT_TRUE(0 <= d.box[0] && d.box[0] <= d.box[1] && d.box[1] <= 28);
            EXPECT_TRUE(0 <= d.box[2] && d.box[2] <= d.box[3] && d.box[3] <= 20);
            EXPECT_DOUBLE_EQ(d.lam, 1.0 - static_cast<double>((d.box[1] - d.box[0]) * (d.box[3] - d.box[2])) / 560.0);
        }
    }
    EXPECT_GT(cutmix, 160);  // binomial(400, 0.5): mean 200, sd 10
    EXPECT_LT(cutmix, 240);
    EXPECT_EQ(draw_mix({.mixup_alpha = 0.8f, .prob = 0.0f}, 28, 28, 3).lam, 1.0);
    EXPECT_EQ(draw_mix({}, 28, 28, 3).lam, 1.0);
    EXPECT_THROW(draw_mix({.mixup_alpha = -1.0f}, 28, 28, 3), Error);
    EXPECT_THROW(draw_mix({.mixup_alpha = 1.0f, .prob = 1.5f}, 28, 28, 3), Error);

    // An unmixed batch keeps its images and gets label-smoothed one-hot targets.
    std::vector<float> images = test::random_floats(2 * 4, 3, 1.0);
    const std::vector<float> before = images;
    const std::vector<int32_t> labels = {1, 2};
    const std::vector<float> t = apply_mix(images.data(), labels.data(), 2, 1, 2, 2, 3, 0.3f, MixDraw{});
    EXPECT_EQ(images, before);
    EXPECT_FLOAT_EQ(t[1], 0.8f);
    EXPECT_FLOAT_EQ(t[0], 0.1f);
    const std::vector<int32_t> bad = {1, 3};
    EXPECT_THROW(apply_mix(images.data(), bad.data(), 2, 1, 2, 2, 3, 0.0f, MixDraw{}), Error);
}

}  // namespace
}  // namespace vit
