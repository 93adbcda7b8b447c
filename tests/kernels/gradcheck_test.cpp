// Every backward kernel against central finite differences of its double-precision forward
// twin. The objective is L = sum(forward(x) * R) for a random R, so d out = R. Differences use
// h = 1e-6 in double (truncation ~1e-12, rounding ~1e-10); the fp32 kernels are then held to
// atol 1e-4 + rtol 1e-3, the rounding of fp32 sums over at most a few hundred terms.
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "kernels/kernels.h"
#include "test_util.h"

namespace vit {
namespace {

using test::all_near;
using test::random_floats;
using test::to_double;
using test::to_float;
using test::dot;
using test::numeric_grad;

constexpr test::Tol kGradTol{1e-4, 1e-3};

TEST(GradCheck, Matmul) {
    const int64_t M = 3, K = 5, N = 4;
    auto x = random_floats(M * K, 1), w = random_floats(N * K, 2), b = random_floats(N, 3), R = random_floats(M * N, 4);
    std::vector<float> dx(x.size(), 7.0f), dw(w.size()), db(b.size());  // dinp is written, not added to
    cpu::matmul_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), M, K, N);
    auto Rd = to_double(R);
    EXPECT_TRUE(all_near(dx, numeric_grad([&](const ref::Vec& v) { return dot(ref::matmul(v, to_double(w), to_double(b), M, K, N), Rd); }, x), kGradTol, "dinp"));
    EXPECT_TRUE(all_near(dw, numeric_grad([&](const ref::Vec& v) { return dot(ref::matmul(to_double(x), v, to_double(b), M, K, N), Rd); }, w), kGradTol, "dweight"));
    EXPECT_TRUE(all_near(db, numeric_grad([&](const ref::Vec& v) { return dot(ref::matmul(to_double(x), to_double(w), v, M, K, N), Rd); }, b), kGradTol, "dbias"));
}

TEST(GradCheck, LayerNorm) {
    const int64_t M = 3, C = 17;
    auto x = random_floats(M * C, 5, 2.0), w = random_floats(C, 6), b = random_floats(C, 7), R = random_floats(M * C, 8);
    std::vector<float> y(x.size()), mean(M), rstd(M), dx(x.size()), dw(C), db(C);
    cpu::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), M, C, 1e-6f);
    cpu::layernorm_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), mean.data(), rstd.data(), M, C);
    auto Rd = to_double(R);
    auto ln = [&](const ref::Vec& xx, const ref::Vec& ww, const ref::Vec& bb) { return dot(ref::layernorm(xx, ww, bb, M, C, 1e-6), Rd); };
    EXPECT_TRUE(all_near(dx, numeric_grad([&](const ref::Vec& v) { return ln(v, to_double(w), to_double(b)); }, x), kGradTol, "dinp"));
    EXPECT_TRUE(all_near(dw, numeric_grad([&](const ref::Vec& v) { return ln(to_double(x), v, to_double(b)); }, w), kGradTol, "dweight"));
    EXPECT_TRUE(all_near(db, numeric_grad([&](const ref::Vec& v) { return ln(to_double(x), to_double(w), v); }, b), kGradTol, "dbias"));
}

TEST(GradCheck, GeluBothKinds) {
    auto x = random_floats(41, 9, 2.5), R = random_floats(41, 10);
    for (bool tanh_kind : {false, true}) {
        std::vector<float> y(x.size()), slope(x.size()), dx(x.size(), 7.0f);  // dx is written, not added to
        cpu::gelu_forward(y.data(), slope.data(), x.data(), 41, tanh_kind);
        cpu::gelu_backward(dx.data(), slope.data(), R.data(), 41);
        EXPECT_TRUE(all_near(dx, numeric_grad([&](const ref::Vec& v) { return dot(ref::gelu(v, tanh_kind), to_double(R)); }, x),
                             kGradTol, tanh_kind ? "gelu tanh" : "gelu erf"));
    }
}

TEST(GradCheck, Tanh) {
    auto x = random_floats(23, 11), R = random_floats(23, 12);
    std::vector<float> y(x.size()), dx(x.size(), 7.0f);  // dx is written
    cpu::tanh_forward(y.data(), x.data(), 23);
    cpu::tanh_backward(dx.data(), y.data(), R.data(), 23);
    EXPECT_TRUE(all_near(dx, numeric_grad([&](const ref::Vec& v) { return dot(ref::tanh(v), to_double(R)); }, x), kGradTol, "tanh"));
}

TEST(GradCheck, Attention) {
    const int64_t B = 2, N = 5, NH = 2, HS = 3;
    auto qkv = random_floats(B * N * 3 * NH * HS, 13), R = random_floats(B * N * NH * HS, 14);
    std::vector<float> out(R.size()), probs(static_cast<size_t>(B * NH * N * N)), dqkv(qkv.size(), 7.0f);  // dqkv is written
    cpu::attention_forward(out.data(), probs.data(), qkv.data(), B, N, NH, HS, 0.0f, 0, 0);
    cpu::attention_backward(dqkv.data(), R.data(), qkv.data(), probs.data(), B, N, NH, HS, 0.0f, 0, 0);
    EXPECT_TRUE(all_near(dqkv, numeric_grad([&](const ref::Vec& v) { return dot(ref::attention(v, B, N, NH, HS, nullptr), to_double(R)); }, qkv),
                         kGradTol, "dqkv"));
}

// With attention dropout the forward is still a fixed function of qkv for a given seed: its
// gradient is the masked one. Checked against differences of the fp32 kernel itself (h = 1e-2,
// so the looser tolerance).
TEST(GradCheck, AttentionWithDropout) {
    const int64_t B = 1, N = 6, NH = 2, HS = 4;
    const float p = 0.3f;
    auto qkv = random_floats(B * N * 3 * NH * HS, 15), R = random_floats(B * N * NH * HS, 16);
    std::vector<float> out(R.size()), probs(static_cast<size_t>(B * NH * N * N)), dqkv(qkv.size());
    auto objective = [&](const std::vector<float>& in) {
        cpu::attention_forward(out.data(), probs.data(), in.data(), B, N, NH, HS, p, 5, 9);
        double s = 0.0;
        for (size_t i = 0; i < out.size(); i++) s += static_cast<double>(out[i]) * R[i];
        return s;
    };
    objective(qkv);
    cpu::attention_backward(dqkv.data(), R.data(), qkv.data(), probs.data(), B, N, NH, HS, p, 5, 9);
    std::vector<float> numeric(qkv.size());
    for (size_t i = 0; i < qkv.size(); i++) {
        auto up = qkv, down = qkv;
        up[i] += 1e-2f;
        down[i] -= 1e-2f;
        numeric[i] = static_cast<float>((objective(up) - objective(down)) / 2e-2);
    }
    EXPECT_TRUE(all_near(dqkv, numeric, {2e-3, 2e-2}, "dqkv with dropout"));
}

TEST(GradCheck, PatchEmbedThroughUnfold) {
    const int64_t B = 2, C = 2, H = 8, W = 4, P = 2, D = 3, NP = (H / P) * (W / P), PD = C * P * P;
    auto img = random_floats(B * C * H * W, 17), w = random_floats(D * PD, 18), b = random_floats(D, 19),
         R = random_floats(B * NP * D, 20);
    std::vector<float> patches(static_cast<size_t>(B * NP * PD)), dw(w.size());
    cpu::im2patch_forward(patches.data(), img.data(), B, C, H, W, P);
    cpu::matmul_backward(nullptr, dw.data(), nullptr, R.data(), patches.data(), w.data(), B * NP, PD, D);
    auto conv = [&](const ref::Vec& im, const ref::Vec& ww) { return dot(ref::conv_patch_embed(im, ww, to_double(b), B, C, H, W, P, D), to_double(R)); };
    EXPECT_TRUE(all_near(dw, numeric_grad([&](const ref::Vec& v) { return conv(to_double(img), v); }, w), kGradTol, "dweight"));
}

TEST(GradCheck, Tokens) {
    const int64_t B = 2, NP = 3, C = 4;
    auto pt = random_floats(B * NP * C, 21), cls = random_floats(C, 22), pos = random_floats((NP + 1) * C, 23),
         R = random_floats(B * (NP + 1) * C, 24);
    std::vector<float> dpt(pt.size(), 7.0f), dcls(cls.size()), dpos(pos.size());  // dpt is written
    cpu::tokens_backward(dpt.data(), dcls.data(), dpos.data(), R.data(), B, NP, C);
    auto f = [&](const ref::Vec& a, const ref::Vec& c, const ref::Vec& p) { return dot(ref::tokens(a, c, p, B, NP, C), to_double(R)); };
    EXPECT_TRUE(all_near(dpt, numeric_grad([&](const ref::Vec& v) { return f(v, to_double(cls), to_double(pos)); }, pt), kGradTol, "dpatch_tokens"));
    EXPECT_TRUE(all_near(dcls, numeric_grad([&](const ref::Vec& v) { return f(to_double(pt), v, to_double(pos)); }, cls), kGradTol, "dcls"));
    EXPECT_TRUE(all_near(dpos, numeric_grad([&](const ref::Vec& v) { return f(to_double(pt), to_double(cls), v); }, pos), kGradTol, "dpos"));
}

TEST(GradCheck, PosEmbed2d) {
    const int64_t GH = 2, GW = 3, C = 4, N = 1 + GH * GW;
    auto row = random_floats(GH * C / 2, 41), col = random_floats(GW * C / 2, 42), R = random_floats(N * C, 43);
    std::vector<float> drow(row.size(), 0.5f), dcol(col.size(), -0.25f);  // parameter gradients accumulate
    cpu::pos_embed_2d_backward(drow.data(), dcol.data(), R.data(), GH, GW, C);
    for (float& v : drow) v -= 0.5f;
    for (float& v : dcol) v += 0.25f;
    auto f = [&](const ref::Vec& r, const ref::Vec& c) { return dot(ref::pos_embed_2d(r, c, GH, GW, C), to_double(R)); };
    EXPECT_TRUE(all_near(drow, numeric_grad([&](const ref::Vec& v) { return f(v, to_double(col)); }, row), kGradTol, "drow"));
    EXPECT_TRUE(all_near(dcol, numeric_grad([&](const ref::Vec& v) { return f(to_double(row), v); }, col), kGradTol, "dcol"));
}

TEST(GradCheck, ResidualWithDropPath) {
    const int64_t B = 3, n = 5;
    auto x = random_floats(B * n, 25), f = random_floats(B * n, 26), R = random_floats(B * n, 27);
    std::vector<float> scale = {0.0f, 1.25f, 1.0f}, dx(x.size()), df(f.size());
    cpu::residual_backward(dx.data(), df.data(), R.data(), scale.data(), B, n);
    auto g = [&](const ref::Vec& a, const ref::Vec& b) { return dot(ref::residual(a, b, to_double(scale), B, n), to_double(R)); };
    EXPECT_TRUE(all_near(dx, numeric_grad([&](const ref::Vec& v) { return g(v, to_double(f)); }, x), kGradTol, "dx"));
    EXPECT_TRUE(all_near(df, numeric_grad([&](const ref::Vec& v) { return g(to_double(x), v); }, f), kGradTol, "df"));
}

TEST(GradCheck, LayerScale) {
    const int64_t M = 130, C = 7;  // three row chunks, the last partial
    auto x = random_floats(M * C, 41), gamma = random_floats(C, 42), R = random_floats(M * C, 43);
    std::vector<float> y(x.size()), dx(x.size(), 7.0f), dgamma(C, 0.5f);  // dx written, dgamma added to
    cpu::layer_scale_forward(y.data(), x.data(), gamma.data(), M, C);
    EXPECT_TRUE(all_near(y, to_float(ref::layer_scale(to_double(x), to_double(gamma), M, C)), {1e-6, 1e-6}, "forward"));
    cpu::layer_scale_backward(dx.data(), dgamma.data(), R.data(), x.data(), gamma.data(), M, C);
    auto f = [&](const ref::Vec& a, const ref::Vec& g) { return dot(ref::layer_scale(a, g, M, C), to_double(R)); };
    EXPECT_TRUE(all_near(dx, numeric_grad([&](const ref::Vec& v) { return f(v, to_double(gamma)); }, x), kGradTol, "dx"));
    std::vector<float> dgamma_added = dgamma;
    for (float& v : dgamma_added) v -= 0.5f;
    EXPECT_TRUE(all_near(dgamma_added, numeric_grad([&](const ref::Vec& v) { return f(to_double(x), v); }, gamma), kGradTol,
                         "dgamma"));
}

TEST(GradCheck, Pool) {
    const int64_t B = 2, N = 5, C = 3;
    auto x = random_floats(B * N * C, 28), R = random_floats(B * C, 29);
    for (bool mean : {false, true}) {
        std::vector<float> dx(x.size());
        cpu::pool_backward(dx.data(), R.data(), B, N, C, mean);
        EXPECT_TRUE(all_near(dx, numeric_grad([&](const ref::Vec& v) { return dot(ref::pool(v, B, N, C, mean), to_double(R)); }, x),
                             kGradTol, mean ? "mean pool" : "token pool"));
    }
}

TEST(GradCheck, CrossEntropy) {
    const int64_t B = 3, K = 7;
    auto logits = random_floats(B * K, 30, 2.0);
    std::vector<int32_t> targets = {6, 0, 3};
    for (float smoothing : {0.0f, 0.2f}) {
        std::vector<float> losses(B), probs(static_cast<size_t>(B * K)), dlogits(logits.size());
        cpu::crossentropy_forward(losses.data(), probs.data(), logits.data(), targets.data(), B, K, smoothing);
        cpu::crossentropy_backward(dlogits.data(), probs.data(), targets.data(), B, K, smoothing, 1.0f / B);
        auto mean_loss = [&](const ref::Vec& v) {
            ref::Vec l = ref::crossentropy(v, targets, B, K, smoothing);
            return (l[0] + l[1] + l[2]) / B;
        };
        EXPECT_TRUE(all_near(dlogits, numeric_grad(mean_loss, logits), kGradTol, "dlogits"));
    }
}

TEST(GradCheck, SoftTargetCrossEntropy) {
    const int64_t B = 3, K = 7;
    auto logits = random_floats(B * K, 33, 2.0);
    std::vector<float> targets(static_cast<size_t>(B * K), 0.0f);
    for (int64_t b = 0; b < B; b++) {  // a Mixup-like pair of classes per row
        targets[b * K + b] = 0.7f;
        targets[b * K + 6 - b] += 0.3f;
    }
    std::vector<float> losses(B), probs(static_cast<size_t>(B * K)), dlogits(logits.size());
    cpu::crossentropy_soft_forward(losses.data(), probs.data(), logits.data(), targets.data(), B, K);
    cpu::crossentropy_soft_backward(dlogits.data(), probs.data(), targets.data(), B, K, 1.0f / B);
    auto mean_loss = [&](const ref::Vec& v) {
        ref::Vec l = ref::crossentropy_soft(v, to_double(targets), B, K);
        return (l[0] + l[1] + l[2]) / B;
    };
    EXPECT_TRUE(all_near(dlogits, numeric_grad(mean_loss, logits), kGradTol, "soft dlogits"));
}

// Dropout is y = mask * x with a diagonal mask (kept / (1 - p) or 0): its own transpose, so the
// layers run its backward as dropout_forward on the gradient, with the same seed and stream.
TEST(GradCheck, DropoutIsItsOwnBackward) {
    const int64_t n = 101;
    auto x = random_floats(n, 31), R = random_floats(n, 32);
    std::vector<float> y(n), dx(n), ones(n, 1.0f), mask(n);
    cpu::dropout_forward(y.data(), x.data(), n, 0.4f, 7, 1);
    cpu::dropout_forward(mask.data(), ones.data(), n, 0.4f, 7, 1);
    cpu::dropout_forward(dx.data(), R.data(), n, 0.4f, 7, 1);
    for (int64_t i = 0; i < n; i++) {
        EXPECT_FLOAT_EQ(y[i], x[i] * mask[i]);
        EXPECT_FLOAT_EQ(dx[i], R[i] * mask[i]);
    }
}

}  // namespace
}  // namespace vit
