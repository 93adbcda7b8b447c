// The whole model against PyTorch: fixtures written at test time by tests/reference/make_fixtures.py
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
// (vit_ref.Bf16Linear and Bf16Matmul: operands rounded to bf16, fp32 sums), not with fp32, which
// is far from it. Which way a value near a bf16 rounding boundary rounds depends on the fp32
// summation order, which differs between oneDNN, our kernels and PyTorch's BLAS and between CPUs,
// and one flipped rounding spreads through every later stage. The fixture measures that spread
// with no library in it: PyTorch's emulation run 16 times with every computed operand moved by up
// to 2^-20 of itself before rounding (more than fp32 sums of these lengths differ by in any
// order). Output, loss and each gradient must lie within kSpreadMargin times the largest spread
// of those runs, or within the fp32 tolerances where no run flipped. Each bf16 fixture also shows
// that these bounds reject three wrong models (Mutant below): an error in a formula moves whole
// tensors by more than rounding does.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
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

// How far our bf16 result may lie from PyTorch's, as a multiple of the largest spread of PyTorch's
// runs under summation-order noise: those runs are 16 samples, and ours is one more.
constexpr double kSpreadMargin = 3.0;

// The bound for one tensor: kSpreadMargin times its recorded [normwise, elementwise] spread, and
// no tighter than the fp32 tolerance (where no rounding flipped, fp32 noise remains).
test::Bf16Tol spread_tolerance(const nlohmann::json& spread, const std::string& tensor, test::Tol fp32) {
    const auto& s = spread.at(tensor);
    return {std::max(kSpreadMargin * s[0].get<double>(), fp32.rtol), std::max(kSpreadMargin * s[1].get<double>(), fp32.atol + fp32.rtol)};
}

// Wrong models that a bf16 comparison must still tell from the right one, written as weight
// changes so that they run through the same kernels.
enum class Mutant {
    DroppedBias,     // block 0's fc2 adds no bias
    AttentionScale,  // scores scaled by 1/sqrt(head_dim + 1) instead of 1/sqrt(head_dim)
    HeadOffByOne,    // each head's queries meet the next head's keys
};
const char* mutant_name(Mutant m) {
    switch (m) {
        case Mutant::DroppedBias: return "dropped fc2 bias";
        case Mutant::AttentionScale: return "attention scale off by one";
        case Mutant::HeadOffByOne: return "head off by one";
    }
    return "?";
}

void apply_mutant(ViT& model, Mutant m) {
    const ViTConfig& c = model.config();
    const int64_t D = c.embed_dim, hd = c.head_size(), H = c.num_heads;
    if (m == Mutant::DroppedBias) {  // a bias: read in fp32 at both precisions
        const ParamInfo& p = model.param_info("blocks.0.mlp.fc2.bias");
        std::fill_n(model.param_data() + p.offset, p.numel, 0.0f);
        return;
    }
    // The query rows [0, H hd) of qkv's weight [3 H hd, D] and of its bias.
    auto edit_queries = [&](const std::string& name, int64_t row_size) {
        float* q = model.param_data() + model.param_info(name).offset;
        if (m == Mutant::AttentionScale) {
            const float s = std::sqrt(static_cast<float>(hd) / static_cast<float>(hd + 1));
            std::transform(q, q + H * hd * row_size, q, [s](float v) { return v * s; });
            return;
        }
        std::vector<float> heads(q, q + H * hd * row_size);
        for (int64_t h = 0; h < H; h++) {
            std::copy_n(heads.data() + ((h + 1) % H) * hd * row_size, hd * row_size, q + h * hd * row_size);
        }
    };
    edit_queries("blocks.0.attn.qkv.weight", D);
    if (c.qkv_bias) {
        edit_queries("blocks.0.attn.qkv.bias", 1);
    }
    model.update_bf16_weights();
}

TEST_P(Parity, MatchesPyTorch) {
    const std::string path = fixture_dir() + "/parity_" + GetParam() + ".safetensors";
    ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing; run tests/reference/make_fixtures.py";
    SafetensorsFile f = SafetensorsFile::open(path);
    ASSERT_EQ(f.metadata().at("fixture_version"), "3") << "stale fixture; re-run make_fixtures.py";
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

    // fp32 against fp32 at the tolerances above; bf16 within the spread the fixture measured.
    const nlohmann::json spread = mixed ? nlohmann::json::parse(f.metadata().at("bf16_spread")) : nlohmann::json();
    auto output_near = [&](const float* actual, const float* expected, test::Tol fp32_tol, const std::string& what) {
        return mixed ? test::bf16_near(actual, expected, B * out_dim, spread_tolerance(spread, "output", fp32_tol), what)
                     : test::all_near(actual, expected, B * out_dim, fp32_tol, what);
    };
    auto loss_near = [&](double actual, float expected) {
        const double relative = mixed ? spread_tolerance(spread, "loss", {0.0, 1e-5}).normwise : 1e-5;
        const double bound = relative * std::max(1.0f, std::fabs(expected));
        return std::fabs(actual - expected) <= bound
                   ? ::testing::AssertionSuccess()
                   : ::testing::AssertionFailure() << "loss " << actual << " vs expected " << expected << " (bound " << bound << ")";
    };
    auto grad_near = [&](const ParamInfo& p, const std::vector<float>& expected) {
        const std::string what = "grad." + p.name;
        const float* actual = model.grad_data() + p.offset;
        return mixed ? test::bf16_near(actual, expected.data(), p.numel, spread_tolerance(spread, what, {1e-3, 1e-3}), what)
                     : test::all_near(actual, expected.data(), p.numel, {1e-3, 1e-3}, what);
    };

    const std::vector<float> expected_output = f.read_f32("expected.output");
    const float expected_loss = f.read_f32("expected.loss")[0];
    std::vector<float> output;
    double loss = objective(&output);
    EXPECT_TRUE(output_near(output.data(), expected_output.data(), {1e-4, 1e-4}, "output"));
    EXPECT_TRUE(loss_near(loss, expected_loss));
    for (const ParamInfo& p : model.params()) {
        EXPECT_TRUE(grad_near(p, f.read_f32("grad." + p.name)));
    }

    // The inference path (shared buffers, residual stream in place, packed weights) gives the
    // same output.
    const float* infer = model.forward(images.data(), B, {});
    EXPECT_TRUE(output_near(infer, output.data(), {1e-6, 1e-6}, "inference output"));

    if (mixed) {
        // The oracle is bf16 arithmetic, not fp32 with looser tolerances: fp32 is far from it.
        model.set_precision(Precision::F32);
        const float* fp32 = model.forward(images.data(), B, {});
        EXPECT_FALSE(test::all_near(fp32, output.data(), B * out_dim, {1e-4, 1e-4}, "fp32 vs bf16"));
        model.set_precision(Precision::BF16);

        // The bounds keep the power to find real errors: each wrong model fails them on the
        // output or on some gradient (the parity test as a whole fails).
        for (Mutant m : {Mutant::DroppedBias, Mutant::AttentionScale, Mutant::HeadOffByOne}) {
            load_weights(model, f, {.strict = false});
            apply_mutant(model, m);
            objective(&output);
            bool all_within = output_near(output.data(), expected_output.data(), {}, "output");
            for (const ParamInfo& p : model.params()) {
                all_within = all_within && grad_near(p, f.read_f32("grad." + p.name));
            }
            EXPECT_FALSE(all_within) << mutant_name(m) << " passes the bf16 bounds";
        }
        load_weights(model, f, {.strict = false});
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
    const std::vector<float> expected_losses = f.read_f32("expected.adamw_losses");
    if (mixed) {
        // The losses and each parameter's change over the steps, within the spread of PyTorch's
        // runs under summation-order noise. Changes are compared normwise only: Adam's
        // m / sqrt(v) ~ sign(g) turns a gradient element near zero whose sign a flipped rounding
        // changes into a step of -lr instead of +lr, so single elements jump by whole steps.
        EXPECT_TRUE(test::bf16_near(losses.data(), expected_losses.data(), steps,
                                    spread_tolerance(spread, "adamw_losses", {1e-4, 1e-4}), "AdamW losses"));
        for (const ParamInfo& p : model.params()) {
            const std::vector<float> start = f.read_f32(p.name), after = f.read_f32("after." + p.name);
            std::vector<float> update(static_cast<size_t>(p.numel)), expected_update(update.size());
            for (size_t i = 0; i < update.size(); i++) {
                update[i] = model.param_data()[p.offset + static_cast<int64_t>(i)] - start[i];
                expected_update[i] = after[i] - start[i];
            }
            test::Bf16Tol tol = spread_tolerance(spread, "update." + p.name, {1e-4, 1e-4});
            tol.elementwise = std::numeric_limits<double>::infinity();  // see above
            EXPECT_TRUE(test::bf16_near(update.data(), expected_update.data(), p.numel, tol, "AdamW update of " + p.name));
        }
        return;
    }
    EXPECT_TRUE(test::all_near(losses, expected_losses, {1e-4, 1e-4}, "AdamW losses"));
    for (const ParamInfo& p : model.params()) {
        std::vector<float> expected = f.read_f32("after." + p.name);
        float* actual = model.param_data() + p.offset;
        if (p.name.ends_with("attn.qkv.bias")) {
            // The key bias adds a constant to each row of scores, which softmax removes: its true
            // gradient is 0 and both sides hold rounding noise (~1e-9) that Adam's
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
        EXPECT_TRUE(test::all_near(actual, expected.data(), p.numel, {1e-4, 1e-4}, "after AdamW: " + p.name));
    }
}

INSTANTIATE_TEST_SUITE_P(Configs, Parity,
                         ::testing::Values("token_erf", "mean_fcnorm_tanh", "headdim_prelogits",
                                           "features", "patch_norm", "fashion_shape", "bf16_token_erf",
                                           "bf16_patch_norm", "bf16_fashion_shape", "post_norm_relu", "bf16_post_norm_relu",
                                           "layer_scale", "bf16_layer_scale", "pos_none", "pos_learned_2d",
                                           "bf16_pos_learned_2d", "pos_sincos_2d",
                                           "hybrid_stages",
                                           "hybrid_stem_patch2"));

}  // namespace
}  // namespace vit
