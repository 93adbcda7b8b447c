// Weight files in every format, written at test time by PyTorch and NumPy
// (tests/reference/make_weight_fixtures.py): each loads into the right config and gives
// PyTorch's logits; hostile files are refused with their message.
//
// Tolerance: logits within 1e-4 absolute + 1e-4 relative (fp32 against fp32, two blocks of
// width 128: summation-order differences stay near 1e-6; a wrong transpose or q/k/v order
// changes logits by ~1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>

#include "test_util.h"
#include "vit/checkpoint.h"
#include "vit/image_io.h"
#include "vit/model.h"
#include "vit/predict.h"
#include "vit/weights.h"

namespace vit {
namespace {

std::string weights_dir() {
    const char* dir = std::getenv("VIT_FIXTURE_DIR");
    return std::string(dir != nullptr ? dir : "fixtures") + "/weights/";
}

const SafetensorsFile& expected() {
    static const SafetensorsFile f = SafetensorsFile::open(weights_dir() + "expected.safetensors");
    return f;
}

std::vector<float> logits_of(const std::string& file, ViTConfig* config_out = nullptr, int64_t height = 0,
                             int64_t width = 0, const std::string& images = "input.images") {
    WeightSource w = open_weights(weights_dir() + file);
    ViTConfig c = config_from_weights(w);
    if (height > 0) {
        c.image_height = height;
        c.image_width = width;
    }
    ViT model(c);
    load_weights(model, w, {.strict = true});
    const std::vector<float> x = expected().read_f32(images);
    const int64_t B = expected().get(images).shape[0];
    const float* out = model.forward(x.data(), B, {});
    if (config_out != nullptr) *config_out = c;
    return std::vector<float>(out, out + B * c.output_dim());
}

struct Case {
    const char* file;
    const char* logits;
    NameScheme scheme;
};

class WeightFormats : public ::testing::TestWithParam<Case> {};

TEST_P(WeightFormats, GivePyTorchLogits) {
    const Case& k = GetParam();
    EXPECT_EQ(open_weights(weights_dir() + k.file).scheme, k.scheme);
    ViTConfig c;
    const std::vector<float> logits = logits_of(k.file, &c);
    EXPECT_EQ(c.embed_dim, 128);
    EXPECT_EQ(c.num_heads, 2);
    EXPECT_EQ(c.depth, 2);
    EXPECT_EQ(c.num_classes, 10);
    EXPECT_TRUE(test::all_near(logits, expected().read_f32(k.logits), {1e-4, 1e-4}, k.file));
}

INSTANTIATE_TEST_SUITE_P(
    All, WeightFormats,
    ::testing::Values(Case{"timm.pth", "logits.timm", NameScheme::Timm},
                      Case{"timm_fp16.pth", "logits.timm_fp16", NameScheme::Timm},
                      Case{"timm_layer_scale.pth", "logits.timm_layer_scale", NameScheme::Timm},
                      Case{"checkpoint_dict.pth", "logits.timm", NameScheme::Timm},
                      Case{"torchvision.pth", "logits.torchvision", NameScheme::Torchvision},
                      Case{"hf.safetensors", "logits.hf", NameScheme::HuggingFace},
                      Case{"jax.npz", "logits.jax", NameScheme::Jax},
                      Case{"jax_compressed.npz", "logits.jax", NameScheme::Jax}),
    [](const ::testing::TestParamInfo<Case>& info) {
        std::string name = info.param.file;
        for (char& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
        return name;
    });

TEST(WeightFormats, InferWhatShapesTell) {
    ViTConfig c;
    logits_of("torchvision.pth", &c);
    EXPECT_EQ(c.pre_logits_dim, 48);
    logits_of("hf.safetensors", &c);
    EXPECT_FLOAT_EQ(c.layernorm_eps, 1e-12f);
    logits_of("jax.npz", &c);
    EXPECT_FLOAT_EQ(c.layernorm_eps, 1e-6f);
}

// The same hybrid (ResNet stem and two stages) with timm's names and with the JAX release's
// (conv_root, block1/unit1/conv1, ...; HWIO kernels): the config from the shapes, the logits.
TEST(WeightFormats, HybridConfigFromTimmAndJaxNames) {
    for (const char* file : {"hybrid_timm.pth", "hybrid_jax.npz"}) {
        ViTConfig c;
        const std::vector<float> logits = logits_of(file, &c);
        EXPECT_TRUE(c.hybrid) << file;
        EXPECT_EQ(c.hybrid_layers, (std::vector<int64_t>{1, 1})) << file;
        EXPECT_EQ(c.hybrid_width, 32) << file;
        EXPECT_EQ(c.image_height, 32) << file;  // a 4x4 map of patch 1 at the backbone's stride 8
        EXPECT_EQ(c.patch_size, 1) << file;
        EXPECT_TRUE(test::all_near(logits, expected().read_f32("logits.hybrid_timm"), {1e-4, 1e-4}, file));
    }
}

TEST(WeightFormats, PositionTableResampledToOtherSizes) {
    for (auto [h, w] : {std::pair<int64_t, int64_t>{48, 48}, {32, 48}}) {
        const std::string tag = fmt::format("{}x{}", h, w);
        EXPECT_TRUE(test::all_near(logits_of("timm.pth", nullptr, h, w, "input.images_" + tag),
                                   expected().read_f32("logits.timm_" + tag), {1e-4, 1e-4}, "timm at " + tag));
    }
}

// The per-axis learned table and the fixed sin-cos table: logits at the file's 32x32 and at 32x48,
// where each axis table is resampled along its axis (bicubic, antialiased) and the sin-cos table
// is made for the new grid.
TEST(WeightFormats, TwoDimensionalPositionTablesAtOtherSizes) {
    for (const std::string kind : {"learned_2d", "sincos_2d"}) {
        const std::string file = "vit_" + kind + ".safetensors";
        ViTConfig c;
        EXPECT_TRUE(test::all_near(logits_of(file, &c), expected().read_f32("logits.vit_" + kind), {1e-4, 1e-4}, file));
        PosEmbed parsed = PosEmbed::Learned1d;
        ASSERT_TRUE(parse_pos_embed(kind, parsed));
        EXPECT_EQ(c.pos_embed, parsed);
        EXPECT_TRUE(test::all_near(logits_of(file, nullptr, 32, 48, "input.images_32x48"),
                                   expected().read_f32("logits.vit_" + kind + "_32x48"), {1e-4, 1e-4}, file + " at 32x48"));
    }
}

// vit predict's path end to end: decode, the preset of the file's origin, forward, top-5.
// PyTorch preprocesses with Pillow; the inputs differ by up to one 8-bit level in some pixels
// (measured max |logit diff| 6.4e-4 over the four files), within the 1e-3 asked of predictions;
// the top-5 classes must be the same.
TEST(WeightFormats, PredictionsMatchPyTorch) {
    const std::string photo = weights_dir() + "../preprocess/photo.jpg";
    for (const char* file : {"timm.pth", "torchvision.pth", "hf.safetensors", "jax.npz"}) {
        const WeightSource w = open_weights(weights_dir() + file);
        ViT model(config_from_weights(w));
        load_weights(model, w, {.strict = true});
        const Pipeline pipe = eval_pipeline_for(w, model.config(), "");
        std::vector<float> input(static_cast<size_t>(pipe.sample_size()));
        Rng rng(0);
        pipe.apply(decode_image_file(photo, kMaxImagePixels), rng, input.data());
        const float* logits = model.forward(input.data(), 1, {});
        const std::vector<float> ref = expected().read_f32(std::string("predict.") + file);
        EXPECT_TRUE(test::all_near(logits, ref.data(), 10, {1e-3, 0.0}, file));
        const Prediction p = predict_images(model, pipe, {photo}, {.top_k = 5})[0];
        std::vector<int64_t> order(10);
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ref[static_cast<size_t>(a)] > ref[static_cast<size_t>(b)]; });
        EXPECT_EQ(p.classes, std::vector<int64_t>(order.begin(), order.begin() + 5)) << file;
    }
}

// bf16 weight storage (vit predict --precision bf16) computes exactly what mixed precision does
// with fp32 master weights, holds no fp32 copy of the matrices, and refuses what needs one.
TEST(WeightFormats, Bf16StorageEqualsMixedPrecision) {
    const WeightSource w = open_weights(weights_dir() + "timm.pth");
    const ViTConfig c = config_from_weights(w);
    ViT mixed(c), stored(c, WeightStorage::Bf16Matrices);
    mixed.set_precision(Precision::BF16);
    load_weights(mixed, w, {.strict = true});
    load_weights(stored, w, {.strict = true});
    const std::vector<float> x = expected().read_f32("input.images");
    const float* a = mixed.forward(x.data(), 2, {});
    const std::vector<float> ya(a, a + 20);
    const float* b = stored.forward(x.data(), 2, {});
    EXPECT_EQ(ya, std::vector<float>(b, b + 20));
    EXPECT_TRUE(test::all_near(ya, expected().read_f32("logits.timm"), {2e-2, 2e-2}, "bf16 vs fp32 PyTorch"));
    EXPECT_LT(stored.param_buffer_size() * 4, mixed.param_buffer_size());
    EXPECT_VIT_ERROR(stored.grad_data(), "a model with bf16 weight storage is for inference; training needs fp32 weights");
    EXPECT_VIT_ERROR(stored.param("blocks.0.attn.qkv.weight"),
                     "parameter 'blocks.0.attn.qkv.weight' is held in bf16 only (bf16 weight storage)");
    EXPECT_VIT_ERROR(save_weights(stored, "/nonexistent/x.safetensors"),
                     "cannot save '/nonexistent/x.safetensors': the model holds bf16 weights only (load it with fp32 "
                     "storage to save it)");
}

TEST(WeightFormats, HostileFilesAreRefused) {
    const std::string d = weights_dir();
    EXPECT_VIT_ERROR(open_weights(d + "evil_global.pth"),
                     "'" + d + "evil_global.pth': the pickle names the global 'posix.system', which is not allowed "
                     "(a state dict of tensors needs only OrderedDict, tensor rebuilding and storage types); "
                     "refusing to load it");
    EXPECT_VIT_ERROR(open_weights(d + "dotdot.npz"),
                     "'" + d + "dotdot.npz': zip entry name '../escape.npy' is not allowed (empty, absolute, or "
                     "containing '..')");
    EXPECT_VIT_ERROR(open_weights(d + "object.npz"),
                     "'" + d + "object.npz' entry 'cls.npy': bad .npy header: dtype '|O' is an object array "
                     "(pickled Python objects), refused");
    EXPECT_VIT_ERROR(open_weights(d + "overflow.npz"),
                     "'" + d + "overflow.npz' entry 'cls.npy': the .npy array size overflows");
    EXPECT_VIT_ERROR(open_weights(d + "truncated.pth"),
                     "'" + d + "truncated.pth' is not a zip archive (no end-of-central-directory record; truncated?)");
    EXPECT_VIT_ERROR(open_weights(d + "legacy.pth"),
                     "'" + d + "legacy.pth' is a PyTorch file in the legacy (pre-1.6) format; re-save it with "
                     "torch.save(state_dict, path) from PyTorch 1.6 or newer");
    EXPECT_VIT_ERROR(config_from_weights(open_weights(d + "expected.safetensors")),
                     "'" + d + "expected.safetensors' has no tensor 'patch_embed.proj.weight', needed to infer the "
                     "model config; hint: pass the config explicitly");
}

}  // namespace
}  // namespace vit
