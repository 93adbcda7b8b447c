// Structural checks of the whole model: presets, shapes, every parameter receiving a gradient,
// training determinism, the regularised model's gradient against finite differences, config
// validation messages.
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"
#include "vit/checkpoint.h"
#include "vit/model.h"
#include "vit/params.h"
#include "vit/rng.h"

namespace vit {
namespace {

ViTConfig tiny_config() {
    ViTConfig c;
    c.image_height = 16;
    c.image_width = 24;
    c.patch_size = 4;
    c.channels = 3;
    c.embed_dim = 16;
    c.depth = 2;
    c.num_heads = 2;
    c.mlp_dim = 32;
    c.num_classes = 5;
    return c;
}

std::vector<float> random_images(const ViTConfig& c, int64_t B, uint64_t seed) {
    Rng rng(seed);
    std::vector<float> v(static_cast<size_t>(B * c.channels * c.image_height * c.image_width));
    for (float& x : v) x = static_cast<float>(rng.normal());
    return v;
}

TEST(Presets, ParameterCountsMatchThePaper) {
    // timm's counts with a 1000-class head, patch 16 at 224.
    const std::pair<const char*, double> expected[] = {
        {"vit_tiny_patch16_224", 5.72}, {"vit_small_patch16_224", 22.05}, {"vit_base_patch16_224", 86.57},
        {"vit_large_patch16_224", 304.33}, {"vit_huge_patch14_224", 632.05},
        {"vit_base_r50_s16_384", 98.95}};  // the paper's R50 + ViT-B/16 hybrid
    for (auto [name, millions] : expected) {
        int64_t n = 0;
        for (const ParamInfo& p : param_table_build(preset(name))) n += p.numel;
        EXPECT_NEAR(static_cast<double>(n) / 1e6, millions, 0.01) << name;
    }
    EXPECT_NEAR(preset("vit_base_patch16_224").forward_flops() / 1e9, 35.1, 0.1);
    EXPECT_EQ(preset("vit_base_patch32_384").num_tokens(), 145);
    EXPECT_EQ(preset("vit_base_r50_s16_224").num_tokens(), 197);  // a 14x14 map of 1024 channels
    EXPECT_EQ(preset("vit_base_r50_s16_224").patch_dim(), 1024);
    EXPECT_EQ(preset("vit_small_r26_s32_224").num_tokens(), 50);
    EXPECT_EQ(preset("vit_tiny_r_s16_p8_224").num_tokens(), 50);  // stem only: 56x56, patch 8
}

TEST(Presets, UnknownNameListsTheChoices) {
    try {
        preset("vit_medium_patch16_224");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("unknown preset 'vit_medium_patch16_224'"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("vit_base_patch16_224"), std::string::npos);
    }
}

TEST(Config, ValidationNamesTheField) {
    ViTConfig c = tiny_config();
    c.embed_dim = 15;
    EXPECT_VIT_ERROR(c.validate(), "embed_dim (15) must be divisible by num_heads (2) unless head_dim is set");
    c = tiny_config();
    c.image_width = 26;
    EXPECT_VIT_ERROR(c.validate(), "image size 16x26 must be divisible by patch_size 4");
    c = tiny_config();
    c.drop_rate = 1.0f;
    EXPECT_VIT_ERROR(c.validate(), "drop_rate must be in [0, 1), got 1");
    c = tiny_config();
    c.depth = 0;
    EXPECT_VIT_ERROR(c.validate(), "depth must be in [1, 256], got 0");
    EXPECT_VIT_ERROR_HAS(ViTConfig::from_json(R"({"depth": 2, "colour": 1})"), "model config: unknown key 'colour' (valid keys: image_height, ");
    EXPECT_VIT_ERROR(ViTConfig::from_json(R"({"pool": "max"})"), "model config: 'pool' must be \"token\" or \"mean\", got \"max\"");
    EXPECT_VIT_ERROR(ViTConfig::from_json("[1"), "model config: expected a JSON object, got '[1'");
    c = tiny_config();
    c.hybrid = true;
    c.patch_size = 1;
    c.hybrid_width = 48;
    EXPECT_VIT_ERROR(c.validate(), "hybrid_width must be a multiple of 32 in [32, 4096] (GroupNorm's groups), got 48");
    c.hybrid_width = 32;
    c.patch_size = 3;
    EXPECT_VIT_ERROR(c.validate(), "the hybrid backbone's 4x6 feature map (from 16x24 images) must be divisible by patch_size 3");
    c = tiny_config();
    c.hybrid_layers = {1};
    EXPECT_VIT_ERROR(c.validate(), "hybrid_layers is set but hybrid is false");
    EXPECT_VIT_ERROR(ViTConfig::from_json(R"({"hybrid": true, "hybrid_layers": [1, "2"]})"),
                     "model config: 'hybrid_layers' entries must be integers, got \"2\"");
    EXPECT_VIT_ERROR(ViTConfig::from_json(R"({"pos_embed": "learned2d"})"),
                     "model config: 'pos_embed' must be one of \"none\", \"learned\", \"learned_2d\", \"sincos_2d\", "
                     "got \"learned2d\"");
    c = tiny_config();
    c.embed_dim = 18;
    c.num_heads = 3;
    c.pos_embed = PosEmbed::SinCos2d;
    EXPECT_VIT_ERROR(c.validate(), "pos_embed \"sincos_2d\" gives each axis a sine and a cosine of embed_dim / 4 "
                                   "frequencies: embed_dim must be a multiple of 4, got 18");
    c.embed_dim = 15;
    c.pos_embed = PosEmbed::Learned2d;
    EXPECT_VIT_ERROR(c.validate(), "pos_embed \"learned_2d\" gives each axis embed_dim / 2 channels: embed_dim must "
                                   "be even, got 15");
}

// The parameters each position kind adds: one table, one per axis, or none.
TEST(Config, PositionKindsHaveTheirParameters) {
    ViTConfig c = tiny_config();  // 16x24 images, patch 4: a 4x6 grid
    auto names = [&](PosEmbed kind) {
        c.pos_embed = kind;
        std::vector<std::string> out;
        for (const ParamInfo& p : param_table_build(c)) {
            if (p.name.starts_with("pos_embed")) out.push_back(p.name + shape_string(p.shape));
        }
        return out;
    };
    EXPECT_EQ(names(PosEmbed::Learned1d), std::vector<std::string>{"pos_embed[1, 25, " + std::to_string(c.embed_dim) + "]"});
    EXPECT_EQ(names(PosEmbed::Learned2d), (std::vector<std::string>{"pos_embed_row[4, " + std::to_string(c.embed_dim / 2) + "]",
                                                                    "pos_embed_col[6, " + std::to_string(c.embed_dim / 2) + "]"}));
    EXPECT_TRUE(names(PosEmbed::SinCos2d).empty());
    EXPECT_TRUE(names(PosEmbed::None).empty());
    c.pos_embed = PosEmbed::Learned2d;
    EXPECT_EQ(ViTConfig::from_json(c.to_json()).pos_embed, PosEmbed::Learned2d);
    EXPECT_EQ(ViTConfig::from_json(R"({"depth": 2})").pos_embed, PosEmbed::Learned1d);  // files older than the key
}

TEST(Config, JsonRoundTrip) {
    ViTConfig c = tiny_config();
    c.pool = Pool::Mean;
    c.gelu = Gelu::Tanh;
    c.head_dim = 12;
    c.layernorm_eps = 1e-12f;
    EXPECT_EQ(ViTConfig::from_json(c.to_json()).to_json(), c.to_json());
    c.hybrid = true;
    c.hybrid_layers = {2, 1};
    c.patch_size = 1;
    c.post_norm = true;
    c.mlp_relu = true;
    const ViTConfig back = ViTConfig::from_json(c.to_json());
    EXPECT_TRUE(back.post_norm && back.mlp_relu);
    EXPECT_EQ(back.hybrid_layers, c.hybrid_layers);
    EXPECT_EQ(back.to_json(), c.to_json());
}

// Mixed precision beside fp32 on the hybrid (not in the bf16 parity fixtures; its backbone runs
// in fp32 at both precisions) and the post-norm block: in bf16 the logits stay within 2e-2 of
// fp32's and every parameter gets a finite, non-zero gradient.
class BothPrecisions : public ::testing::TestWithParam<const char*> {};

TEST_P(BothPrecisions, LogitsCloseAndEveryParameterLearns) {
    ViTConfig c = tiny_config();
    if (std::string(GetParam()) == "hybrid") {
        c.hybrid = true;
        c.hybrid_layers = {1, 1};
        c.hybrid_width = 32;
        c.patch_size = 1;
        c.image_height = 32;
        c.image_width = 24;
    } else {
        c.post_norm = true;
        c.mlp_relu = true;
        c.layernorm_eps = 1e-5f;
    }
    std::vector<float> fp32_logits;
    for (Precision precision : {Precision::F32, Precision::BF16}) {
        if (precision == Precision::BF16 && !bf16_supported()) continue;
        ViT model(c);
        model.init_weights(5);
        model.set_precision(precision);
        auto images = random_images(c, 2, 6);
        model.zero_grad();
        const float* logits = model.forward(images.data(), 2, {.training = true});
        std::vector<float> out(logits, logits + 2 * c.num_classes);
        if (precision == Precision::F32) {
            fp32_logits = out;
        } else {
            EXPECT_TRUE(test::all_near(out, fp32_logits, {2e-2, 2e-2}, "bf16 vs fp32 logits"));
        }
        std::vector<int32_t> targets = {1, 4};
        Loss loss = cross_entropy(logits, targets.data(), 2, c.num_classes, 0.0f);
        model.backward(loss.dlogits.data());
        for (const ParamInfo& p : model.params()) {
            double norm = 0.0;
            for (int64_t i = 0; i < p.numel; i++) norm += std::pow(model.grad_data()[p.offset + i], 2.0);
            EXPECT_TRUE(std::isfinite(norm) && norm > 0.0) << p.name << " in " << precision_name(precision);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Configs, BothPrecisions, ::testing::Values("hybrid", "post_norm"));

TEST(Model, EveryParameterGetsAFiniteNonZeroGradient) {
    for (bool mean : {false, true}) {
        ViTConfig c = tiny_config();
        c.pool = mean ? Pool::Mean : Pool::Token;
        c.pre_logits_dim = mean ? 8 : 0;
        c.patch_norm = mean;
        ViT model(c);
        model.init_weights(1);
        auto images = random_images(c, 3, 2);
        model.zero_grad();
        const float* logits = model.forward(images.data(), 3, {.training = true});
        for (int64_t i = 0; i < 3 * c.num_classes; i++) ASSERT_TRUE(std::isfinite(logits[i]));
        std::vector<int32_t> targets = {0, 3, 4};
        Loss loss = cross_entropy(logits, targets.data(), 3, c.num_classes, 0.0f);
        model.backward(loss.dlogits.data());
        for (const ParamInfo& p : model.params()) {
            double norm = 0.0;
            for (int64_t i = 0; i < p.numel; i++) {
                float g = model.grad_data()[p.offset + i];
                ASSERT_TRUE(std::isfinite(g)) << p.name;
                norm += static_cast<double>(g) * g;
            }
            EXPECT_GT(norm, 0.0) << p.name << " received no gradient";
        }
    }
}

TEST(Model, KeepsAttentionProbabilitiesOnRequest) {
    ViTConfig c = tiny_config();
    ViT model(c);
    model.init_weights(3);
    auto images = random_images(c, 2, 4);
    model.forward(images.data(), 2, {});
    EXPECT_VIT_ERROR(model.attention(0), "attention probabilities were not kept; run forward with keep_attention");
    model.forward(images.data(), 2, {.keep_attention = true});
    const int64_t N = c.num_tokens();
    for (int64_t l = 0; l < c.depth; l++) {
        const float* p = model.attention(l);
        for (int64_t row = 0; row < 2 * c.num_heads * N; row++) {
            double s = 0.0;
            for (int64_t j = 0; j < N; j++) s += p[row * N + j];
            ASSERT_NEAR(s, 1.0, 1e-5);
        }
    }
    // Layer 0 and layer 1 differ: each layer's probabilities are kept, not overwritten.
    EXPECT_NE(model.attention(0)[1], model.attention(1)[1]);
    EXPECT_VIT_ERROR(model.attention(2), "attention layer must be in [0, 2), got 2");
}

TEST(Model, TrainingIsBitReproducible) {
    ViTConfig c = tiny_config();
    c.drop_rate = 0.1f;
    c.attn_drop_rate = 0.1f;
    c.drop_path_rate = 0.2f;
    auto run = [&] {
        ViT model(c);
        model.init_weights(7);
        auto images = random_images(c, 4, 8);
        std::vector<int32_t> targets = {1, 2, 3, 4};
        std::vector<float> losses;
        for (uint64_t step = 0; step < 3; step++) {
            model.zero_grad();
            const float* logits = model.forward(images.data(), 4, {.training = true, .dropout_seed = step});
            Loss loss = cross_entropy(logits, targets.data(), 4, c.num_classes, 0.1f);
            losses.push_back(loss.mean);
            model.backward(loss.dlogits.data());
            for (int64_t i = 0; i < model.param_buffer_size(); i++) model.param_data()[i] -= 0.1f * model.grad_data()[i];
        }
        return losses;
    };
    auto a = run(), b = run();
    EXPECT_EQ(a, b);
}

// With dropout, attention dropout and drop-path active, training forward is a fixed function of
// the weights for a given seed; its gradient must match finite differences of the loss.
TEST(Model, RegularisedGradientMatchesFiniteDifferences) {
    ViTConfig c = tiny_config();
    c.drop_rate = 0.2f;
    c.attn_drop_rate = 0.2f;
    c.drop_path_rate = 0.3f;
    ViT model(c);
    model.init_weights(11);
    auto images = random_images(c, 4, 12);
    std::vector<int32_t> targets = {0, 1, 2, 3};
    auto loss_at = [&] {
        const float* logits = model.forward(images.data(), 4, {.training = true, .dropout_seed = 99});
        return static_cast<double>(cross_entropy(logits, targets.data(), 4, c.num_classes, 0.0f).mean);
    };
    model.zero_grad();
    const float* logits = model.forward(images.data(), 4, {.training = true, .dropout_seed = 99});
    Loss loss = cross_entropy(logits, targets.data(), 4, c.num_classes, 0.0f);
    model.backward(loss.dlogits.data());
    std::vector<float> analytic(model.grad_data(), model.grad_data() + model.param_buffer_size());
    Rng pick(5);
    for (const ParamInfo& p : model.params()) {
        for (int k = 0; k < 2; k++) {
            int64_t i = p.offset + static_cast<int64_t>(pick.next_u64() % static_cast<uint64_t>(p.numel));
            float saved = model.param_data()[i];
            const float h = 3e-3f;
            model.param_data()[i] = saved + h;
            double up = loss_at();
            model.param_data()[i] = saved - h;
            double down = loss_at();
            model.param_data()[i] = saved;
            double numeric = (up - down) / (2.0 * h);
            // h = 3e-3: fp32 loss noise ~1e-7 / h = 3e-5; at h = 1e-2 curvature already costs ~7%.
            EXPECT_NEAR(analytic[static_cast<size_t>(i)], numeric, 2e-3 + 5e-2 * std::fabs(numeric)) << p.name;
        }
    }
}

TEST(Model, RejectsBadBatchAndBackwardWithoutTraining) {
    ViT model(tiny_config());
    std::vector<float> images(16 * 24 * 3);
    EXPECT_VIT_ERROR(model.forward(images.data(), 0, {}), "batch size must be in [1, 1048576], got 0");
    model.forward(images.data(), 1, {});
    std::vector<float> d(5);
    EXPECT_VIT_ERROR(model.backward(d.data()), "backward needs a forward pass with training = true before it");
    std::vector<int32_t> bad = {5};
    EXPECT_VIT_ERROR(cross_entropy(d.data(), bad.data(), 1, 5, 0.0f), "target 5 of sample 0 is outside the 5 classes [0, 5)");
}

// Packing the matrices for inference changes where the products read them, not the results: the
// logits of a packed model equal the plain model's within fp32 summation-order tolerance, in
// fp32 and with bf16 weight storage; afterwards what needs plain weights is refused.
TEST(Model, PackedForInferenceGivesTheSameLogits) {
    ViTConfig c = tiny_config();
    c.embed_dim = 64;  // matrices whose blocked layout needs no padding, so they are packed
    c.channels = 4;
    c.mlp_dim = 128;
    const std::vector<float> images = random_images(c, 3, 5);
    for (WeightStorage storage : {WeightStorage::F32, WeightStorage::Bf16Matrices}) {
        ViT plain(c, storage), packed(c, storage);
        ViT init(c);
        init.init_weights(7);
        for (const ParamInfo& p : init.params()) {
            plain.set_param(p, init.param_data() + p.offset);
            packed.set_param(p, init.param_data() + p.offset);
        }
        const float* a = plain.forward(images.data(), 3, {});
        const std::vector<float> expected(a, a + 3 * c.num_classes);
        packed.pack_for_inference();
        EXPECT_TRUE(packed.is_packed(packed.param_info("blocks.1.mlp.fc2.weight")));
        EXPECT_TRUE(packed.is_packed(packed.param_info("patch_embed.proj.weight")));
        EXPECT_FALSE(packed.is_packed(packed.param_info("head.weight")));
        const float* b = packed.forward(images.data(), 3, {});
        EXPECT_TRUE(test::all_near(b, expected.data(), 3 * c.num_classes, {1e-5, 1e-4}, "packed vs plain"));
    }
    ViT packed(c);
    packed.pack_for_inference();
    EXPECT_VIT_ERROR(packed.forward(images.data(), 1, {.training = true}), "a model packed for inference cannot train");
    EXPECT_VIT_ERROR(packed.grad_data(), "a model packed for inference cannot train");
    EXPECT_VIT_ERROR(packed.param("blocks.0.attn.qkv.weight"), "parameter 'blocks.0.attn.qkv.weight' is packed for inference");
    EXPECT_VIT_ERROR(packed.set_param(packed.param_info("cls_token"), images.data()),
                     "parameter 'cls_token' cannot be written: the model's weights are packed for inference");
    EXPECT_VIT_ERROR(packed.set_precision(Precision::BF16), "a model packed for inference keeps the precision it was packed in");
    EXPECT_VIT_ERROR(save_weights(packed, "/nonexistent/x.safetensors"),
                     "cannot save '/nonexistent/x.safetensors': the model's weights are packed for inference");
    ViT mixed(c);
    mixed.set_precision(Precision::BF16);
    EXPECT_VIT_ERROR(mixed.pack_for_inference(), "packing for inference needs fp32 precision or bf16 weight storage");
}

TEST(Checkpoint, SaveLoadRoundTripAndShapeMismatch) {
    ViTConfig c = tiny_config();
    ViT a(c);
    a.init_weights(21);
    const std::string path = ::testing::TempDir() + "/roundtrip.safetensors";
    save_weights(a, path);
    SafetensorsFile f = SafetensorsFile::open(path);
    ViT b(config_from_safetensors(f));
    load_weights(b, f, {});
    for (int64_t i = 0; i < a.param_buffer_size(); i++) ASSERT_EQ(a.param_data()[i], b.param_data()[i]);

    ViTConfig other = c;
    other.mlp_dim = 48;
    ViT d(other);
    EXPECT_VIT_ERROR(load_weights(d, f, {}),
                     "'" + path + "': tensor 'blocks.0.mlp.fc1.weight' has shape [32, 16], the model expects [48, 16]");
    ViTConfig fewer = c;
    fewer.depth = 1;
    ViT e(fewer);
    try {
        load_weights(e, f, {.strict = true});
        FAIL();
    } catch (const Error& err) {
        EXPECT_NE(std::string(err.what()).find("unexpected tensors: blocks.1.attn.proj.bias"), std::string::npos) << err.what();
    }
    LoadReport r = load_weights(e, f, {.strict = false});
    EXPECT_EQ(r.unexpected.size(), 12u);  // 2 norms x 2 + qkv 2 + proj 2 + fc1 2 + fc2 2
}

}  // namespace
}  // namespace vit
