// vit inspect against PyTorch (tests/reference/make_fixtures.py, make_inspect): with the same
// random weights and images, every layer's attention probabilities, their attention rollout and
// the mean attention distance of each head; and the pictures inspect_images writes.
//
// Tolerances: probabilities 1e-6 absolute + 1e-4 relative (fp32 against fp32, as the model's
// parity test); rollout and distances are float64 sums of those probabilities on both sides, so
// they inherit the same relative error (a wrong formula, a missing identity or an unnormalised
// row, moves them by more than 1e-2).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <filesystem>

#include "test_util.h"
#include "vit/checkpoint.h"
#include "vit/image_io.h"
#include "vit/inspect.h"
#include "vit/safetensors.h"

namespace vit {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
    const char* dir = std::getenv("VIT_FIXTURE_DIR");
    return std::string(dir != nullptr ? dir : "fixtures") + "/" + name;
}

std::vector<float> as_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

struct Loaded {
    SafetensorsFile file;
    ViTConfig config;
    std::unique_ptr<ViT> model;
};

Loaded load_inspect_fixture() {
    const std::string path = fixture("inspect.safetensors");
    if (!fs::exists(path)) throw std::runtime_error(path + " missing; run tests/reference/make_fixtures.py");
    Loaded l{.file = SafetensorsFile::open(path), .config = {}, .model = nullptr};
    l.config = config_from_safetensors(l.file);
    l.model = std::make_unique<ViT>(l.config);
    const LoadReport report = load_weights(*l.model, l.file, {.strict = false});
    if (!report.missing.empty()) throw std::runtime_error("fixture lacks " + report.missing.front());
    return l;
}

TEST(Inspect, AttentionRolloutAndDistanceMatchPyTorch) {
    Loaded l = load_inspect_fixture();
    const ViTConfig& c = l.config;
    const int64_t B = 2, L = c.depth, H = c.num_heads, N = c.num_tokens();
    const std::vector<float> images = l.file.read_f32("input.images");
    l.model->forward(images.data(), B, {.keep_attention = true});
    for (int64_t layer = 0; layer < L; layer++) {
        const std::vector<float> expected = l.file.read_f32(fmt::format("expected.attention.{}", layer));
        EXPECT_TRUE(test::all_near(l.model->attention(layer), expected.data(), B * H * N * N, {1e-6, 1e-4},
                                   fmt::format("attention of layer {}", layer)));
    }
    const std::vector<float> rollout = l.file.read_f32("expected.rollout");    // [B, N, N]
    const std::vector<float> distance = l.file.read_f32("expected.distance");  // [B, L, H]
    for (int64_t b = 0; b < B; b++) {
        std::vector<const float*> layers;
        for (int64_t layer = 0; layer < L; layer++) layers.push_back(l.model->attention(layer) + b * H * N * N);
        EXPECT_TRUE(test::all_near(as_float(attention_rollout(layers, H, N)).data(), rollout.data() + b * N * N,
                                   N * N, {1e-6, 1e-4}, fmt::format("rollout of image {}", b)));
        EXPECT_TRUE(test::all_near(as_float(mean_attention_distance(layers, H, c)).data(), distance.data() + b * L * H,
                                   L * H, {1e-6, 1e-4}, fmt::format("mean attention distance of image {}", b)));
    }
}

TEST(Inspect, WritesPicturesNamedAfterTheImages) {
    Loaded l = load_inspect_fixture();
    const ViTConfig& c = l.config;  // 32 x 48 RGB, patch 8, 3 layers of 4 heads
    const fs::path dir = fs::temp_directory_path() / "vit_inspect_test";
    fs::remove_all(dir);
    fs::create_directories(dir / "a");
    fs::create_directories(dir / "b");
    std::vector<uint8_t> pixels(static_cast<size_t>(c.image_height * c.image_width * 3));
    for (size_t i = 0; i < pixels.size(); i++) pixels[i] = static_cast<uint8_t>(i * 37 % 251);
    for (const char* sub : {"a", "b"}) write_png((dir / sub / "x.png").string(), pixels.data(), c.image_height, c.image_width, 3);
    const Pipeline pipe({}, c.channels, c.image_height, c.image_width);
    const std::vector<std::string> paths = {(dir / "a" / "x.png").string(), (dir / "b" / "x.png").string()};
    const InspectResult r = inspect_images(*l.model, pipe, image_files(paths), {.layer = -2, .out_dir = (dir / "out").string()});

    EXPECT_EQ(r.layer, 1);
    ASSERT_EQ(r.images.size(), 2u);
    EXPECT_EQ(r.images[0].attention_png, (dir / "out" / "x_attention.png").string());
    EXPECT_EQ(r.images[1].attention_png, (dir / "out" / "x_2_attention.png").string());
    EXPECT_EQ(r.images[1].rollout_png, (dir / "out" / "x_2_rollout.png").string());
    // 6 tiles (input, mean, 4 heads) of 144 x 96 (3x enlarged) with 10-pixel margins and a
    // 150-pixel colour bar; at least 560 x 260 (room for the titles and the bar)
    const Image attention = decode_image_file(r.images[0].attention_png, kMaxImagePixels);
    EXPECT_EQ(attention.width, 6 * (144 + 10) + 10 + 150);
    EXPECT_EQ(attention.height, 260);
    const Image rollout = decode_image_file(r.images[0].rollout_png, kMaxImagePixels);
    EXPECT_EQ(rollout.width, 560);
    // the raw class-token attention of the drawn layer: per head, over the 24 patches
    ASSERT_EQ(r.images[0].attention.size(), static_cast<size_t>(c.num_heads));
    for (const std::vector<float>& head : r.images[0].attention) {
        ASSERT_EQ(head.size(), 24u);
        double sum = 0.0;
        for (const float p : head) sum += p;
        EXPECT_GT(sum, 0.0);
        EXPECT_LT(sum, 1.0);  // the rest goes to the class token itself
    }
    EXPECT_TRUE(fs::exists(r.distance_png));
    // the same picture twice: the same rollout (over the 4 x 6 patches) and the mean distances
    // of one image
    EXPECT_EQ(r.images[0].rollout, r.images[1].rollout);
    EXPECT_EQ(r.images[0].rollout.size(), 24u);
    EXPECT_EQ(r.distance.size(), static_cast<size_t>(c.depth * c.num_heads));

    EXPECT_VIT_ERROR(inspect_images(*l.model, pipe, image_files(paths), {.layer = 3, .out_dir = (dir / "out").string()}),
                     "layer 3 is out of range: the model has 3 layers (0 to 2, or -1 to -3 counting from the end)");
    EXPECT_VIT_ERROR(inspect_images(*l.model, pipe, image_files(paths), {.layer = -4, .out_dir = (dir / "out").string()}),
                     "layer -4 is out of range: the model has 3 layers (0 to 2, or -1 to -3 counting from the end)");
    std::ofstream((dir / "bad.png").string()) << "not a picture";
    EXPECT_VIT_ERROR_HAS(inspect_images(*l.model, pipe, image_files({(dir / "bad.png").string()}), {.out_dir = (dir / "out").string()}),
                         (dir / "bad.png").string());
    fs::remove_all(dir);
}

}  // namespace
}  // namespace vit
