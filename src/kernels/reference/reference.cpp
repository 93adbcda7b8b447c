// Double-precision reference twins of the kernels. Plain loops, written for reading.
#include "kernels/reference/reference.h"

#include <cmath>
#include <limits>

namespace vit::ref {

Vec matmul(const Vec& inp, const Vec& weight, const Vec& bias, int64_t M, int64_t K, int64_t N) {
    Vec out(static_cast<size_t>(M * N));
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            double s = bias.empty() ? 0.0 : bias[n];
            for (int64_t k = 0; k < K; k++) {
                s += inp[m * K + k] * weight[n * K + k];
            }
            out[m * N + n] = s;
        }
    }
    return out;
}

double round_bf16(double x) {
    if (x == 0.0 || !std::isfinite(x)) {
        return x;
    }
    int e = 0;
    const double m = std::frexp(x, &e);              // x = m 2^e, 0.5 <= |m| < 1
    const double r = std::ldexp(std::nearbyint(m * 256.0), e - 8);  // 8 significant bits, ties to even
    // Past the largest finite value (that of fp32) the result overflows to infinity.
    return std::fabs(r) > std::numeric_limits<float>::max() ? std::copysign(HUGE_VAL, r) : r;
}

Vec matmul_bf16(const Vec& inp, const Vec& weight, const Vec& bias, int64_t M, int64_t K, int64_t N) {
    Vec a = inp, w = weight;
    for (double& x : a) x = round_bf16(x);
    for (double& x : w) x = round_bf16(x);
    return matmul(a, w, bias, M, K, N);
}

Vec layernorm(const Vec& x, const Vec& weight, const Vec& bias, int64_t M, int64_t C, double eps) {
    Vec out(x.size());
    for (int64_t m = 0; m < M; m++) {
        double mean = 0.0, var = 0.0;
        for (int64_t c = 0; c < C; c++) mean += x[m * C + c];
        mean /= C;
        for (int64_t c = 0; c < C; c++) var += (x[m * C + c] - mean) * (x[m * C + c] - mean);
        var /= C;
        for (int64_t c = 0; c < C; c++) {
            out[m * C + c] = (x[m * C + c] - mean) / std::sqrt(var + eps) * weight[c] + bias[c];
        }
    }
    return out;
}

Vec gelu(const Vec& x, bool tanh_approx) {
    Vec out(x.size());
    for (size_t i = 0; i < x.size(); i++) {
        double v = x[i];
        out[i] = tanh_approx
                     ? 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)))
                     : 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    }
    return out;
}

Vec tanh(const Vec& x) {
    Vec out(x.size());
    for (size_t i = 0; i < x.size(); i++) out[i] = std::tanh(x[i]);
    return out;
}

Vec layer_scale(const Vec& x, const Vec& gamma, int64_t M, int64_t C) {
    Vec out(x.size());
    for (int64_t m = 0; m < M; m++) {
        for (int64_t c = 0; c < C; c++) out[m * C + c] = x[m * C + c] * gamma[c];
    }
    return out;
}

Vec attention(const Vec& qkv, int64_t B, int64_t N, int64_t NH, int64_t HS, Vec* probs) {
    const int64_t I = NH * HS;
    auto at = [&](int64_t b, int64_t n, int64_t which, int64_t h, int64_t d) {
        return qkv[((b * N + n) * 3 + which) * I + h * HS + d];
    };
    Vec out(static_cast<size_t>(B * N * I), 0.0);
    if (probs != nullptr) probs->assign(static_cast<size_t>(B * NH * N * N), 0.0);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t h = 0; h < NH; h++) {
            for (int64_t i = 0; i < N; i++) {
                Vec s(static_cast<size_t>(N));
                double mx = -1e300;
                for (int64_t j = 0; j < N; j++) {
                    double dot = 0.0;
                    for (int64_t d = 0; d < HS; d++) dot += at(b, i, 0, h, d) * at(b, j, 1, h, d);
                    s[j] = dot / std::sqrt(static_cast<double>(HS));
                    mx = std::max(mx, s[j]);
                }
                double sum = 0.0;
                for (int64_t j = 0; j < N; j++) sum += (s[j] = std::exp(s[j] - mx));
                for (int64_t j = 0; j < N; j++) {
                    s[j] /= sum;
                    if (probs != nullptr) (*probs)[((b * NH + h) * N + i) * N + j] = s[j];
                    for (int64_t d = 0; d < HS; d++) out[(b * N + i) * I + h * HS + d] += s[j] * at(b, j, 2, h, d);
                }
            }
        }
    }
    return out;
}

Vec attention_bf16_output(const Vec& qkv, const Vec& probs, int64_t B, int64_t N, int64_t NH, int64_t HS) {
    const int64_t I = NH * HS;
    Vec out(static_cast<size_t>(B * N * I), 0.0);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++)
            for (int64_t i = 0; i < N; i++)
                for (int64_t j = 0; j < N; j++) {
                    const double p = round_bf16(probs[((b * NH + h) * N + i) * N + j]);
                    for (int64_t d = 0; d < HS; d++)
                        out[(b * N + i) * I + h * HS + d] += p * qkv[((b * N + j) * 3 + 2) * I + h * HS + d];
                }
    return out;
}

Vec attention_bf16_backward(const Vec& qkv, const Vec& probs, const Vec& dout, int64_t B, int64_t N,
                            int64_t NH, int64_t HS) {
    const int64_t I = NH * HS;
    auto at = [&](int64_t b, int64_t n, int64_t which, int64_t h, int64_t d) {
        return ((b * N + n) * 3 + which) * I + h * HS + d;
    };
    Vec dqkv(qkv.size(), 0.0);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++) {
            auto P = [&](int64_t i, int64_t j) { return probs[((b * NH + h) * N + i) * N + j]; };
            auto d_o = [&](int64_t i, int64_t d) { return round_bf16(dout[(b * N + i) * I + h * HS + d]); };
            Vec ds(static_cast<size_t>(N * N));
            for (int64_t i = 0; i < N; i++) {
                Vec dp(static_cast<size_t>(N));
                double dot = 0.0;
                for (int64_t j = 0; j < N; j++) {
                    for (int64_t d = 0; d < HS; d++) {
                        dp[j] += d_o(i, d) * qkv[at(b, j, 2, h, d)];
                        dqkv[at(b, j, 2, h, d)] += round_bf16(P(i, j)) * d_o(i, d);
                    }
                    dot += dp[j] * P(i, j);
                }
                for (int64_t j = 0; j < N; j++) {
                    ds[i * N + j] = round_bf16(P(i, j) * (dp[j] - dot) / std::sqrt(static_cast<double>(HS)));
                }
            }
            for (int64_t i = 0; i < N; i++)
                for (int64_t j = 0; j < N; j++)
                    for (int64_t d = 0; d < HS; d++) {
                        dqkv[at(b, i, 0, h, d)] += ds[i * N + j] * qkv[at(b, j, 1, h, d)];
                        dqkv[at(b, j, 1, h, d)] += ds[i * N + j] * qkv[at(b, i, 0, h, d)];
                    }
        }
    return dqkv;
}

Vec conv_patch_embed(const Vec& images, const Vec& weight, const Vec& bias, int64_t B, int64_t C,
                     int64_t H, int64_t W, int64_t P, int64_t D) {
    const int64_t GH = H / P, GW = W / P;
    Vec out(static_cast<size_t>(B * GH * GW * D));
    for (int64_t b = 0; b < B; b++)
        for (int64_t d = 0; d < D; d++)
            for (int64_t gy = 0; gy < GH; gy++)
                for (int64_t gx = 0; gx < GW; gx++) {
                    double s = bias[d];
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t ky = 0; ky < P; ky++)
                            for (int64_t kx = 0; kx < P; kx++)
                                s += images[((b * C + c) * H + gy * P + ky) * W + gx * P + kx] *
                                     weight[((d * C + c) * P + ky) * P + kx];
                    out[((b * GH + gy) * GW + gx) * D + d] = s;
                }
    return out;
}

Vec tokens(const Vec& patch_tokens, const Vec& cls, const Vec& pos, int64_t B, int64_t NP, int64_t C) {
    const int64_t N = NP + 1;
    Vec x(static_cast<size_t>(B * N * C));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < N; t++)
            for (int64_t c = 0; c < C; c++)
                x[(b * N + t) * C + c] = (t == 0 ? cls[c] : patch_tokens[(b * NP + t - 1) * C + c]) + pos[t * C + c];
    return x;
}

Vec pos_embed_2d(const Vec& row, const Vec& col, int64_t GH, int64_t GW, int64_t C) {
    Vec pos(static_cast<size_t>((1 + GH * GW) * C), 0.0);
    for (int64_t r = 0; r < GH; r++)
        for (int64_t c = 0; c < GW; c++)
            for (int64_t k = 0; k < C; k++)
                pos[(1 + r * GW + c) * C + k] = k < C / 2 ? row[r * (C / 2) + k] : col[c * (C / 2) + k - C / 2];
    return pos;
}

Vec residual(const Vec& x, const Vec& f, const Vec& scale, int64_t B, int64_t n) {
    Vec out(x.size());
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < n; i++) out[b * n + i] = x[b * n + i] + f[b * n + i] * (scale.empty() ? 1.0 : scale[b]);
    return out;
}

Vec pool(const Vec& x, int64_t B, int64_t N, int64_t C, bool mean) {
    Vec out(static_cast<size_t>(B * C), 0.0);
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++) {
            if (!mean) {
                out[b * C + c] = x[b * N * C + c];
                continue;
            }
            for (int64_t t = 1; t < N; t++) out[b * C + c] += x[(b * N + t) * C + c] / static_cast<double>(N - 1);
        }
    return out;
}

Vec crossentropy(const Vec& logits, const std::vector<int32_t>& targets, int64_t B, int64_t K,
                 double smoothing) {
    Vec losses(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; b++) {
        double mx = -1e300, sum = 0.0;
        for (int64_t k = 0; k < K; k++) mx = std::max(mx, logits[b * K + k]);
        for (int64_t k = 0; k < K; k++) sum += std::exp(logits[b * K + k] - mx);
        double loss = 0.0;
        for (int64_t k = 0; k < K; k++) {
            double logp = logits[b * K + k] - mx - std::log(sum);
            double q = smoothing / K + (k == targets[b] ? 1.0 - smoothing : 0.0);
            loss -= q * logp;
        }
        losses[b] = loss;
    }
    return losses;
}

Vec crossentropy_soft(const Vec& logits, const Vec& targets, int64_t B, int64_t K) {
    Vec losses(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; b++) {
        double mx = -1e300, sum = 0.0;
        for (int64_t k = 0; k < K; k++) mx = std::max(mx, logits[b * K + k]);
        for (int64_t k = 0; k < K; k++) sum += std::exp(logits[b * K + k] - mx);
        for (int64_t k = 0; k < K; k++) losses[b] -= targets[b * K + k] * (logits[b * K + k] - mx - std::log(sum));
    }
    return losses;
}

void adam(Vec& param, const Vec& grad, Vec& m, Vec& v, double lr, double beta1, double beta2,
          double eps, double weight_decay, bool decoupled, int64_t step) {
    for (size_t i = 0; i < param.size(); i++) {
        double g = decoupled ? grad[i] : grad[i] + weight_decay * param[i];
        if (decoupled) {
            param[i] *= 1.0 - lr * weight_decay;
        }
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        double mhat = m[i] / (1.0 - std::pow(beta1, step));
        double vhat = v[i] / (1.0 - std::pow(beta2, step));
        param[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
}

void sgd(Vec& param, const Vec& grad, Vec& buf, double lr, double momentum, double weight_decay,
         bool nesterov, bool first_step) {
    for (size_t i = 0; i < param.size(); i++) {
        double d = grad[i] + weight_decay * param[i];
        buf[i] = first_step ? d : momentum * buf[i] + d;
        param[i] -= lr * (nesterov ? d + momentum * buf[i] : buf[i]);
    }
}

}  // namespace vit::ref
