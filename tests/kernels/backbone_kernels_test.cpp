// The hybrid backbone's kernels (convolution, weight standardisation, GroupNorm, max pool) against
// their double-precision twins, forward, and their backward kernels against finite differences of
// those twins (L = sum(forward(x) * R), so d out = R). Sizes are odd so that "same" padding is
// asymmetric and no dimension is a multiple of a vector width.
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "kernels/kernels.h"
#include "test_util.h"

namespace vit {
namespace {

using test::all_near;
using test::dot;
using test::numeric_grad;
using test::random_floats;
using test::to_double;
using test::to_float;

constexpr test::Tol kForwardTol{1e-5, 1e-4};
constexpr test::Tol kGradTol{1e-4, 1e-3};

struct ConvCase {
    int64_t B, C, H, W, O, kernel, stride;
    bool nchw_input;
};

class Conv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv, ForwardAndBackwardMatchReference) {
    const ConvCase k = GetParam();
    const cpu::ConvShape s = cpu::same_conv_shape(k.B, k.C, k.H, k.W, k.O, k.kernel, k.stride, k.nchw_input);
    EXPECT_EQ(s.OH, (k.H + k.stride - 1) / k.stride);
    auto x = random_floats(k.B * k.C * k.H * k.W, 1), w = random_floats(k.O * k.C * k.kernel * k.kernel, 2);
    auto R = random_floats(k.B * s.OH * s.OW * k.O, 3);
    std::vector<float> y(R.size());
    cpu::conv2d_forward(y.data(), x.data(), w.data(), s);
    auto conv = [&](const ref::Vec& xx, const ref::Vec& ww) {
        return ref::conv2d_same(xx, ww, k.B, k.C, k.H, k.W, k.O, k.kernel, k.stride, k.nchw_input);
    };
    EXPECT_TRUE(all_near(y, to_float(conv(to_double(x), to_double(w))), kForwardTol, "conv2d"));

    std::vector<float> dx(x.size(), 7.0f), dw(w.size(), 7.0f);  // both written
    cpu::conv2d_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), s);
    const ref::Vec Rd = to_double(R);
    EXPECT_TRUE(all_near(dx, numeric_grad([&](const ref::Vec& v) { return dot(conv(v, to_double(w)), Rd); }, x),
                         kGradTol, "conv2d dinp"));
    EXPECT_TRUE(all_near(dw, numeric_grad([&](const ref::Vec& v) { return dot(conv(to_double(x), v), Rd); }, w),
                         kGradTol, "conv2d dweight"));
}

INSTANTIATE_TEST_SUITE_P(SamePadding, Conv,
                         ::testing::Values(ConvCase{2, 3, 9, 7, 5, 7, 2, true},    // the stem, odd sides
                                           ConvCase{1, 1, 8, 10, 4, 7, 2, true},   // even sides
                                           ConvCase{2, 5, 5, 4, 3, 3, 2, false},   // a stride-2 bottleneck
                                           ConvCase{2, 4, 5, 3, 6, 3, 1, false},   // a stride-1 3x3
                                           ConvCase{2, 6, 5, 4, 7, 1, 2, false},   // a shortcut
                                           ConvCase{3, 17, 3, 3, 9, 1, 1, false}));

TEST(StandardizeWeight, ForwardAndBackwardMatchReference) {
    const int64_t O = 5, K = 27;
    auto w = random_floats(O * K, 4, 0.3), R = random_floats(O * K, 5);
    for (float& v : w) v += 2.0f;  // a large mean
    std::vector<float> y(w.size()), rstd(O), dw(w.size(), 1.0f);  // dweight is added to
    cpu::standardize_weight_forward(y.data(), rstd.data(), w.data(), O, K, 1e-8f);
    EXPECT_TRUE(all_near(y, to_float(ref::standardize(to_double(w), O, K, 1e-8)), kForwardTol, "standardize"));
    cpu::standardize_weight_backward(dw.data(), R.data(), y.data(), rstd.data(), O, K);
    auto expected = numeric_grad([&](const ref::Vec& v) { return dot(ref::standardize(v, O, K, 1e-8), to_double(R)); }, w);
    for (float& g : expected) g += 1.0f;
    EXPECT_TRUE(all_near(dw, expected, kGradTol, "standardize dweight"));
}

TEST(GroupNorm, ForwardAndBackwardMatchReference) {
    const int64_t B = 2, HW = 7;
    for (const auto& shape : {std::pair<int64_t, int64_t>{6, 3}, {5, 5}, {4, 1}}) {
        const int64_t C = shape.first, G = shape.second;  // named, not bound: the lambdas below use them
        for (bool relu : {false, true}) {
            auto x = random_floats(B * HW * C, 6, 2.0), w = random_floats(C, 7), b = random_floats(C, 8);
            auto R = random_floats(x.size(), 9);
            for (float& v : x) v += 5.0f;  // a large mean tests the two-pass variance
            std::vector<float> y(x.size()), mean(B * G), rstd(B * G), dx(x.size(), 7.0f), dw(C, 0.0f), db(C, 0.0f);
            cpu::groupnorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), B, HW, C, G,
                                   1e-5f, relu);
            auto gn = [&](const ref::Vec& xx, const ref::Vec& ww, const ref::Vec& bb) {
                return ref::groupnorm(xx, ww, bb, B, HW, C, G, 1e-5, relu);
            };
            const std::string what = fmt::format("groupnorm C={} G={} relu={}", C, G, relu);
            EXPECT_TRUE(all_near(y, to_float(gn(to_double(x), to_double(w), to_double(b))), kForwardTol, what));
            cpu::groupnorm_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), y.data(), w.data(),
                                    mean.data(), rstd.data(), B, HW, C, G, relu);
            const ref::Vec Rd = to_double(R);
            EXPECT_TRUE(all_near(dx, numeric_grad([&](const ref::Vec& v) { return dot(gn(v, to_double(w), to_double(b)), Rd); }, x),
                                 kGradTol, what + " dinp"));
            EXPECT_TRUE(all_near(dw, numeric_grad([&](const ref::Vec& v) { return dot(gn(to_double(x), v, to_double(b)), Rd); }, w),
                                 kGradTol, what + " dweight"));
            EXPECT_TRUE(all_near(db, numeric_grad([&](const ref::Vec& v) { return dot(gn(to_double(x), to_double(w), v), Rd); }, b),
                                 kGradTol, what + " dbias"));
        }
    }
}

TEST(MaxPool, ForwardAndBackwardMatchReference) {
    for (const auto& side : {std::pair<int64_t, int64_t>{7, 6}, {9, 9}, {1, 2}}) {
        const int64_t H = side.first, W = side.second;
        const int64_t B = 2, C = 3;
        const cpu::ConvShape s = cpu::same_conv_shape(B, C, H, W, C, 3, 2, false);
        auto x = random_floats(B * H * W * C, 10), R = random_floats(B * s.OH * s.OW * C, 11);
        std::vector<float> y(R.size()), dx(x.size(), 7.0f);  // dinp is written
        cpu::maxpool_forward(y.data(), x.data(), s);
        EXPECT_TRUE(all_near(y, to_float(ref::maxpool_same(to_double(x), B, H, W, C, 3, 2)), kForwardTol, "maxpool"));
        cpu::maxpool_backward(dx.data(), R.data(), x.data(), s);
        EXPECT_TRUE(all_near(dx, numeric_grad([&](const ref::Vec& v) { return dot(ref::maxpool_same(v, B, H, W, C, 3, 2), to_double(R)); }, x),
                             kGradTol, "maxpool dinp"));
    }
}

TEST(AddRelu, ForwardAndBackward) {
    const std::vector<float> a = {1.0f, -2.0f, 0.5f, -0.25f}, b = {0.5f, 1.0f, -1.0f, 0.25f}, dout = {1.0f, 2.0f, 3.0f, 4.0f};
    std::vector<float> out(4), dinp(4);
    cpu::add_relu_forward(out.data(), a.data(), b.data(), 4);
    EXPECT_EQ(out, (std::vector<float>{1.5f, 0.0f, 0.0f, 0.0f}));
    cpu::relu_backward(dinp.data(), out.data(), dout.data(), 4);
    EXPECT_EQ(dinp, (std::vector<float>{1.0f, 0.0f, 0.0f, 0.0f}));
}

TEST(PatchEmbed, ChannelLastUnfoldMatchesTheImageUnfold) {
    const int64_t B = 2, C = 3, H = 4, W = 6, P = 2;
    auto nchw = random_floats(B * C * H * W, 12);
    std::vector<float> nhwc(nchw.size());
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < H * W; i++) nhwc[static_cast<size_t>((b * H * W + i) * C + c)] = nchw[static_cast<size_t>((b * C + c) * H * W + i)];
    std::vector<float> from_images(nchw.size()), from_maps(nchw.size()), back(nchw.size(), 7.0f);
    cpu::im2patch_forward(from_images.data(), nchw.data(), B, C, H, W, P);
    cpu::nhwc2patch_forward(from_maps.data(), nhwc.data(), B, C, H, W, P);
    EXPECT_EQ(from_images, from_maps);
    cpu::nhwc2patch_backward(back.data(), from_maps.data(), B, C, H, W, P);  // a permutation: its own inverse's transpose
    EXPECT_EQ(back, nhwc);
}

}  // namespace
}  // namespace vit
