// The slow, obvious twins of the CPU kernels, in double precision, for tests only. Each is a
// direct transcription of the math with no blocking, threading or approximation; the kernel
// tests compare the fast kernels with these, and the gradient checks differentiate these
// numerically.
#pragma once

#include <cstdint>
#include <vector>

namespace vit::ref {

using Vec = std::vector<double>;

// out[M,N] = inp[M,K] weight[N,K]^T + bias[N] (bias may be empty)
Vec matmul(const Vec& inp, const Vec& weight, const Vec& bias, int64_t M, int64_t K, int64_t N);
// The same product with inp and weight rounded to bf16 first (the mixed-precision Linear).
Vec matmul_bf16(const Vec& inp, const Vec& weight, const Vec& bias, int64_t M, int64_t K, int64_t N);
// x rounded to the nearest bf16 value, ties to even, by the definition: keep 8 significant bits.
double round_bf16(double x);
Vec layernorm(const Vec& x, const Vec& weight, const Vec& bias, int64_t M, int64_t C, double eps);
Vec gelu(const Vec& x, bool tanh_approx);
Vec tanh(const Vec& x);
Vec layer_scale(const Vec& x, const Vec& gamma, int64_t M, int64_t C);
// Self-attention from qkv[B,N,3,NH,HS] (no dropout); probs[B,NH,N,N] returned through `probs`.
Vec attention(const Vec& qkv, int64_t B, int64_t N, int64_t NH, int64_t HS, Vec* probs);
// Mixed-precision attention (qkv holds bf16 values) given the probabilities probs[B,NH,N,N] that
// the kernel computed (checked against `attention` on the same qkv): out = round(P) v, and the
// backward: dv = round(P)^T round(do), dP = round(do) v^T, dS = P (dP - rowsum(dP P)) / sqrt(HS),
// dq = round(dS) k, dk = round(dS)^T q. Returns out [B,N,I] and dqkv [B,N,3I].
Vec attention_bf16_output(const Vec& qkv, const Vec& probs, int64_t B, int64_t N, int64_t NH, int64_t HS);
Vec attention_bf16_backward(const Vec& qkv, const Vec& probs, const Vec& dout, int64_t B, int64_t N,
                            int64_t NH, int64_t HS);
// Conv2d(kernel = stride = P) of images[B,C,H,W] with weight[D,C,P,P], bias[D], as tokens [B,GH*GW,D].
Vec conv_patch_embed(const Vec& images, const Vec& weight, const Vec& bias, int64_t B, int64_t C,
                     int64_t H, int64_t W, int64_t P, int64_t D);
Vec tokens(const Vec& patch_tokens, const Vec& cls, const Vec& pos, int64_t B, int64_t NP, int64_t C);
// The learned 2-D position table [1 + GH*GW, C] from row[GH, C/2] and col[GW, C/2].
Vec pos_embed_2d(const Vec& row, const Vec& col, int64_t GH, int64_t GW, int64_t C);
Vec residual(const Vec& x, const Vec& f, const Vec& scale, int64_t B, int64_t n);
Vec pool(const Vec& x, int64_t B, int64_t N, int64_t C, bool mean);
// Per-sample smoothed cross-entropy losses [B].
Vec crossentropy(const Vec& logits, const std::vector<int32_t>& targets, int64_t B, int64_t K,
                 double smoothing);
// Per-sample cross-entropy losses [B] against soft targets [B,K]: -sum_k t[b,k] log softmax(z_b)_k.
Vec crossentropy_soft(const Vec& logits, const Vec& targets, int64_t B, int64_t K);
// torch.optim.AdamW (decoupled decay) or torch.optim.Adam (L2 decay), one step.
void adam(Vec& param, const Vec& grad, Vec& m, Vec& v, double lr, double beta1, double beta2,
          double eps, double weight_decay, bool decoupled, int64_t step);
// torch.optim.SGD with momentum (dampening 0), one step.
void sgd(Vec& param, const Vec& grad, Vec& buf, double lr, double momentum, double weight_decay,
         bool nesterov, bool first_step);

// ---- the hybrid's backbone (reference_conv.cpp); maps are channel-last [B, H, W, C] ----------

// A convolution of inp [B, H, W, C] (or [B, C, H, W] with nchw_input) with weight[O, C, k, k] and
// TF "same" padding: OH = ceil(H / stride), padding top = total / 2 of
// total = max((OH - 1) * stride + k - H, 0). Returns [B, OH, OW, O].
Vec conv2d_same(const Vec& inp, const Vec& weight, int64_t B, int64_t C, int64_t H, int64_t W, int64_t O,
                int64_t kernel, int64_t stride, bool nchw_input);
// Per row of weight[O, K]: (w - mean) / sqrt(var + eps), biased variance.
Vec standardize(const Vec& weight, int64_t O, int64_t K, double eps);
// GroupNorm of x[B, HW, C] in G groups, per-channel weight and bias, then ReLU if asked.
Vec groupnorm(const Vec& x, const Vec& weight, const Vec& bias, int64_t B, int64_t HW, int64_t C, int64_t G,
              double eps, bool relu);
// Max over kernel x kernel windows with "same" padding (padding never chosen); [B, OH, OW, C].
Vec maxpool_same(const Vec& x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t kernel, int64_t stride);

}  // namespace vit::ref
