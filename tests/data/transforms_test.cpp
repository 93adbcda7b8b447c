// Image decoding against Pillow and transforms against torchvision, on files and tensors written
// by make_fixtures.py; the loader's determinism.
#include <gtest/gtest.h>

#include <cstdlib>

#include "test_util.h"
#include "vit/image_io.h"
#include "vit/loader.h"
#include "vit/safetensors.h"
#include "vit/transforms.h"

namespace vit {
namespace {

std::string fixture_dir() {
    const char* dir = std::getenv("VIT_FIXTURE_DIR");
    return dir != nullptr ? dir : "fixtures";
}

SafetensorsFile images_fixture() { return SafetensorsFile::open(fixture_dir() + "/images.safetensors"); }

Image image_from(const SafetensorsFile& f, const std::string& name) {
    const TensorEntry& t = f.get(name);
    return Image{t.shape[0], t.shape[1], t.shape[2], f.read_f32(name)};
}

::testing::AssertionResult same_image(const Image& actual, const Image& expected, test::Tol tol, const std::string& what) {
    if (actual.height != expected.height || actual.width != expected.width || actual.channels != expected.channels) {
        return ::testing::AssertionFailure() << what << ": shape " << actual.height << "x" << actual.width << "x"
                                             << actual.channels << ", expected " << expected.height << "x"
                                             << expected.width << "x" << expected.channels;
    }
    return test::all_near(actual.hwc, expected.hwc, tol, what);
}

TEST(ImageDecode, MatchesPillow) {
    SafetensorsFile f = images_fixture();
    for (const char* name : {"rgb.png", "grey.png", "rgba.png", "rgb.jpg", "grey.jpg"}) {
        Image img = decode_image_file(fixture_dir() + "/" + name, 1 << 20);
        // PNG is lossless; libjpeg-turbo and Pillow's libjpeg may round the IDCT differently.
        const bool jpeg = std::string(name).ends_with(".jpg");
        EXPECT_TRUE(same_image(img, image_from(f, std::string(name) + ".decoded"),
                               {jpeg ? 1.01 / 255 : 1e-7, 0.0}, name));
    }
}

TEST(Transforms, MatchTorchvision) {
    SafetensorsFile f = images_fixture();
    const Image in = image_from(f, "input");
    // Separable filters in fp32 with up to ~20 taps per axis: 2e-6 covers the summation order.
    const test::Tol tol{2e-6, 1e-5};
    EXPECT_TRUE(same_image(resize(in, 20, 30, Interpolation::Bilinear), image_from(f, "resize_bilinear_20x30"), tol, "resize bilinear"));
    EXPECT_TRUE(same_image(resize(in, 50, 40, Interpolation::Bicubic), image_from(f, "resize_bicubic_50x40"), tol, "resize bicubic"));
    EXPECT_TRUE(same_image(resize_shorter_side(in, 16, Interpolation::Bilinear), image_from(f, "resize_bilinear_shorter_16"), tol,
                           "resize shorter side"));
    EXPECT_TRUE(same_image(center_crop(in, 20, 15), image_from(f, "center_crop_20x15"), {0, 0}, "center crop"));
    EXPECT_TRUE(same_image(center_crop(in, 40, 30), image_from(f, "center_crop_40x30"), {0, 0}, "center crop with padding"));
    EXPECT_TRUE(same_image(resize(crop(in, 3, 2, 20, 15), 16, 16, Interpolation::Bilinear),
                           image_from(f, "resized_crop_3_2_20_15_to_16"), tol, "resized crop"));
    EXPECT_TRUE(same_image(horizontal_flip(in), image_from(f, "hflip"), {0, 0}, "horizontal flip"));
    EXPECT_TRUE(same_image(crop(in, 1 - 4, 6 - 4, 37, 23), image_from(f, "pad4_crop_1_6"), {0, 0}, "pad and crop"));

    Transform norm;
    norm.op = TransformOp::Normalize;
    norm.mean = {0.485f, 0.456f, 0.406f};
    norm.std = {0.229f, 0.224f, 0.225f};
    Pipeline pipe({norm}, 3, 37, 23);
    std::vector<float> chw(static_cast<size_t>(pipe.sample_size()));
    Rng rng(0);
    pipe.apply(in, rng, chw.data());
    Image expected = image_from(f, "normalize");
    std::vector<float> expected_chw(chw.size());
    for (int64_t c = 0; c < 3; c++)
        for (int64_t p = 0; p < 37 * 23; p++) expected_chw[static_cast<size_t>(c * 37 * 23 + p)] = expected.hwc[static_cast<size_t>(p * 3 + c)];
    EXPECT_TRUE(test::all_near(chw, expected_chw, {1e-6, 1e-6}, "normalize"));
}

TEST(Transforms, RandomResizedCropBoxIsInsideAndFollowsTheScale) {
    const float scale[2] = {0.08f, 1.0f}, ratio[2] = {0.75f, 4.0f / 3.0f};
    Rng rng(3);
    for (int i = 0; i < 1000; i++) {
        CropBox b = random_resized_crop_box(37, 23, scale, ratio, rng);
        ASSERT_GE(b.top, 0);
        ASSERT_GE(b.left, 0);
        ASSERT_LE(b.top + b.height, 37);
        ASSERT_LE(b.left + b.width, 23);
        ASSERT_GE(b.height * b.width, 1);
    }
}

// The box distribution against torchvision's RandomErasing.get_params over 20000 draws each on
// a 37x23 image (another generator, so the statistics are compared): the mean position, size and
// area fraction within 2% (their standard errors are below 0.5%) and the share of draws where no
// try fits within 0.01. Then the box itself against F.erase, and the pipeline's erasing before
// and after normalize.
TEST(Transforms, RandomErasingFollowsTorchvision) {
    SafetensorsFile f = images_fixture();
    const std::vector<float> expected = f.read_f32("erasing_stats");  // top, left, h, w, area, misses
    const Transform erasing = make_random_erasing(1.0);
    Rng rng(5);
    const int64_t draws = 20000;
    double sums[5] = {}, misses = 0;
    for (int64_t i = 0; i < draws; i++) {
        const CropBox b = random_erasing_box(37, 23, erasing.scale, erasing.ratio, rng);
        if (b.height == 0) {
            misses++;
            continue;
        }
        ASSERT_TRUE(b.height < 37 && b.width < 23 && b.top >= 0 && b.left >= 0 && b.top + b.height <= 37 &&
                    b.left + b.width <= 23);
        const double v[5] = {double(b.top), double(b.left), double(b.height), double(b.width),
                             double(b.height * b.width) / (37.0 * 23.0)};
        for (int k = 0; k < 5; k++) sums[k] += v[k];
    }
    const char* names[5] = {"top", "left", "height", "width", "area fraction"};
    for (int k = 0; k < 5; k++) {
        EXPECT_NEAR(sums[k] / (draws - misses), expected[static_cast<size_t>(k)], 0.02 * expected[static_cast<size_t>(k)])
            << names[k];
    }
    EXPECT_NEAR(misses / draws, expected[5], 0.01) << "share of draws without a box";

    const Image in = image_from(f, "input");
    Image erased = in;
    Transform value = erasing;
    value.erase_value = 0.25f;
    Pipeline({value}, 3, 37, 23);  // valid
    for (int64_t y = 3; y < 3 + 20; y++)
        for (int64_t x = 2; x < 2 + 15; x++) std::fill_n(erased.at(y, x), 3, 0.25f);
    EXPECT_TRUE(same_image(erased, image_from(f, "erase_3_2_20_15"), {0, 0}, "erase"));

    // In the pipeline: p = 0 changes nothing; p = 1 after normalize writes the value into one box of
    // the normalised output (every channel), before normalize into the pixels.
    const Transform norm = make_normalize({0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f});
    const int64_t n = 3 * 37 * 23;
    auto run = [&](std::vector<Transform> steps, uint64_t seed) {
        std::vector<float> out(static_cast<size_t>(n));
        Rng r(seed);
        Pipeline(std::move(steps), 3, 37, 23).apply(in, r, out.data());
        return out;
    };
    const std::vector<float> plain = run({norm}, 1);
    EXPECT_EQ(run({norm, make_random_erasing(0.0)}, 1), plain);
    for (bool after : {true, false}) {
        Transform e = make_random_erasing(1.0);
        e.erase_value = 7.0f;
        const std::vector<float> out = after ? run({norm, e}, 1) : run({e, norm}, 1);
        const float written = after ? 7.0f : (7.0f - 0.5f) / 0.25f;
        int64_t changed = 0;
        for (int64_t i = 0; i < n; i++) {
            if (out[static_cast<size_t>(i)] != plain[static_cast<size_t>(i)]) {
                EXPECT_EQ(out[static_cast<size_t>(i)], written);
                changed++;
            }
        }
        EXPECT_GT(changed, 0) << "after normalize " << after;
        EXPECT_EQ(changed % 3, 0) << "the same box in every channel";
    }
    Transform noise = make_random_erasing(1.0);
    noise.erase_random = true;
    EXPECT_EQ(run({norm, noise}, 2), run({norm, noise}, 2)) << "same seed, same noise";
    EXPECT_NE(run({norm, noise}, 2), plain);
}

TEST(Transforms, BadStepsAreRefused) {
    Transform norm;
    norm.op = TransformOp::Normalize;
    norm.mean = {0.5f};
    norm.std = {0.5f};
    EXPECT_VIT_ERROR(Pipeline({norm}, 3, 8, 8), "transform normalize: expected 3 mean and std values (one per channel), got 1 and 1");
    Transform flip;
    flip.op = TransformOp::HorizontalFlip;
    flip.p = 1.5;
    EXPECT_VIT_ERROR(Pipeline({flip}, 1, 8, 8), "transform horizontal_flip: p must be in [0, 1], got 1.5");
    norm.mean = norm.std = {0.5f, 0.5f, 0.5f};
    EXPECT_VIT_ERROR(Pipeline({norm, flip}, 3, 8, 8),
                     "transform normalize must come after every transform but random_erasing, but horizontal_flip "
                     "(number 2 of 2) follows it");
    EXPECT_VIT_ERROR(Pipeline({norm, norm}, 3, 8, 8), "transform normalize may appear once, got 2 of them");
    Transform erasing = make_random_erasing(0.5);
    erasing.scale[1] = 1.0f;
    EXPECT_VIT_ERROR(Pipeline({erasing}, 3, 8, 8),
                     "transform random_erasing: expected 0 < scale[0] <= scale[1] < 1, 0 < ratio[0] <= ratio[1] and a "
                     "finite value, got scale [0.02, 1] ratio [0.3, 3.3] value 0");
    Pipeline ok({}, 1, 8, 8);
    Image wrong{9, 8, 1, std::vector<float>(72, 0.0f)};
    std::vector<float> out(64);
    Rng rng(0);
    EXPECT_VIT_ERROR(ok.apply(wrong, rng, out.data()), "after the transforms an image is 9x8, but the model takes 8x8 (add a resize or crop)");
}

// A dataset of n 4x4 grey images whose pixels encode the index, for loader tests.
class Numbered final : public Dataset {
  public:
    explicit Numbered(int64_t n) : n_(n), names_{"even", "odd"} {}
    int64_t size() const override { return n_; }
    int32_t label(int64_t i) const override { return static_cast<int32_t>(i % 2); }
    Image load(int64_t i) const override { return Image{4, 4, 1, std::vector<float>(16, static_cast<float>(i))}; }
    const std::vector<std::string>& class_names() const override { return names_; }

  private:
    int64_t n_;
    std::vector<std::string> names_;
};

std::vector<std::vector<float>> epoch_batches(int workers, int64_t epoch, int64_t first_batch) {
    Transform crop;
    crop.op = TransformOp::RandomCrop;
    crop.height = crop.width = 4;
    crop.padding = 1;
    DataLoader loader(std::make_shared<Numbered>(103), Pipeline({crop}, 1, 4, 4),
                      {.batch_size = 10, .shuffle = true, .seed = 5, .workers = workers});
    loader.start_epoch(epoch, first_batch);
    std::vector<std::vector<float>> out;
    while (const Batch* b = loader.next()) out.push_back(b->images);
    return out;
}

TEST(Loader, SameBatchesForAnyWorkerCountAndResumable) {
    auto inline_batches = epoch_batches(0, 2, 0);
    ASSERT_EQ(inline_batches.size(), 11u);  // 103 samples in batches of 10, last partial
    EXPECT_EQ(inline_batches.back().size(), 3u * 16u);
    EXPECT_EQ(epoch_batches(1, 2, 0), inline_batches);
    EXPECT_EQ(epoch_batches(3, 2, 0), inline_batches);
    auto resumed = epoch_batches(2, 2, 4);
    EXPECT_EQ(resumed, std::vector<std::vector<float>>(inline_batches.begin() + 4, inline_batches.end()));
    EXPECT_NE(epoch_batches(1, 3, 0), inline_batches);  // another epoch, another order
}

TEST(Loader, RethrowsAWorkerError) {
    class Broken final : public Dataset {
      public:
        int64_t size() const override { return 8; }
        int32_t label(int64_t) const override { return 0; }
        Image load(int64_t i) const override {
            if (i == 5) throw Error("image 5 is corrupt");
            return Image{2, 2, 1, std::vector<float>(4, 0.0f)};
        }
        const std::vector<std::string>& class_names() const override { return names_; }
        std::vector<std::string> names_{"a"};
    };
    DataLoader loader(std::make_shared<Broken>(), Pipeline({}, 1, 2, 2), {.batch_size = 2, .workers = 2});
    loader.start_epoch(0);
    EXPECT_VIT_ERROR({ while (loader.next() != nullptr) {} }, "image 5 is corrupt");
}

}  // namespace
}  // namespace vit
