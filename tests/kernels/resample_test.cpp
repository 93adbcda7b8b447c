// Bicubic and bilinear resampling (the position table, image transforms) against PyTorch's
// F.interpolate(align_corners=False), with and without antialias, on cases written by
// make_fixtures.py.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "kernels/kernels.h"
#include "test_util.h"
#include "vit/safetensors.h"

namespace vit {
namespace {

TEST(Resample, MatchesPyTorchBicubicAndBilinear) {
    const char* dir = std::getenv("VIT_FIXTURE_DIR");
    SafetensorsFile f = SafetensorsFile::open(std::string(dir != nullptr ? dir : "fixtures") + "/resample.safetensors");
    auto cases = nlohmann::json::parse(f.metadata().at("cases"));
    for (size_t i = 0; i < cases.size(); i++) {
        const int64_t IH = cases[i][0], IW = cases[i][1], OH = cases[i][2], OW = cases[i][3], C = cases[i][4];
        std::vector<float> input = f.read_f32(fmt::format("case{}.input", i));
        for (const char* mode : {"bicubic", "bilinear"}) {
            const cpu::Filter filter = mode[2] == 'c' ? cpu::Filter::Bicubic : cpu::Filter::Bilinear;
            for (int aa = 0; aa < 2; aa++) {
                std::vector<float> out(static_cast<size_t>(OH * OW * C));
                cpu::resize_forward(out.data(), input.data(), IH, IW, OH, OW, C, filter, aa == 1);
                // fp32 sums of at most ~16 weighted terms: 1e-5 covers the summation order.
                EXPECT_TRUE(test::all_near(out, f.read_f32(fmt::format("case{}.{}.antialias{}", i, mode, aa)),
                                           {1e-5, 1e-5},
                                           fmt::format("case {} ({}x{} -> {}x{}) {} antialias {}", i, IH, IW,
                                                       OH, OW, mode, aa)));
            }
        }
    }
}

}  // namespace
}  // namespace vit
