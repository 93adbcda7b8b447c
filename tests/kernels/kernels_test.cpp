// Every forward kernel against its double-precision twin, on odd sizes (1, 3, 17: not multiples
// of any vector width). Default tolerance atol 1e-5, rtol 1e-4 (fp32 against double).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernel_test_util.h"
#include "kernels/cpu/vec16.h"
#include "kernels/kernels.h"
#include "test_util.h"
#include "vit/threads.h"

namespace vit {
namespace {

using test::all_near;
using test::random_floats;
using test::to_double;
using test::to_float;

TEST(VectorMath, ExpErfTanhMatchLibm) {
    for (float x = -20.0f; x <= 20.0f; x += 0.001f) {
        EXPECT_NEAR(cpu::exp_approx(x), std::exp(x), 3e-7 * std::exp(x)) << x;
        EXPECT_NEAR(cpu::erf_approx(x), std::erf(x), std::min(3e-7, 1e-6 * std::fabs(std::erf(x)) + 1e-12)) << x;
        EXPECT_NEAR(cpu::tanh_approx(x), std::tanh(x), 3e-7) << x;
    }
}

// The 16-lane exp (on AVX-512: vrndscaleps and vscalefps) against libm over its whole range, and
// finite and tiny for -inf (the masked lanes of a softmax row).
TEST(VectorMath, ExpOf16LanesMatchesLibm) {
    for (float x0 = -87.0f; x0 <= 87.6f; x0 += 0.37f) {
        cpu::f32x16 x;
        for (int i = 0; i < 16; i++) x[i] = x0 + 0.0231f * static_cast<float>(i);
        const cpu::f32x16 y = cpu::exp_approx(x);
        for (int i = 0; i < 16; i++) {
            const double e = std::exp(static_cast<double>(x[i]));
            EXPECT_NEAR(y[i], e, 3e-7 * e) << x[i];
        }
    }
    const cpu::f32x16 y = cpu::exp_approx(cpu::splat16(-std::numeric_limits<float>::infinity()));
    EXPECT_TRUE(std::isfinite(y[0]) && y[0] >= 0.0f && y[0] < 2e-38f) << y[0];
}

// The bf16 rounding by the CPU's instruction: bit for bit the software rounding (ties to even,
// NaN kept a NaN) above the denormal range; below it zero (the instruction) or the software
// rounding (GCC folding the conversion of constants); nothing past the first n lanes.
TEST(VectorMath, Bf16FtzRoundsLikeSoftwareExceptDenormals) {
    const float tie = 1.0f + 1.0f / 256, above_tie = std::nextafter(tie, 2.0f);
    const float values[16] = {tie, -tie, above_tie, 3.0f + 3.0f / 256, 1e-38f, -2e-39f, 1e-45f, 0.0f,
                              -0.0f, 3e38f, std::numeric_limits<float>::infinity(), std::nanf(""),
                              0.1f, -123.456f, 1.17549435e-38f, 65504.5f};
    cpu::f32x16 v;
    for (int i = 0; i < 16; i++) v[i] = static_cast<const volatile float*>(values)[i];  // not folded
    bf16 soft[16], hard[16];
    cpu::store_first_bf16(soft, v, 16);
    cpu::store_first_bf16_ftz(hard, v, 16);
    for (int i = 0; i < 16; i++) {
        const bool denormal = values[i] != 0.0f && std::fabs(values[i]) < std::numeric_limits<float>::min();
        if (denormal) {
            EXPECT_TRUE((hard[i].bits & 0x7fff) == 0 || hard[i].bits == soft[i].bits) << values[i];
        } else if (std::isnan(values[i])) {
            EXPECT_TRUE(std::isnan(to_float(hard[i])));
        } else {
            EXPECT_EQ(hard[i].bits, soft[i].bits) << values[i];
        }
    }
    bf16 partial[16];
    for (bf16& p : partial) p.bits = 0x1234;
    cpu::store_first_bf16_ftz(partial, v, 5);
    for (int i = 0; i < 16; i++) EXPECT_EQ(partial[i].bits, i < 5 ? soft[i].bits : 0x1234) << i;
}

struct MatmulCase {
    int64_t M, K, N;
    bool bias;
};

class Matmul : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(Matmul, ForwardMatchesReference) {
    auto [M, K, N, has_bias] = GetParam();
    auto inp = random_floats(M * K, 1), w = random_floats(N * K, 2), b = random_floats(N, 3);
    std::vector<float> out(static_cast<size_t>(M * N));
    cpu::matmul_forward(out.data(), inp.data(), w.data(), has_bias ? b.data() : nullptr, M, K, N, false);
    auto expected = ref::matmul(to_double(inp), to_double(w), has_bias ? to_double(b) : ref::Vec{}, M, K, N);
    EXPECT_TRUE(all_near(out, to_float(expected), {1e-5, 1e-4}, "matmul"));
}

std::vector<bf16> rounded(const std::vector<float>& x) {
    std::vector<bf16> out(x.size());
    cpu::round_to_bf16(out.data(), x.data(), static_cast<int64_t>(x.size()));
    return out;
}

// Products of bf16 values are exact in fp32 and accumulate in fp32: the twin rounds its inputs
// and sums in double, so only the summation order separates them (fp32 tolerance).
TEST_P(Matmul, Bf16ForwardAndBackwardMatchReference) {
    auto [M, K, N, has_bias] = GetParam();
    auto inp = random_floats(M * K, 1), w = random_floats(N * K, 2), b = random_floats(N, 3);
    auto dout = random_floats(M * N, 4);
    std::vector<float> out(static_cast<size_t>(M * N));
    cpu::matmul_forward_bf16(out.data(), rounded(inp).data(), rounded(w).data(), has_bias ? b.data() : nullptr,
                             M, K, N, false);
    auto expected = ref::matmul_bf16(to_double(inp), to_double(w), has_bias ? to_double(b) : ref::Vec{}, M, K, N);
    EXPECT_TRUE(all_near(out, to_float(expected), {1e-5, 1e-4}, "bf16 matmul"));

    // Parameter gradients are added to what is there, the input gradient is written: start all from ones.
    std::vector<float> dinp(inp.size(), 1.0f), dw(w.size(), 1.0f), db(b.size(), 1.0f);
    std::vector<bf16> dout_bf16(dout.size());
    cpu::matmul_backward_bf16(dinp.data(), dw.data(), db.data(), dout.data(), dout_bf16.data(),
                              rounded(inp).data(), rounded(w).data(), M, K, N);
    const std::vector<bf16> dout_rounded = rounded(dout);
    EXPECT_EQ(0, std::memcmp(dout_bf16.data(), dout_rounded.data(), dout.size() * sizeof(bf16))) << "dout rounded to bf16";
    ref::Vec dout_r = to_double(dout), inp_r = to_double(inp), w_r = to_double(w);
    for (double& x : dout_r) x = ref::round_bf16(x);
    for (double& x : inp_r) x = ref::round_bf16(x);
    for (double& x : w_r) x = ref::round_bf16(x);
    ref::Vec dinp_e(inp.size(), 0.0), dw_e(w.size(), 1.0), db_e(b.size(), 1.0);
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            const double g = dout_r[m * N + n];
            db_e[n] += dout[m * N + n];
            for (int64_t k = 0; k < K; k++) {
                dinp_e[m * K + k] += g * w_r[n * K + k];
                dw_e[n * K + k] += g * inp_r[m * K + k];
            }
        }
    }
    EXPECT_TRUE(all_near(dinp, to_float(dinp_e), {1e-5, 1e-4}, "bf16 dinp"));
    EXPECT_TRUE(all_near(dw, to_float(dw_e), {1e-5, 1e-4}, "bf16 dweight"));
    EXPECT_TRUE(all_near(db, to_float(db_e), {1e-5, 1e-4}, "bias gradient"));

    // With an activation's slope: the same as the backward of dout * slope, bit for bit.
    auto slope = random_floats(M * N, 5);
    std::vector<float> scaled(dout.size());
    for (size_t i = 0; i < dout.size(); i++) scaled[i] = dout[i] * slope[i];
    std::vector<float> dinp_s(inp.size(), 1.0f), dw_s(w.size(), 1.0f), db_s(b.size(), 1.0f);
    std::vector<float> dinp_p(inp.size(), 1.0f), dw_p(w.size(), 1.0f), db_p(b.size(), 1.0f);
    cpu::matmul_backward_bf16(dinp_s.data(), dw_s.data(), db_s.data(), dout.data(), dout_bf16.data(),
                              rounded(inp).data(), rounded(w).data(), M, K, N, slope.data());
    cpu::matmul_backward_bf16(dinp_p.data(), dw_p.data(), db_p.data(), scaled.data(), dout_bf16.data(),
                              rounded(inp).data(), rounded(w).data(), M, K, N);
    EXPECT_EQ(dinp_s, dinp_p);
    EXPECT_EQ(dw_s, dw_p);
    EXPECT_EQ(db_s, db_p);
}

TEST(RoundToBf16, MatchesTheDefinitionIncludingTiesAndSpecials) {
    std::vector<float> x = random_floats(1000, 7, 100.0);
    for (uint32_t hi : {0x3f80u, 0x3f81u, 0xbf80u, 0x4049u, 0x0080u}) {
        for (uint32_t lo : {0x0000u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu}) {
            x.push_back(std::bit_cast<float>(hi << 16 | lo));  // exact ties at 0x8000
        }
    }
    x.insert(x.end(), {0.0f, -0.0f, 1e30f, -3.4e38f});
    std::vector<bf16> y = rounded(x);
    for (size_t i = 0; i < x.size(); i++) {
        EXPECT_EQ(static_cast<double>(to_float(y[i])), ref::round_bf16(x[i])) << "x = " << x[i];
    }
    // Overflow rounds to infinity; NaN stays NaN; infinities stay.
    const float specials[] = {3.4028235e38f, std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity()};
    std::vector<bf16> s(3);
    cpu::round_to_bf16(s.data(), specials, 3);
    EXPECT_TRUE(std::isinf(to_float(s[0])));
    EXPECT_TRUE(std::isnan(to_float(s[1])));
    EXPECT_EQ(to_float(s[2]), std::numeric_limits<float>::infinity());
}

// GELU (both kinds) and ReLU inside the product (inference), fp32 and bf16; bf16 outputs are
// rounded, so the tolerance is one bf16 step (2^-8 relative).
TEST_P(Matmul, FusedActivationMatchesReference) {
    auto [M, K, N, has_bias] = GetParam();
    auto inp = random_floats(M * K, 1), w = random_floats(N * K, 2), b = random_floats(N, 3);
    const float* bias = has_bias ? b.data() : nullptr;
    const ref::Vec bias_d = has_bias ? to_double(b) : ref::Vec{};
    for (bool bf16_products : {false, true}) {
        const ref::Vec product = bf16_products ? ref::matmul_bf16(to_double(inp), to_double(w), bias_d, M, K, N)
                                               : ref::matmul(to_double(inp), to_double(w), bias_d, M, K, N);
        const char* kind = bf16_products ? "bf16" : "fp32";
        for (cpu::Activation act : {cpu::Activation::GeluErf, cpu::Activation::GeluTanh, cpu::Activation::Relu}) {
            ref::Vec expected = product;
            if (act == cpu::Activation::Relu) {
                for (double& v : expected) v = std::max(v, 0.0);
            } else {
                expected = ref::gelu(product, act == cpu::Activation::GeluTanh);
            }
            const int kind_index = static_cast<int>(act);  // names the activation in messages
            std::vector<float> out(static_cast<size_t>(M * N));
            if (bf16_products) {
                std::vector<bf16> out_bf16(out.size());
                cpu::matmul_activation_forward_bf16(out_bf16.data(), rounded(inp).data(), rounded(w).data(), bias, M, K,
                                                    N, act, false);
                for (size_t i = 0; i < out.size(); i++) out[i] = to_float(out_bf16[i]);
                EXPECT_TRUE(all_near(out, to_float(expected), {1e-5, 1.0 / 256}, kind)) << "activation " << kind_index;
            } else {
                cpu::matmul_activation_forward(out.data(), inp.data(), w.data(), bias, M, K, N, act, false);
                EXPECT_TRUE(all_near(out, to_float(expected), {1e-5, 1e-4}, kind)) << "activation " << kind_index;
            }
        }
    }
}

// The bias gradient's column sums run over fixed chunks of rows, each summed in row order, and add
// the chunk sums in chunk order: the result is bit-identical for any thread count (resume relies
// on this per count).
TEST(Matmul, BiasGradientDoesNotDependOnThreadCount) {
    const int64_t M = 301, K = 8, N = 100;
    auto inp = random_floats(M * K, 1), w = random_floats(N * K, 2), dout = random_floats(M * N, 3);
    std::vector<float> db1(N, 0.5f), db3(N, 0.5f);
    const int threads = num_threads();
    set_num_threads(1);
    cpu::matmul_backward(nullptr, nullptr, db1.data(), dout.data(), inp.data(), w.data(), M, K, N);
    set_num_threads(3);
    cpu::matmul_backward(nullptr, nullptr, db3.data(), dout.data(), inp.data(), w.data(), M, K, N);
    set_num_threads(threads);
    EXPECT_EQ(0, std::memcmp(db1.data(), db3.data(), db1.size() * sizeof(float)));
    ref::Vec expected(N, 0.5);
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) expected[n] += dout[m * N + n];
    }
    EXPECT_TRUE(all_near(db1, to_float(expected), {1e-5, 1e-4}, "dbias"));
}

// Weights packed into oneDNN's blocked layout give the products of the plain [N,K] weight, with
// and without the fused GELU, and added to what out held (the residual), in fp32 and bf16.
TEST_P(Matmul, PackedWeightsGiveTheSameProducts) {
    auto [M, K, N, has_bias] = GetParam();
    auto inp = random_floats(M * K, 1), w = random_floats(N * K, 2), b = random_floats(N, 3);
    const float* bias = has_bias ? b.data() : nullptr;
    const ref::Vec bias_d = has_bias ? to_double(b) : ref::Vec{};
    const std::vector<bf16> inp_bf16 = rounded(inp), w_bf16 = rounded(w);
    for (bool bf16_products : {false, true}) {
        const int64_t bytes = cpu::packed_weight_bytes(K, N, bf16_products);
        ASSERT_GE(bytes, N * K * (bf16_products ? 2 : 4));
        std::vector<char> packed(static_cast<size_t>(bytes));
        cpu::pack_weight(packed.data(), bf16_products ? static_cast<const void*>(w_bf16.data()) : w.data(), K, N,
                         bf16_products);
        const ref::Vec product = bf16_products ? ref::matmul_bf16(to_double(inp), to_double(w), bias_d, M, K, N)
                                               : ref::matmul(to_double(inp), to_double(w), bias_d, M, K, N);
        const char* kind = bf16_products ? "packed bf16" : "packed fp32";
        std::vector<float> out(static_cast<size_t>(M * N)), gelu_out(out.size());
        const std::vector<float> residual = random_floats(M * N, 4, 3.0);
        std::vector<float> sum = residual;
        ref::Vec expected_sum = product;
        for (size_t i = 0; i < sum.size(); i++) expected_sum[i] += residual[i];
        if (bf16_products) {
            const auto* pw = reinterpret_cast<const bf16*>(packed.data());
            cpu::matmul_forward_bf16(out.data(), inp_bf16.data(), pw, bias, M, K, N, true);
            cpu::matmul_accumulate_forward_bf16(sum.data(), inp_bf16.data(), pw, bias, M, K, N, true);
            std::vector<bf16> gelu_bf16(out.size());
            cpu::matmul_activation_forward_bf16(gelu_bf16.data(), inp_bf16.data(), pw, bias, M, K, N,
                                                cpu::Activation::GeluErf, true);
            for (size_t i = 0; i < out.size(); i++) gelu_out[i] = to_float(gelu_bf16[i]);
        } else {
            const auto* pw = reinterpret_cast<const float*>(packed.data());
            cpu::matmul_forward(out.data(), inp.data(), pw, bias, M, K, N, true);
            cpu::matmul_activation_forward(gelu_out.data(), inp.data(), pw, bias, M, K, N, cpu::Activation::GeluErf, true);
            cpu::matmul_accumulate_forward(sum.data(), inp.data(), pw, bias, M, K, N, true);
        }
        EXPECT_TRUE(all_near(out, to_float(product), {1e-5, 1e-4}, kind));
        EXPECT_TRUE(all_near(sum, to_float(expected_sum), {1e-5, 1e-4}, kind)) << "accumulated";
        EXPECT_TRUE(all_near(gelu_out, to_float(ref::gelu(product, false)), {1e-5, bf16_products ? 1.0 / 256 : 1e-4},
                             kind)) << "gelu";
    }
}

INSTANTIATE_TEST_SUITE_P(OddSizes, Matmul,
                         ::testing::Values(MatmulCase{1, 1, 1, true}, MatmulCase{3, 17, 5, true},
                                           MatmulCase{17, 3, 1, false}, MatmulCase{65, 33, 129, true},
                                           MatmulCase{197, 64, 192, true}, MatmulCase{200, 24, 37, true},
                                           // M >= 8 K and >= 1024: B packed before the product
                                           MatmulCase{1100, 24, 40, true}));

TEST(LayerNorm, ForwardMatchesReference) {
    for (auto [M, C] : {std::pair<int64_t, int64_t>{1, 1}, {3, 17}, {17, 3}, {5, 768}}) {
        auto x = random_floats(M * C, 4, 3.0), w = random_floats(C, 5), b = random_floats(C, 6);
        for (float& v : x) v += 10.0f;  // a large mean tests the two-pass variance
        std::vector<float> out(x.size()), mean(static_cast<size_t>(M)), rstd(static_cast<size_t>(M));
        cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), M, C, 1e-6f);
        auto expected = ref::layernorm(to_double(x), to_double(w), to_double(b), M, C, 1e-6);
        EXPECT_TRUE(all_near(out, to_float(expected), {1e-5, 1e-4}, "layernorm"));

        // The bf16-output twin is the fp32 kernel's output rounded, bit for bit, with the same statistics.
        std::vector<bf16> out_bf16(x.size());
        std::vector<float> mean16(mean.size()), rstd16(rstd.size());
        cpu::layernorm_forward_bf16(out_bf16.data(), mean16.data(), rstd16.data(), x.data(), w.data(), b.data(), M, C, 1e-6f);
        EXPECT_EQ(rounded(out), out_bf16) << "layernorm bf16, " << M << "x" << C;
        EXPECT_EQ(mean, mean16);
        EXPECT_EQ(rstd, rstd16);
    }
}

// The backward against its double twin, written out here from the formulas in layernorm.cpp:
// widths with a masked tail and several column strips per thread; the result is bit for bit
// the same on 1 and 2 threads (each parameter-gradient column is summed in row order).
TEST(LayerNorm, BackwardMatchesTwinOnAnyThreadCount) {
    const int saved_threads = num_threads();
    for (int64_t C : {17, 200, 768}) {
        const int64_t M = 37;
        auto x = random_floats(M * C, 11, 2.0), w = random_floats(C, 12), b = random_floats(C, 13);
        auto dy = random_floats(M * C, 14);
        std::vector<float> y(x.size()), mean(M), rstd(M);
        cpu::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), M, C, 1e-6f);
        ref::Vec dx_twin(x.size()), dw_twin(C, 0.0), db_twin(C, 0.0);
        for (int64_t m = 0; m < M; m++) {
            double mu = 0.0, var = 0.0, g_mean = 0.0, gx_mean = 0.0;
            for (int64_t c = 0; c < C; c++) mu += x[m * C + c] / static_cast<double>(C);
            for (int64_t c = 0; c < C; c++) var += (x[m * C + c] - mu) * (x[m * C + c] - mu) / static_cast<double>(C);
            const double s = 1.0 / std::sqrt(var + 1e-6);
            for (int64_t c = 0; c < C; c++) {
                const double g = static_cast<double>(dy[m * C + c]) * w[c], xhat = (x[m * C + c] - mu) * s;
                g_mean += g / static_cast<double>(C);
                gx_mean += g * xhat / static_cast<double>(C);
                dw_twin[c] += dy[m * C + c] * xhat;
                db_twin[c] += dy[m * C + c];
            }
            for (int64_t c = 0; c < C; c++) {
                const double g = static_cast<double>(dy[m * C + c]) * w[c], xhat = (x[m * C + c] - mu) * s;
                dx_twin[m * C + c] = 1.0 + s * (g - g_mean - xhat * gx_mean);  // dx starts at 1: added to
            }
        }
        std::vector<float> first_dx, first_dw, first_db;
        for (int threads : {1, 2}) {
            set_num_threads(threads);
            std::vector<float> dx(x.size(), 1.0f), dw(C, 0.0f), db(C, 0.0f);
            cpu::layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(),
                                    rstd.data(), M, C);
            EXPECT_TRUE(all_near(dx, to_float(dx_twin), {1e-5, 1e-4}, "layernorm dinp")) << C;
            EXPECT_TRUE(all_near(dw, to_float(dw_twin), {1e-5, 1e-4}, "layernorm dweight")) << C;
            EXPECT_TRUE(all_near(db, to_float(db_twin), {1e-5, 1e-4}, "layernorm dbias")) << C;
            if (threads == 1) {
                first_dx = dx, first_dw = dw, first_db = db;
            } else {
                EXPECT_EQ(dx, first_dx) << C;
                EXPECT_EQ(dw, first_dw) << C;
                EXPECT_EQ(db, first_db) << C;
            }
        }
    }
    set_num_threads(saved_threads);
}

TEST(Gelu, BothKindsMatchReference) {
    auto x = random_floats(1001, 7, 3.0);
    for (bool tanh_kind : {false, true}) {
        const auto n = static_cast<int64_t>(x.size());
        std::vector<float> out(x.size()), out_with_slope(x.size()), slope(x.size());
        cpu::gelu_forward(out.data(), nullptr, x.data(), n, tanh_kind);
        EXPECT_TRUE(all_near(out, to_float(ref::gelu(to_double(x), tanh_kind)), {1e-6, 1e-5},
                             tanh_kind ? "gelu tanh" : "gelu erf"));
        cpu::gelu_forward(out_with_slope.data(), slope.data(), x.data(), n, tanh_kind);
        EXPECT_EQ(out_with_slope, out) << "saving the slope leaves the output as it was";
        // The slope (checked against finite differences in gradcheck_test), also written over the
        // input; the bf16 kernel's may differ from the fp32 one's in the last bits (contractions).
        std::vector<bf16> out_bf16(x.size());
        std::vector<float> slope_bf16_kernel(x.size()), x_then_slope = x;
        cpu::gelu_forward_bf16(out_bf16.data(), slope_bf16_kernel.data(), x.data(), n, tanh_kind);
        EXPECT_EQ(rounded(out), out_bf16) << "gelu bf16 is the fp32 output rounded";
        EXPECT_TRUE(all_near(slope_bf16_kernel, slope, {1e-6, 1e-6}, "gelu slope, bf16 kernel"));
        cpu::gelu_forward_bf16(out_bf16.data(), x_then_slope.data(), x_then_slope.data(), n, tanh_kind);
        EXPECT_EQ(x_then_slope, slope_bf16_kernel) << "the slope written in place";
    }
}

TEST(Tanh, MatchesReference) {
    auto x = random_floats(257, 8, 2.0);
    std::vector<float> out(x.size());
    cpu::tanh_forward(out.data(), x.data(), static_cast<int64_t>(x.size()));
    EXPECT_TRUE(all_near(out, to_float(ref::tanh(to_double(x))), {1e-6, 1e-5}, "tanh"));
}

// The per-head product reads A and B through strides: each of the four layouts (A or B
// transposed) on sizes that leave partial row blocks (6) and partial column panels (32), and on
// sizes whose full panels are read in place (B row-major, N a multiple of 32), inside a larger
// row stride as in qkv. ldc > N checks that columns past N are left alone.
TEST(SmallGemm, MatchesReferenceForEveryLayout) {
    struct Case { int64_t M, N, K; };
    for (Case c : {Case{1, 1, 1}, Case{17, 17, 24}, Case{7, 33, 5}, Case{13, 64, 50}, Case{50, 96, 3},
                   Case{6, 32, 0}}) {
        for (bool trans_a : {false, true}) {
            for (bool trans_b : {false, true}) {
                const int64_t stride = 3 * (c.M + c.N + c.K) + 1;  // row stride of both inputs
                auto A = random_floats(stride * std::max(c.M, c.K), 21, 1.0);
                auto B = random_floats(stride * std::max(c.N, c.K), 22, 1.0);
                // A[M,K] and B^T[N,K] as dense matrices, read through the same views.
                std::vector<float> a(static_cast<size_t>(c.M * c.K)), bt(static_cast<size_t>(c.N * c.K));
                const int64_t a_row = trans_a ? 1 : stride, a_col = trans_a ? stride : 1;
                const int64_t b_row = trans_b ? 1 : stride, b_col = trans_b ? stride : 1;
                for (int64_t i = 0; i < c.M; i++) {
                    for (int64_t p = 0; p < c.K; p++) a[i * c.K + p] = A[i * a_row + p * a_col];
                }
                for (int64_t j = 0; j < c.N; j++) {
                    for (int64_t p = 0; p < c.K; p++) bt[j * c.K + p] = B[p * b_row + j * b_col];
                }
                const int64_t ldc = c.N + 3;
                std::vector<float> C(static_cast<size_t>(c.M * ldc), 7.0f);
                cpu::small_gemm(C.data(), ldc, A.data(), a_row, a_col, B.data(), b_row, b_col, c.M, c.N,
                                c.K, 0.5f);
                auto expected = ref::matmul(to_double(a), to_double(bt), {}, c.M, c.K, c.N);
                std::vector<float> got(static_cast<size_t>(c.M * c.N));
                for (int64_t i = 0; i < c.M; i++) {
                    for (int64_t j = 0; j < c.N; j++) got[i * c.N + j] = C[i * ldc + j];
                    for (int64_t j = c.N; j < ldc; j++) EXPECT_EQ(C[i * ldc + j], 7.0f) << "column past N";
                }
                for (double& e : expected) e *= 0.5;
                EXPECT_TRUE(all_near(got, to_float(expected), {1e-5, 1e-4}, "small_gemm"))
                    << c.M << "x" << c.N << "x" << c.K << " trans_a " << trans_a << " trans_b " << trans_b;
            }
        }
    }
}

std::vector<bf16> round_all(const std::vector<float>& x) {
    std::vector<bf16> out(x.size());
    for (size_t i = 0; i < x.size(); i++) out[i] = to_bf16(x[i]);
    return out;
}

std::vector<float> widen(const std::vector<bf16>& x) {
    std::vector<float> out(x.size());
    for (size_t i = 0; i < x.size(); i++) out[i] = to_float(x[i]);
    return out;
}

// The bf16 per-head product: A read in place, B packed into pair panels from bf16 or fp32
// (rounded) values, row-major or transposed; C stored row-major (columns past N untouched) or
// transposed; A also as the transpose of a packed matrix. Sizes with odd K (a lone last p),
// K = 1 and 0, partial row blocks and panels.
// The twin is the double product of the rounded operands; the sums are fp32, hence 1e-5.
TEST(SmallGemmBf16, MatchesReferenceForEveryLayout) {
    struct Case { int64_t M, N, K; };
    for (Case c : {Case{1, 1, 1}, Case{17, 17, 24}, Case{7, 33, 5}, Case{13, 64, 50}, Case{50, 96, 3},
                   Case{6, 32, 0}, Case{20, 70, 197}}) {
        const int64_t stride = 3 * (c.M + c.N + c.K) + 1;
        auto A = round_all(random_floats(c.M * stride, 31, 1.0));
        auto B = random_floats(stride * std::max(c.N, c.K), 32, 1.0);
        auto B_bf16 = round_all(B);
        std::vector<float> a(static_cast<size_t>(c.M * c.K));
        for (int64_t i = 0; i < c.M; i++) {
            for (int64_t p = 0; p < c.K; p++) a[i * c.K + p] = to_float(A[i * stride + p]);
        }
        std::vector<bf16> panels(static_cast<size_t>(cpu::pair_panel_size(c.K, c.N)));
        for (bool trans_b : {false, true}) {
            for (bool from_fp32 : {false, true}) {
                for (bool trans_c : {false, true}) {
                    const int64_t b_row = trans_b ? 1 : stride, b_col = trans_b ? stride : 1;
                    std::vector<float> bt(static_cast<size_t>(c.N * c.K));
                    for (int64_t j = 0; j < c.N; j++) {
                        for (int64_t p = 0; p < c.K; p++) bt[j * c.K + p] = to_float(B_bf16[p * b_row + j * b_col]);
                    }
                    if (from_fp32) {
                        cpu::pack_pair_panels(panels.data(), B.data(), b_row, b_col, c.K, c.N);
                    } else {
                        cpu::pack_pair_panels(panels.data(), B_bf16.data(), b_row, b_col, c.K, c.N);
                    }
                    const int64_t ldc = (trans_c ? c.M : c.N) + 3;
                    std::vector<float> C(static_cast<size_t>((trans_c ? c.N : c.M) * ldc), 7.0f);
                    const int64_t c_row = trans_c ? 1 : ldc, c_col = trans_c ? ldc : 1;
                    cpu::small_gemm_bf16(C.data(), c_row, c_col, A.data(), stride, 2, panels.data(), c.M, c.N,
                                         c.K, 0.5f);
                    auto expected = ref::matmul(to_double(a), to_double(bt), {}, c.M, c.K, c.N);
                    for (double& e : expected) e *= 0.5;
                    std::vector<float> got(static_cast<size_t>(c.M * c.N));
                    for (int64_t i = 0; i < c.M; i++) {
                        for (int64_t j = 0; j < c.N; j++) got[i * c.N + j] = C[i * c_row + j * c_col];
                    }
                    for (int64_t r = 0; r < (trans_c ? c.N : c.M); r++) {
                        for (int64_t j = trans_c ? c.M : c.N; j < ldc; j++) {
                            EXPECT_EQ(C[r * ldc + j], 7.0f) << "element past the stored range";
                        }
                    }
                    EXPECT_TRUE(all_near(got, to_float(expected), {1e-5, 1e-5}, "small_gemm_bf16"))
                        << c.M << "x" << c.N << "x" << c.K << " trans_b " << trans_b << " from_fp32 " << from_fp32
                        << " trans_c " << trans_c;
                }
            }
        }
        // A as the transpose of a packed matrix X[K, M]: up to kPairPanel rows per call.
        if (c.M <= cpu::kPairPanel) {
            std::vector<bf16> a_panels(static_cast<size_t>(cpu::pair_panel_size(c.K, c.M)));
            std::vector<float> x(static_cast<size_t>(c.K * c.M));
            for (int64_t i = 0; i < c.M; i++) {
                for (int64_t p = 0; p < c.K; p++) x[p * c.M + i] = a[i * c.K + p];
            }
            cpu::pack_pair_panels(a_panels.data(), x.data(), c.M, 1, c.K, c.M);
            cpu::pack_pair_panels(panels.data(), B_bf16.data(), stride, 1, c.K, c.N);
            std::vector<float> bt(static_cast<size_t>(c.N * c.K)), C(static_cast<size_t>(c.M * c.N));
            for (int64_t j = 0; j < c.N; j++) {
                for (int64_t p = 0; p < c.K; p++) bt[j * c.K + p] = to_float(B_bf16[p * stride + j]);
            }
            cpu::small_gemm_bf16(C.data(), c.N, 1, a_panels.data(), 2, 2 * cpu::kPairPanel, panels.data(), c.M,
                                 c.N, c.K, 1.0f);
            EXPECT_TRUE(all_near(C, to_float(ref::matmul(to_double(a), to_double(bt), {}, c.M, c.K, c.N)),
                                 {1e-5, 1e-5}, "small_gemm_bf16, A in pair panels"))
                << c.M << "x" << c.N << "x" << c.K;
        }
    }
}

// Mixed-precision attention against its twin: the probabilities against the double softmax of
// the same bf16 q, k (1e-5: fp32 sums and exp); the output and the gradients against the double
// products of the values rounded at the same points, given the kernel's probabilities. The
// rounded score gradient may round the other way where its fp32 and double values straddle a
// bf16 midpoint; one such element moves a gradient by about 2^-9 of one of its N terms, inside
// 2e-3 of the largest gradient.
TEST(Attention, Bf16MatchesReference) {
    struct Case { int64_t B, N, NH, HS; };
    // rows of 1, 17, 50, 65 (vector chunks and 1-2 scalar values), 40 (a masked chunk), 197 (13
    // chunks in registers), 300 (past the register-held rows)
    for (Case c : {Case{1, 1, 1, 2}, Case{2, 17, 3, 5}, Case{1, 65, 4, 16}, Case{1, 50, 2, 64}, Case{3, 50, 5, 8},
                   Case{2, 40, 2, 24}, Case{1, 197, 2, 16}, Case{1, 300, 1, 8}}) {
        const int64_t I = c.NH * c.HS;
        auto qkv = round_all(random_floats(c.B * c.N * 3 * I, 19, 1.5));
        auto qkv_d = to_double(widen(qkv));
        std::vector<bf16> out(static_cast<size_t>(c.B * c.N * I));
        std::vector<float> probs(static_cast<size_t>(c.B * c.NH * c.N * c.N));
        cpu::attention_forward_bf16(out.data(), probs.data(), qkv.data(), c.B, c.N, c.NH, c.HS, 0.0f, 0, 0);
        ref::Vec expected_probs;
        ref::attention(qkv_d, c.B, c.N, c.NH, c.HS, &expected_probs);
        EXPECT_TRUE(all_near(probs, to_float(expected_probs), {1e-6, 1e-5}, "bf16 attention probs"));
        auto expected_out = ref::attention_bf16_output(qkv_d, to_double(probs), c.B, c.N, c.NH, c.HS);
        // out is rounded to bf16: within half a bf16 step (at most 2^-8 relative) of the fp32 sums.
        EXPECT_TRUE(all_near(widen(out), to_float(expected_out), {1e-6, 1.0 / 256}, "bf16 attention out"));
        std::vector<bf16> out_unkept(out.size());  // inference: no probabilities kept, same output
        cpu::attention_forward_bf16(out_unkept.data(), nullptr, qkv.data(), c.B, c.N, c.NH, c.HS, 0.0f, 0, 0);
        EXPECT_TRUE(std::equal(out.begin(), out.end(), out_unkept.begin(),
                               [](bf16 a, bf16 b) { return a.bits == b.bits; }));

        auto dout = random_floats(c.B * c.N * I, 20, 1.0);
        std::vector<bf16> dqkv(qkv.size(), to_bf16(7.0f));
        std::vector<float> column_sums(static_cast<size_t>(3 * I), 0.5f);
        cpu::attention_backward_bf16(dqkv.data(), column_sums.data(), dout.data(), qkv.data(), probs.data(), c.B,
                                     c.N, c.NH, c.HS, 0.0f, 0, 0);
        auto expected = ref::attention_bf16_backward(qkv_d, to_double(probs), to_double(dout), c.B, c.N, c.NH,
                                                     c.HS);
        double largest = 0.0;
        for (double e : expected) largest = std::max(largest, std::fabs(e));
        // dqkv is rounded to bf16: half a bf16 step (2^-8 relative) on top of the fp32 tolerance.
        EXPECT_TRUE(all_near(widen(dqkv), to_float(expected), {2e-3 * largest, 1.0 / 256}, "bf16 attention dqkv"))
            << c.B << "x" << c.N << " heads " << c.NH << "x" << c.HS;
        ref::Vec expected_sums(column_sums.size(), 0.5);
        for (int64_t r = 0; r < c.B * c.N; r++) {
            for (int64_t j = 0; j < 3 * I; j++) expected_sums[j] += expected[r * 3 * I + j];
        }
        EXPECT_TRUE(all_near(column_sums, to_float(expected_sums), {2e-3 * largest * static_cast<double>(c.B * c.N), 1e-4},
                             "bf16 attention dqkv column sums"));
        // Without sums: the same dqkv.
        std::vector<bf16> dqkv_alone(qkv.size());
        cpu::attention_backward_bf16(dqkv_alone.data(), nullptr, dout.data(), qkv.data(), probs.data(), c.B, c.N,
                                     c.NH, c.HS, 0.0f, 0, 0);
        EXPECT_TRUE(std::equal(dqkv.begin(), dqkv.end(), dqkv_alone.begin(),
                               [](bf16 a, bf16 b) { return a.bits == b.bits; }));
    }
}

TEST(Attention, ForwardMatchesReference) {
    struct Case { int64_t B, N, NH, HS; };
    for (Case c : {Case{1, 1, 1, 1}, Case{2, 17, 3, 5}, Case{1, 65, 4, 16}, Case{3, 5, 2, 3}, Case{2, 40, 2, 24},
                   Case{1, 197, 2, 16}, Case{1, 300, 1, 8}}) {
        auto qkv = random_floats(c.B * c.N * 3 * c.NH * c.HS, 9, 1.5);
        std::vector<float> out(static_cast<size_t>(c.B * c.N * c.NH * c.HS));
        std::vector<float> probs(static_cast<size_t>(c.B * c.NH * c.N * c.N));
        cpu::attention_forward(out.data(), probs.data(), qkv.data(), c.B, c.N, c.NH, c.HS, 0.0f, 0, 0);
        ref::Vec expected_probs;
        auto expected = ref::attention(to_double(qkv), c.B, c.N, c.NH, c.HS, &expected_probs);
        EXPECT_TRUE(all_near(out, to_float(expected), {1e-5, 1e-4}, "attention out"));
        EXPECT_TRUE(all_near(probs, to_float(expected_probs), {1e-6, 1e-4}, "attention probs"));
        std::vector<float> out_unkept(out.size());  // inference: no probabilities kept, same output
        cpu::attention_forward(out_unkept.data(), nullptr, qkv.data(), c.B, c.N, c.NH, c.HS, 0.0f, 0, 0);
        EXPECT_EQ(out, out_unkept);
    }
}

// SPEC section 1, seed 003: Q K^T (unscaled) gives [2, 4, 4] for input 1, softmax about
// [0.063, 0.468, 0.468] and the output row about [1.937, 6.683, 1.595]. Our kernel scales by
// 1/sqrt(3), so q is given pre-multiplied by sqrt(3).
TEST(Attention, SeedWorkedExample) {
    const float Q[3][3] = {{1, 0, 2}, {2, 2, 2}, {2, 1, 3}};
    const float K[3][3] = {{0, 1, 1}, {4, 4, 0}, {2, 3, 1}};
    const float V[3][3] = {{1, 2, 3}, {2, 8, 0}, {2, 6, 3}};
    std::vector<float> qkv(27);
    for (int n = 0; n < 3; n++) {
        for (int d = 0; d < 3; d++) {
            qkv[n * 9 + d] = Q[n][d] * std::sqrt(3.0f);
            qkv[n * 9 + 3 + d] = K[n][d];
            qkv[n * 9 + 6 + d] = V[n][d];
        }
    }
    std::vector<float> out(9), probs(9);
    cpu::attention_forward(out.data(), probs.data(), qkv.data(), 1, 3, 1, 3, 0.0f, 0, 0);
    EXPECT_NEAR(probs[0], 0.0634, 5e-4);
    EXPECT_NEAR(probs[1], 0.4683, 5e-4);
    EXPECT_NEAR(probs[2], 0.4683, 5e-4);
    EXPECT_NEAR(out[0], 1.937, 1e-3);
    EXPECT_NEAR(out[1], 6.683, 1e-3);
    EXPECT_NEAR(out[2], 1.595, 1e-3);
}

// The two patch embeddings are one function: unfold + matrix product with the conv weight
// viewed as [D, C*P*P] equals Conv2d(kernel = stride = P).
TEST(PatchEmbed, UnfoldMatmulEqualsConvolution) {
    struct Case { int64_t B, C, H, W, P, D; };
    for (Case c : {Case{1, 1, 4, 4, 4, 1}, Case{2, 3, 32, 48, 8, 17}, Case{3, 3, 12, 12, 4, 5}, Case{1, 2, 28, 28, 7, 9}}) {
        auto images = random_floats(c.B * c.C * c.H * c.W, 10), w = random_floats(c.D * c.C * c.P * c.P, 11),
             b = random_floats(c.D, 12);
        const int64_t NP = (c.H / c.P) * (c.W / c.P);
        std::vector<float> patches(static_cast<size_t>(c.B * NP * c.C * c.P * c.P)), out(static_cast<size_t>(c.B * NP * c.D));
        cpu::im2patch_forward(patches.data(), images.data(), c.B, c.C, c.H, c.W, c.P);
        cpu::matmul_forward(out.data(), patches.data(), w.data(), b.data(), c.B * NP, c.C * c.P * c.P, c.D, false);
        auto conv = ref::conv_patch_embed(to_double(images), to_double(w), to_double(b), c.B, c.C, c.H, c.W, c.P, c.D);
        EXPECT_TRUE(all_near(out, to_float(conv), {1e-5, 1e-4}, "unfold+matmul vs conv"));
    }
}

TEST(Tokens, ForwardMatchesReference) {
    const int64_t B = 3, NP = 5, C = 7;
    auto pt = random_floats(B * NP * C, 13), cls = random_floats(C, 14), pos = random_floats((NP + 1) * C, 15);
    std::vector<float> x(static_cast<size_t>(B * (NP + 1) * C));
    cpu::tokens_forward(x.data(), pt.data(), cls.data(), pos.data(), B, NP, C);
    EXPECT_TRUE(all_near(x, to_float(ref::tokens(to_double(pt), to_double(cls), to_double(pos), B, NP, C)),
                         {0, 0}, "tokens"));
}

TEST(Tokens, WithoutPositionTableCopies) {
    const int64_t B = 2, NP = 3, C = 5;
    auto pt = random_floats(B * NP * C, 16), cls = random_floats(C, 17);
    std::vector<double> zeros(static_cast<size_t>((NP + 1) * C), 0.0);
    std::vector<float> x(static_cast<size_t>(B * (NP + 1) * C));
    cpu::tokens_forward(x.data(), pt.data(), cls.data(), nullptr, B, NP, C);
    EXPECT_TRUE(all_near(x, to_float(ref::tokens(to_double(pt), to_double(cls), zeros, B, NP, C)), {0, 0}, "tokens"));
}

TEST(PosEmbed2d, ForwardMatchesReference) {
    const int64_t GH = 3, GW = 4, C = 6;
    auto row = random_floats(GH * C / 2, 18), col = random_floats(GW * C / 2, 19);
    std::vector<float> pos(static_cast<size_t>((1 + GH * GW) * C), 9.0f);  // every value is written
    cpu::pos_embed_2d_forward(pos.data(), row.data(), col.data(), GH, GW, C);
    EXPECT_TRUE(all_near(pos, to_float(ref::pos_embed_2d(to_double(row), to_double(col), GH, GW, C)), {0, 0}, "pos"));
}

TEST(Pool, TokenAndMeanMatchReference) {
    const int64_t B = 2, N = 17, C = 3;
    auto x = random_floats(B * N * C, 16);
    for (bool mean : {false, true}) {
        std::vector<float> out(static_cast<size_t>(B * C));
        cpu::pool_forward(out.data(), x.data(), B, N, C, mean);
        EXPECT_TRUE(all_near(out, to_float(ref::pool(to_double(x), B, N, C, mean)), {1e-6, 1e-5}, "pool"));
    }
}

TEST(Residual, WithAndWithoutDropPathScales) {
    const int64_t B = 3, n = 17;
    auto x = random_floats(B * n, 17), f = random_floats(B * n, 18);
    std::vector<float> scale = {0.0f, 2.0f, 1.0f};
    std::vector<float> out(x.size());
    cpu::residual_forward(out.data(), x.data(), f.data(), scale.data(), B, n);
    EXPECT_TRUE(all_near(out, to_float(ref::residual(to_double(x), to_double(f), to_double(scale), B, n)),
                         {1e-6, 1e-6}, "residual"));
    cpu::residual_forward(out.data(), x.data(), f.data(), nullptr, B, n);
    EXPECT_TRUE(all_near(out, to_float(ref::residual(to_double(x), to_double(f), {}, B, n)), {1e-6, 1e-6},
                         "residual no scale"));
}

TEST(CrossEntropy, WithLabelSmoothingMatchesReference) {
    const int64_t B = 3, K = 17;
    auto logits = random_floats(B * K, 19, 4.0);
    std::vector<int32_t> targets = {0, 16, 5};
    for (float smoothing : {0.0f, 0.1f}) {
        std::vector<float> losses(B), probs(static_cast<size_t>(B * K));
        cpu::crossentropy_forward(losses.data(), probs.data(), logits.data(), targets.data(), B, K, smoothing);
        EXPECT_TRUE(all_near(losses, to_float(ref::crossentropy(to_double(logits), targets, B, K, smoothing)),
                             {1e-6, 1e-5}, "cross-entropy"));
    }
}

TEST(CrossEntropy, SoftTargetsMatchReference) {
    const int64_t B = 3, K = 17;
    auto logits = random_floats(B * K, 19, 4.0);
    std::vector<float> targets(static_cast<size_t>(B * K));
    Rng rng(4);
    for (int64_t b = 0; b < B; b++) {  // random distributions
        float sum = 0.0f;
        for (int64_t k = 0; k < K; k++) sum += targets[b * K + k] = static_cast<float>(rng.uniform());
        for (int64_t k = 0; k < K; k++) targets[b * K + k] /= sum;
    }
    std::vector<float> losses(B), probs(static_cast<size_t>(B * K));
    cpu::crossentropy_soft_forward(losses.data(), probs.data(), logits.data(), targets.data(), B, K);
    EXPECT_TRUE(all_near(losses, to_float(ref::crossentropy_soft(to_double(logits), to_double(targets), B, K)),
                         {1e-6, 1e-5}, "soft cross-entropy"));
}

TEST(Optimizers, AdamAndAdamWFiveStepsMatchReference) {
    const int64_t n = 37;
    for (bool decoupled : {true, false}) {
        auto p = random_floats(n, 20), m = std::vector<float>(n, 0.0f), v = std::vector<float>(n, 0.0f);
        ref::Vec rp = to_double(p), rm(n, 0.0), rv(n, 0.0);
        for (int64_t step = 1; step <= 5; step++) {
            auto g = random_floats(n, 100 + static_cast<uint64_t>(step));
            cpu::adam_update(p.data(), g.data(), m.data(), v.data(), n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, decoupled, step);
            ref::adam(rp, to_double(g), rm, rv, 1e-2, 0.9, 0.999, 1e-8, 0.1, decoupled, step);
        }
        EXPECT_TRUE(all_near(p, to_float(rp), {1e-6, 1e-5}, decoupled ? "adamw params" : "adam params"));
    }
}

TEST(Optimizers, SgdMomentumFiveStepsMatchReference) {
    const int64_t n = 41;
    for (bool nesterov : {false, true}) {
        auto p = random_floats(n, 21), buf = std::vector<float>(n, 0.0f);
        ref::Vec rp = to_double(p), rbuf(n, 0.0);
        for (int64_t step = 1; step <= 5; step++) {
            auto g = random_floats(n, 200 + static_cast<uint64_t>(step));
            cpu::sgd_update(p.data(), g.data(), buf.data(), n, 0.1f, 0.9f, 1e-2f, nesterov, step == 1);
            ref::sgd(rp, to_double(g), rbuf, 0.1, 0.9, 1e-2, nesterov, step == 1);
        }
        EXPECT_TRUE(all_near(p, to_float(rp), {1e-6, 1e-5}, nesterov ? "nesterov sgd" : "sgd"));
    }
}

TEST(Optimizers, SumOfSquaresAndScale) {
    const int64_t n = 1001;
    auto x = random_floats(n, 22);
    double expected = 0.0;
    for (float v : x) expected += static_cast<double>(v) * v;
    EXPECT_NEAR(cpu::sum_of_squares(x.data(), n), expected, 1e-9 * expected);
    auto y = x;
    cpu::scale(y.data(), n, 0.25f);
    for (int64_t i = 0; i < n; i++) EXPECT_EQ(y[static_cast<size_t>(i)], x[static_cast<size_t>(i)] * 0.25f);
}

TEST(Dropout, RateScaleAndDeterminism) {
    const int64_t n = 100000;
    std::vector<float> ones(n, 1.0f), out(n), again(n);
    cpu::dropout_forward(out.data(), ones.data(), n, 0.25f, 42, 3);
    cpu::dropout_forward(again.data(), ones.data(), n, 0.25f, 42, 3);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        ASSERT_TRUE(out[i] == 0.0f || std::fabs(out[i] - 1.0f / 0.75f) < 1e-6f);
        kept += out[i] != 0.0f;
        ASSERT_EQ(out[i], again[i]);
    }
    EXPECT_NEAR(static_cast<double>(kept) / n, 0.75, 0.01);
    // Another stream gives another mask.
    cpu::dropout_forward(again.data(), ones.data(), n, 0.25f, 42, 4);
    EXPECT_NE(out, again);
}

}  // namespace
}  // namespace vit
