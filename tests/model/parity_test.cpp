// The whole model against PyTorch: fixtures written at test time by tests/reference/make_parity.py
// (Debian's PyTorch 1.13) hold random weights, inputs, the output, the loss, every parameter
// gradient, and the losses and parameters after 5 AdamW steps.
//
// Tolerances (|a - e| <= atol + rtol |e|), fp32 against fp32:
//  - output 1e-4 / 1e-4: a dozen fp32 sums of at most 128 terms each, plus our exp/erf
//    polynomials (relative error ~2e-7), stay near 1e-6 here; 1e-4 leaves room for other
//    summation orders (oneDNN blocking) without hiding a wrong formula, which is off by > 1e-2.
//  - loss 1e-5 relative.
//  - gradients 1e-3 / 1e-3: backward sums over batch and tokens, with cancellation in the
//    LayerNorm and softmax backward formulas.
//  - AdamW: losses 1e-4, parameters 1e-4 absolute after 5 steps of lr 1e-3 (an error in the
//    update moves a parameter by ~lr = 1e-3 per step).
// Mixed precision (parity_bf16_*) is compared with PyTorch running the same bf16 arithmetic
// (vit_ref.Bf16Linear and Bf16Matmul: operands rounded to bf16, fp32 sums), so output, loss and
// gradients keep the fp32 tolerances above; the AdamW steps get the looser bound explained below.
// That holds only where no value lies within summation noise of a bf16 rounding boundary, so
// make_fixtures.py picks such seeds (flip_free_seed).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "vit/checkpoint.h"
#include "vit/model.h"
#include "vit/optimizer.h"
#include "vit/safetensors.h"

namespace vit {
namespace {

std::string fixture_dir() {
    const char* dir = std::getenv("VIT_FIXTURE_DIR");
    return dir != nullptr ? dir : "fixtures";
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, MatchesPyTorch) {
    const std::string path = fixture_dir() + "/parity_" + GetParam() + ".safetensors";
    ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing; run tests/reference/make_parity.py";
    SafetensorsFile f = SafetensorsFile::open(path);
    ASSERT_EQ(f.metadata().at("fixture_version"), "1") << "stale fixture; re-run make_parity.py";
    const ViTConfig c = config_from_safetensors(f);
    ViT model(c);
    const bool mixed = f.metadata().at("precision") == "bf16";
    model.set_precision(mixed ? Precision::BF16 : Precision::F32);
    LoadReport report = load_weights(model, f, {.strict = false});
    ASSERT_TRUE(report.missing.empty()) << "missing " << report.missing.front();

    const std::vector<float> images = f.read_f32("input.images");
    const int64_t B = f.get("input.images").shape[0];
    std::vector<int32_t> targets;
    for (float t : f.read_f32("input.targets")) {
        targets.push_back(static_cast<int32_t>(t));
    }
    const std::vector<float> dfeatures = f.read_f32("input.dfeatures");
    const float smoothing = std::stof(f.metadata().at("smoothing"));
    const int64_t out_dim = c.output_dim();

    // One objective evaluation: forward, loss, backward. Returns the loss.
    auto objective = [&](std::vector<float>* output) {
        model.zero_grad();
        const float* out = model.forward(images.data(), B, {.training = true});
        if (output != nullptr) {
            output->assign(out, out + B * out_dim);
        }
        if (c.num_classes > 0) {
            Loss loss = cross_entropy(out, targets.data(), B, c.num_classes, smoothing);
            model.backward(loss.dlogits.data());
            return static_cast<double>(loss.mean);
        }
        double loss = 0.0;
        for (int64_t i = 0; i < B * out_dim; i++) {
            loss += static_cast<double>(out[i]) * dfeatures[static_cast<size_t>(i)];
        }
        model.backward(dfeatures.data());
        return loss;
    };

    std::vector<float> output;
    double loss = objective(&output);
    EXPECT_TRUE(test::all_near(output, f.read_f32("expected.output"), {1e-4, 1e-4}, "output"));
    const float expected_loss = f.read_f32("expected.loss")[0];
    EXPECT_NEAR(loss, expected_loss, 1e-5 * std::max(1.0f, std::fabs(expected_loss))) << "loss";
    for (const ParamInfo& p : model.params()) {
        std::vector<float> expected = f.read_f32("grad." + p.name);
        EXPECT_TRUE(test::all_near(model.grad_data() + p.offset, expected.data(), p.numel, {1e-3, 1e-3},
                                   "grad." + p.name));
    }

    // The inference path (shared buffers, residual stream in place) gives the same output.
    const float* infer = model.forward(images.data(), B, {});
    EXPECT_TRUE(test::all_near(infer, output.data(), B * out_dim, {1e-6, 1e-6}, "inference output"));

    if (mixed) {
        // The oracle is bf16 arithmetic, not fp32 with looser tolerances: fp32 is far from it.
        model.set_precision(Precision::F32);
        const float* fp32 = model.forward(images.data(), B, {});
        EXPECT_FALSE(test::all_near(fp32, output.data(), B * out_dim, {1e-4, 1e-4}, "fp32 vs bf16"));
        model.set_precision(Precision::BF16);
    }

    // 5 AdamW steps with PyTorch's hyper-parameters and parameter groups.
    auto hp = nlohmann::json::parse(f.metadata().at("adamw"));
    Optimizer opt(model, {.kind = OptimizerKind::AdamW, .lr = hp["lr"].get<float>(),
                          .beta1 = hp["betas"][0].get<float>(), .beta2 = hp["betas"][1].get<float>(),
                          .eps = hp["eps"].get<float>(), .weight_decay = hp["weight_decay"].get<float>()});
    std::vector<float> losses;
    const int steps = std::stoi(f.metadata().at("steps"));
    for (int s = 0; s < steps; s++) {
        losses.push_back(static_cast<float>(objective(nullptr)));
        opt.step();
    }
    // In bf16 the output gradient is rounded to 8 significant bits before the weight-gradient
    // product, so gradient elements near zero carry noise of either sign, and Adam's first
    // steps (m / sqrt(v) ~ sign(g)) turn a sign flip into a 2 lr move. Mixed precision is
    // therefore held to: losses within 2e-3 relative, every parameter within 2.5 lr, and 99% of
    // parameters within the fp32 tolerance. A wrong update rule misses by >= lr on most
    // parameters at every step.
    const test::Tol step_tol = mixed ? test::Tol{2.5e-3, 0.0} : test::Tol{1e-4, 1e-4};
    EXPECT_TRUE(test::all_near(losses, f.read_f32("expected.adamw_losses"), mixed ? test::Tol{1e-4, 2e-3} : test::Tol{1e-4, 1e-4},
                               "AdamW losses"));
    int64_t outside_fp32_tol = 0;
    for (const ParamInfo& p : model.params()) {
        std::vector<float> expected = f.read_f32("after." + p.name);
        float* actual = model.param_data() + p.offset;
        if (p.name.ends_with("attn.qkv.bias")) {
            // The key bias adds a constant to each row of scores, which softmax removes: its true
            // gradient is 0 and both sides hold rounding noise (~1e-9, more in bf16) that Adam's
            // m / sqrt(v) turns into +-lr steps. Compare the key part with what AdamW does to a zero
            // gradient: weight decay is off for biases, so the bias stays within 5 * lr of its start.
            const int64_t I = c.inner_dim();
            std::vector<float> start = f.read_f32(p.name);
            for (int64_t i = I; i < 2 * I; i++) {
                EXPECT_NEAR(actual[i], start[static_cast<size_t>(i)], 5 * 1e-3 + 1e-6) << p.name << " key part";
                actual[i] = expected[static_cast<size_t>(i)];
            }
        }
        // The same holds wherever else the true gradient is 0 up to rounding (a unit that GELU or
        // ReLU switches off for every input): elements with |gradient| < 1e-6 in PyTorch's first
        // step are held to within 5 lr of PyTorch.
        const std::vector<float> first_grad = f.read_f32("grad." + p.name);
        for (int64_t i = 0; i < p.numel; i++) {
            if (std::fabs(first_grad[static_cast<size_t>(i)]) < 1e-6f) {
                EXPECT_NEAR(actual[i], expected[static_cast<size_t>(i)], 5 * 1e-3 + 1e-6) << p.name << " [" << i << "]";
                actual[i] = expected[static_cast<size_t>(i)];
            }
        }
        EXPECT_TRUE(test::all_near(actual, expected.data(), p.numel, step_tol, "after AdamW: " + p.name));
        for (int64_t i = 0; i < p.numel; i++) {
            const double e = expected[static_cast<size_t>(i)];
            outside_fp32_tol += std::fabs(actual[i] - e) > 1e-4 + 1e-4 * std::fabs(e);
        }
    }
    EXPECT_LE(outside_fp32_tol, model.num_parameters() / 100) << "parameters outside 1e-4 after AdamW";
}

INSTANTIATE_TEST_SUITE_P(Configs, Parity,
                         ::testing::Values("token_erf", "mean_fcnorm_tanh", "headdim_prelogits",
                                           "features", "patch_norm", "fashion_shape", "bf16_token_erf",
                                           "bf16_patch_norm", "bf16_fashion_shape", "post_norm_relu",
                                           "hybrid_stages",
                                           "hybrid_stem_patch2"));

}  // namespace
}  // namespace vit
