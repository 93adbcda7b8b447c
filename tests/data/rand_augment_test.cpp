// RandAugment's operations against torchvision's (autoaugment._apply_op on uint8 tensors, written
// by make_fixtures.py): every operation at bins 0, 9 and 30 of 31 with both signs, on an RGB and
// a grey image; the magnitude tables; and the random draws.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "vit/error.h"
#include "vit/rand_augment.h"
#include "vit/safetensors.h"

namespace vit {
namespace {

std::string fixture_dir() {
    const char* dir = std::getenv("VIT_FIXTURE_DIR");
    return dir != nullptr ? dir : "fixtures";
}

// The fixture's images hold bytes 0..255 as floats; vit::Image holds them / 255.
Image bytes_image(const SafetensorsFile& f, const std::string& name) {
    const TensorEntry& t = f.get(name);
    Image img{t.shape[0], t.shape[1], t.shape[2], f.read_f32(name)};
    for (float& v : img.hwc) v /= 255.0f;
    return img;
}

TEST(RandAugment, OperationsMatchTorchvisionPixelForPixel) {
    const SafetensorsFile f = SafetensorsFile::open(fixture_dir() + "/rand_augment.safetensors");
    for (const std::string image : {"rgb", "grey"}) {
        const Image in = bytes_image(f, image + ".input");
        for (int o = 0; o < kAugmentOps; o++) {
            const auto op = static_cast<AugmentOp>(o);
            for (int k = 0;; k++) {
                const std::string key = image + "." + augment_op_name(op) + "." + std::to_string(k);
                if (f.find(key) == nullptr) break;
                const double magnitude = f.read_f32(key + ".magnitude")[0];
                const Image expected = bytes_image(f, key);
                const Image got = apply_augment_op(in, op, magnitude);
                ASSERT_EQ(got.hwc.size(), expected.hwc.size()) << key;
                int64_t differing = 0;
                for (size_t i = 0; i < got.hwc.size(); i++) differing += got.hwc[i] != expected.hwc[i];
                EXPECT_EQ(differing, 0) << key << " (magnitude " << magnitude << "): " << differing << " of "
                                        << got.hwc.size() << " values differ";
            }
        }
    }
}

TEST(RandAugment, MagnitudesMatchTorchvisionTables) {
    const SafetensorsFile f = SafetensorsFile::open(fixture_dir() + "/rand_augment.safetensors");
    for (const std::string image : {"rgb", "grey"}) {
        const TensorEntry& input = f.get(image + ".input");
        for (int o = 0; o < kAugmentOps; o++) {
            const auto op = static_cast<AugmentOp>(o);
            const std::string key = image + ".space." + augment_op_name(op);
            if (f.find(key) == nullptr) {
                EXPECT_EQ(augment_magnitude(op, 9, 31, input.shape[0], input.shape[1]).value, 0.0) << key;
                continue;
            }
            const std::vector<float> table = f.read_f32(key);
            ASSERT_EQ(table.size(), 31u) << key;
            for (int64_t bin = 0; bin < 31; bin++) {
                EXPECT_EQ(static_cast<float>(augment_magnitude(op, bin, 31, input.shape[0], input.shape[1]).value),
                          table[static_cast<size_t>(bin)])
                    << key << " bin " << bin;
            }
        }
    }
    EXPECT_TRUE(augment_magnitude(AugmentOp::Rotate, 0, 31, 8, 8).is_signed);
    EXPECT_FALSE(augment_magnitude(AugmentOp::Solarize, 0, 31, 8, 8).is_signed);
}

// Every operation is drawn, the result depends only on the generator's state, and 0 operations
// leave an 8-bit image as it is.
TEST(RandAugment, DrawsEveryOperationDeterministically) {
    Image img{12, 10, 3, std::vector<float>(360)};
    for (size_t i = 0; i < img.hwc.size(); i++) img.hwc[i] = static_cast<float>((i * 37) % 256) / 255.0f;
    std::set<std::vector<float>> outcomes;
    for (uint64_t seed = 0; seed < 200; seed++) {
        Rng a(seed), b(seed);
        const Image x = rand_augment(img, 1, 9, 31, a), y = rand_augment(img, 1, 9, 31, b);
        EXPECT_EQ(x.hwc, y.hwc);
        EXPECT_EQ(a.state(), b.state());
        outcomes.insert(x.hwc);
    }
    EXPECT_GE(outcomes.size(), 12u) << "distinct results of one operation over 200 seeds";
    Rng rng(1);
    EXPECT_EQ(rand_augment(img, 0, 9, 31, rng).hwc, img.hwc);
    EXPECT_THROW(augment_magnitude(AugmentOp::Rotate, 31, 31, 8, 8), Error);
}

}  // namespace
}  // namespace vit
