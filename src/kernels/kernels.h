// The CPU kernels of vit: free functions on raw pointers and explicit sizes.
//
// Conventions, stated once for every kernel below:
//  - Row-major, contiguous, fp32 (bf16 where a name ends in _bf16). Dimension letters: B batch, N tokens (1 + patches),
//    C channels, NH heads, HS head size, M rows of a matrix product, K reduced dimension.
//  - Outputs first, sizes last. A "d" prefix is the gradient of the loss with respect to a value.
//  - Backward kernels ADD (+=) into parameter gradients (they accumulate over micro-batches) and
//    WRITE (=) input gradients, which saves a pass that would only zero them. The exceptions are
//    the kernels whose input is the residual stream (layernorm_backward, pool_backward,
//    residual_backward): they ADD into its gradient, where the identity path's share already is.
//    A gradient output passed as nullptr is not computed.
//  - Kernels do not throw on user input and do not log: layers validate shapes before calling.
//  - Threads: OpenMP, the same runtime oneDNN uses, sized by vit::set_num_threads.
//  - Results are deterministic for a fixed thread count (no atomics, no unordered reductions).
//
// Each kernel has a slow, obvious twin in kernels/reference/reference.h that tests compare with.
#pragma once

#include <cstdint>

#include "vit/bf16.h"

namespace vit::cpu {

// ---- matrix products (matmul.cpp, oneDNN) ---------------------------------------------------

// C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op(X) = X^T when trans_X.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The PyTorch Linear: out[M,N] = inp[M,K] @ weight[N,K]^T + bias[N] (bias may be nullptr).
// With `packed`, weight holds pack_weight's blocked layout instead of [N,K] (forward only).
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t M,
                    int64_t K, int64_t N, bool packed);
// The MLP's activation: exact GELU, its tanh approximation, or ReLU.
enum class Activation { GeluErf, GeluTanh, Relu };
// Inference: out = activation(inp @ weight^T + bias), the activation inside oneDNN's product as a
// post-op, which saves a pass over out.
void matmul_activation_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t M,
                               int64_t K, int64_t N, Activation activation, bool packed);
// Inference: out += inp @ weight^T + bias, the residual connection inside the product (oneDNN's
// sum post-op), which saves writing the branch and a pass adding it.
void matmul_accumulate_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t M,
                               int64_t K, int64_t N, bool packed);
// Inference weights packed once into the blocked layout oneDNN's product kernels read directly
// (fp32 or bf16 elements): packed_weight_bytes for a weight[N,K], and the copy into it.
int64_t packed_weight_bytes(int64_t K, int64_t N, bool bf16);
void pack_weight(void* packed, const void* weight, int64_t K, int64_t N, bool bf16);
// dinp[M,K] = dout @ weight;  dweight[N,K] += dout^T @ inp;  dbias[N] += sum over rows of dout.
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t M, int64_t K, int64_t N);

// Whether oneDNN has a bf16 matrix product for this CPU (native or emulated).
bool bf16_products_supported();
// Mixed precision: the same Linear with inp and weight in bf16, products accumulated in fp32,
// out and bias fp32. The backward takes dout in fp32 and rounds it into dout_bf16 [M,N] (scratch)
// for the products, in the same pass as the bias gradient; dinp and dweight are fp32.
void matmul_forward_bf16(float* out, const bf16* inp, const bf16* weight, const float* bias, int64_t M,
                         int64_t K, int64_t N, bool packed);
void matmul_accumulate_forward_bf16(float* out, const bf16* inp, const bf16* weight, const float* bias, int64_t M,
                                    int64_t K, int64_t N, bool packed);
// The same with out rounded to bf16 (the qkv projection, whose output only feeds bf16 products).
void matmul_forward_bf16_out(bf16* out, const bf16* inp, const bf16* weight, const float* bias, int64_t M,
                             int64_t K, int64_t N, bool packed);
// The same in bf16, with out rounded to bf16 (the input of the next product).
void matmul_activation_forward_bf16(bf16* out, const bf16* inp, const bf16* weight, const float* bias, int64_t M,
                                    int64_t K, int64_t N, Activation activation, bool packed);
// With dout_slope, the output gradient is dout * dout_slope elementwise (an activation's
// backward, taken in the pass that rounds dout to bf16 and sums its columns).
void matmul_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, bf16* dout_bf16,
                          const bf16* inp, const bf16* weight, int64_t M, int64_t K, int64_t N,
                          const float* dout_slope = nullptr);
// The two products alone, from an output gradient already in bf16 (and its bias gradient taken):
// dinp[M,K] = dout_bf16 @ weight; dweight[N,K] += dout_bf16^T @ inp.
void matmul_backward_products_bf16(float* dinp, float* dweight, const bf16* dout_bf16, const bf16* inp,
                                   const bf16* weight, int64_t M, int64_t K, int64_t N);
// out[i] = inp[i] rounded to the nearest bf16 (ties to even), as PyTorch's x.bfloat16().
void round_to_bf16(bf16* out, const float* inp, int64_t n);

// ---- layer normalisation (layernorm.cpp) ----------------------------------------------------

// out[M,C] = (inp - mean) * rstd * weight + bias, per row; mean[M], rstd[M] saved when not nullptr.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t M, int64_t C, float eps);
// The same with out rounded to bf16 (mixed precision: the input of a bf16 Linear, written once)
// by the CPU's conversion instruction, which flushes fp32 denormals to zero.
void layernorm_forward_bf16(bf16* out, float* mean, float* rstd, const float* inp, const float* weight,
                            const float* bias, int64_t M, int64_t C, float eps);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean, const float* rstd,
                        int64_t M, int64_t C);

// ---- activations (gelu.cpp, elementwise.cpp) ------------------------------------------------

// GELU(x) = x * Phi(x), exact (erf) or with the tanh approximation, and when slope is not
// nullptr slope = GELU'(x), saved for the backward (it shares erf and exp with the forward).
// out and slope may alias inp.
void gelu_forward(float* out, float* slope, const float* inp, int64_t n, bool tanh_approx);
// The same with out rounded to bf16 (mixed precision: the input of fc2, written once).
void gelu_forward_bf16(bf16* out, float* slope, const float* inp, int64_t n, bool tanh_approx);
// dinp = dout * slope (written), slope from the forward. (In mixed precision the bf16 Linear's
// backward applies the slope itself: matmul_backward_bf16.)
void gelu_backward(float* dinp, const float* slope, const float* dout, int64_t n);

// out = max(inp, 0); out may alias inp. The backward is relu_backward below (with the forward's
// input or output: both are > 0 at the same places).
void relu_forward(float* out, const float* inp, int64_t n);

// out = tanh(inp); backward uses the forward output: dinp = dout * (1 - out^2) (may alias dout).
void tanh_forward(float* out, const float* inp, int64_t n);
void tanh_backward(float* dinp, const float* out, const float* dout, int64_t n);

// ---- attention (attention.cpp, small_gemm.cpp) ------------------------------------------------

// C[i,j] = alpha * sum_p A[i * a_row + p * a_col] * B[p * b_row + j * b_col] for i < M, j < N,
// row stride ldc (written). Any strides: A is read in place, B through per-thread panels (full
// row-major panels in place), so transposed views are passed as strides. Single-threaded and
// allocation-free after the first call: for the per-head products of attention, called inside a
// parallel loop. Sums over p run in order.
void small_gemm(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B,
                int64_t b_row, int64_t b_col, int64_t M, int64_t N, int64_t K, float alpha);

// Mixed precision (small_gemm_bf16.cpp): C[i,j] = alpha * sum_p A[i,p] B[p,j] with bf16 A and B
// and fp32 sums on the CPU's bf16 dot products, which multiply pairs of consecutive p. B is first
// packed into pair panels (pair_panel_size bf16 values for K x N; kPairPanel columns each) from
// bf16 or fp32 (rounded) values at B[p * b_row + j * b_col]. A is read in place: A[i, 2q] and
// A[i, 2q+1] adjacent at A + i * a_row + q * a_pair (a_pair = 2: row-major; a_row = 2,
// a_pair = 2 * kPairPanel: up to kPairPanel rows of the transpose of a packed matrix). C[i,j] is
// written at C[i * c_row + j * c_col]. Single-threaded, allocation-free.
constexpr int64_t kPairPanel = 32;
int64_t pair_panel_size(int64_t K, int64_t N);
void pack_pair_panels(bf16* panels, const bf16* B, int64_t b_row, int64_t b_col, int64_t K, int64_t N);
void pack_pair_panels(bf16* panels, const float* B, int64_t b_row, int64_t b_col, int64_t K, int64_t N);
void small_gemm_bf16(float* C, int64_t c_row, int64_t c_col, const bf16* A, int64_t a_row, int64_t a_pair,
                     const bf16* panels, int64_t M, int64_t N, int64_t K, float alpha);

// Multi-head self-attention from a fused projection qkv[B,N,3*NH*HS], laid out as timm's
// reshape(B, N, 3, NH, HS). probs[B,NH,N,N] = softmax(q k^T / sqrt(HS)) over keys, kept for the
// backward pass and for inspection (before attention dropout); with probs == nullptr (inference)
// each thread keeps one head's N x N tile in its cache instead of writing B*NH of them to memory.
// out[B,N,NH*HS] = drop(probs) v, heads concatenated. Dropout with rate attn_drop uses random stream (seed, stream)
// from index first_index on (the tile of sample b, head h starts at first_index + (b NH + h) N N). The backward
// writes dqkv.
void attention_forward(float* out, float* probs, const float* qkv, int64_t B, int64_t N, int64_t NH,
                       int64_t HS, float attn_drop, uint64_t seed, uint64_t stream, uint64_t first_index = 0);
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* probs,
                        int64_t B, int64_t N, int64_t NH, int64_t HS, float attn_drop,
                        uint64_t seed, uint64_t stream, uint64_t first_index = 0);
// Mixed precision: the same with qkv in bf16 and the four products of each head in bf16 with fp32
// sums (small_gemm_bf16): the probabilities (after dropout), the output gradient and the score
// gradient (scaled by 1/sqrt(HS)) are rounded to bf16 where they enter a product, as PyTorch's
// autocast does for its batched products. probs, the softmax and its gradient stay fp32; out is
// written in bf16 (the input of the projection), dqkv in bf16 (the output gradient of the qkv
// projection, rounded to nearest even from fp32 sums), and when dqkv_column_sums is not nullptr
// it gets += the column sums of dqkv before rounding (the qkv bias gradient), in an order that
// does not depend on the thread count. The forward rounds the
// probabilities and out with the CPU's conversion instruction, which flushes fp32 denormals
// (below 1.2e-38) to zero.
void attention_forward_bf16(bf16* out, float* probs, const bf16* qkv, int64_t B, int64_t N, int64_t NH,
                            int64_t HS, float attn_drop, uint64_t seed, uint64_t stream, uint64_t first_index = 0);
void attention_backward_bf16(bf16* dqkv, float* dqkv_column_sums, const float* dout, const bf16* qkv,
                             const float* probs, int64_t B, int64_t N, int64_t NH, int64_t HS, float attn_drop,
                             uint64_t seed, uint64_t stream, uint64_t first_index = 0);

// ---- patch embedding and tokens (patch_embed.cpp) --------------------------------------------

// Unfold images[B,C,H,W] into patches[B*GH*GW, C*P*P] (GH = H/P, GW = W/P), patches in
// row-major grid order, values in PyTorch's conv-weight order (c, py, px). A matrix product with
// the conv weight [D, C*P*P] then equals Conv2d(kernel = stride = P).
void im2patch_forward(float* patches, const float* images, int64_t B, int64_t C, int64_t H,
                      int64_t W, int64_t P);

// The same unfolding of channel-last feature maps maps[B,H,W,C] (the hybrid's backbone output);
// the backward writes dmaps.
void nhwc2patch_forward(float* patches, const float* maps, int64_t B, int64_t C, int64_t H, int64_t W,
                        int64_t P);
void nhwc2patch_backward(float* dmaps, const float* dpatches, int64_t B, int64_t C, int64_t H, int64_t W,
                         int64_t P);

// x[B,N,C] with N = 1 + NP: x[b,0] = cls + pos[0]; x[b,1+i] = patch_tokens[b,i] + pos[1+i];
// pos may be nullptr (no position table). The backward writes dpatch_tokens and adds into dcls
// and dpos (parameters).
void tokens_forward(float* x, const float* patch_tokens, const float* cls, const float* pos,
                    int64_t B, int64_t NP, int64_t C);
void tokens_backward(float* dpatch_tokens, float* dcls, float* dpos, const float* dx, int64_t B,
                     int64_t NP, int64_t C);

// The learned 2-D position table pos[N,C], N = 1 + GH*GW, from a table per axis, row[GH,C/2]
// and col[GW,C/2]: the class token's row is zero and pos[1 + r*GW + c] = [row[r], col[c]]. The
// backward adds into drow and dcol (parameters).
void pos_embed_2d_forward(float* pos, const float* row, const float* col, int64_t GH, int64_t GW, int64_t C);
void pos_embed_2d_backward(float* drow, float* dcol, const float* dpos, int64_t GH, int64_t GW, int64_t C);
// The fixed 2-D sin-cos position table pos[N,C] (MAE's, C a multiple of 4): the class token's row
// is zero and, with Q = C/4 and w_k = 10000^(-k/Q), pos[1 + r*GW + c] = [sin(c w), cos(c w),
// sin(r w), cos(r w)], computed in double. It is written once, when a model is built.
void pos_embed_sincos_2d(float* pos, int64_t GH, int64_t GW, int64_t C);

// ---- the hybrid's convolutional backbone (conv.cpp, groupnorm.cpp, maxpool.cpp) --------------

// A bias-free 2-D convolution (or pooling window) with TF "same" padding, as timm's StdConv2dSame
// and MaxPool2dSame: OH = ceil(H / stride), and the total padding max((OH - 1) * stride + kernel - H, 0)
// split with the smaller half on top (left). Activations are channel-last [B, H, W, C]; the stem
// reads images [B, C, H, W] (nchw_input). Weights are PyTorch's [O, C, kernel, kernel].
struct ConvShape {
    int64_t B = 0, C = 0, H = 0, W = 0;
    int64_t O = 0, kernel = 1, stride = 1;
    int64_t OH = 0, OW = 0, pad_top = 0, pad_left = 0;
    bool nchw_input = false;
};
ConvShape same_conv_shape(int64_t B, int64_t C, int64_t H, int64_t W, int64_t O, int64_t kernel,
                          int64_t stride, bool nchw_input);
// out[B, OH, OW, O] = conv(inp, weight), through oneDNN.
void conv2d_forward(float* out, const float* inp, const float* weight, const ConvShape& s);
// dinp and dweight, both written (dweight is the gradient of the standardised weight, which
// standardize_weight_backward carries to the parameter); either may be nullptr.
void conv2d_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                     const ConvShape& s);
// Weight standardisation of weight[O, K]: out = (w - mean) * rstd per row, rstd = 1 / sqrt(var + eps)
// (biased variance). The backward adds into dweight.
void standardize_weight_forward(float* out, float* rstd, const float* weight, int64_t O, int64_t K, float eps);
void standardize_weight_backward(float* dweight, const float* dout, const float* out, const float* rstd,
                                 int64_t O, int64_t K);
// GroupNorm of inp[B, HW, C] in G groups of C/G channels, then weight/bias per channel and
// optionally ReLU; mean and rstd [B, G] are saved when not nullptr. The backward reads the forward's
// output (for the ReLU's mask), writes dinp (may be nullptr) and adds into dweight and dbias.
// The forward's out may alias inp.
void groupnorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t B, int64_t HW, int64_t C, int64_t G, float eps, bool relu);
void groupnorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* out, const float* weight, const float* mean, const float* rstd,
                        int64_t B, int64_t HW, int64_t C, int64_t G, bool relu);
// Max over kernel x kernel windows of inp[B, H, W, C] (s.O unused), padding never chosen. The
// backward writes dinp, routing each gradient to the first maximum of its window.
void maxpool_forward(float* out, const float* inp, const ConvShape& s);
void maxpool_backward(float* dinp, const float* dout, const float* inp, const ConvShape& s);
// out = max(a + b, 0) (the end of a bottleneck block); relu_backward: dinp = out > 0 ? dout : 0.
void add_relu_forward(float* out, const float* a, const float* b, int64_t n);
void relu_backward(float* dinp, const float* out, const float* dout, int64_t n);

// ---- residuals, dropout, drop-path, pooling (elementwise.cpp) --------------------------------

// out[b,:] = x[b,:] + f[b,:] * scale[b] over B samples of n values (scale nullptr = 1).
// out may alias x.
void residual_forward(float* out, const float* x, const float* f, const float* scale, int64_t B,
                      int64_t n);
void residual_backward(float* dx, float* df, const float* dout, const float* scale, int64_t B,
                       int64_t n);

// LayerScale (timm's LayerScale, CaiT, DeiT-III): out[M,C] = inp * gamma[C] per row; out may alias
// inp. The backward writes dinp = dout * gamma (may alias dout) and adds the column sums of
// dout * inp into dgamma, in an order that does not depend on the thread count.
void layer_scale_forward(float* out, const float* inp, const float* gamma, int64_t M, int64_t C);
void layer_scale_backward(float* dinp, float* dgamma, const float* dout, const float* inp, const float* gamma,
                          int64_t M, int64_t C);

// Inverted dropout: out[i] = keep_i ? inp[i] / (1 - p) : 0, keep_i from stream (seed, stream) at
// index first_index + i. out may alias inp. A diagonal map, so its own backward: the same call on
// the gradient.
void dropout_forward(float* out, const float* inp, int64_t n, float p, uint64_t seed,
                     uint64_t stream, uint64_t first_index = 0);
// DropPath per sample: scale[b] = keep_b ? 1 / (1 - p) : 0, keep_b drawn at index first_index + b.
void drop_path_scales(float* scale, int64_t B, float p, uint64_t seed, uint64_t stream, uint64_t first_index = 0);

// out[B,C]: the class token's row x[b,0] (mean = false) or the mean over patch tokens 1..N-1.
void pool_forward(float* out, const float* x, int64_t B, int64_t N, int64_t C, bool mean);
void pool_backward(float* dx, const float* dout, int64_t B, int64_t N, int64_t C, bool mean);

// ---- loss (crossentropy.cpp) ------------------------------------------------------------------

// probs[B,K] = softmax(logits); losses[b] = -sum_k q_k log p_k with
// q = (1 - smoothing) * onehot(target) + smoothing / K.
void crossentropy_forward(float* losses, float* probs, const float* logits, const int32_t* targets,
                          int64_t B, int64_t K, float smoothing);
// dlogits[b,k] += dloss * (probs[b,k] - q_k).
void crossentropy_backward(float* dlogits, const float* probs, const int32_t* targets, int64_t B,
                           int64_t K, float smoothing, float dloss);
// The same with soft targets q[B,K] given per sample (Mixup / CutMix): losses[b] = -sum_k q[b,k]
// log p[b,k]; dlogits[b,k] += dloss * (probs[b,k] - q[b,k]) (exact when each row of q sums to 1).
void crossentropy_soft_forward(float* losses, float* probs, const float* logits, const float* targets, int64_t B,
                               int64_t K);
void crossentropy_soft_backward(float* dlogits, const float* probs, const float* targets, int64_t B, int64_t K,
                                float dloss);

// ---- optimizers (optim.cpp) -------------------------------------------------------------------

// One Adam step as torch.optim.AdamW (decoupled) or torch.optim.Adam (L2), step counting from 1:
// AdamW: param *= 1 - lr*wd;  Adam: g += wd*param;  then m = b1 m + (1-b1) g;
// v = b2 v + (1-b2) g^2; param -= lr / (1-b1^step) * m / (sqrt(v) / sqrt(1-b2^step) + eps).
void adam_update(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1,
                 float beta2, float eps, float weight_decay, bool decoupled, int64_t step);
// One step of torch.optim.SGD (dampening 0): d = g + wd*param; with momentum
// buf = d on the first step, else momentum*buf + d; d = nesterov ? d + momentum*buf : buf;
// param -= lr*d.
void sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t n, float lr, float momentum,
                float weight_decay, bool nesterov, bool first_step);
// sum x^2 accumulated in double (the global gradient norm), and x *= factor.
double sum_of_squares(const float* x, int64_t n);
void scale(float* x, int64_t n, float factor);

// ---- resampling (resample.cpp) ----------------------------------------------------------------

enum class Filter { Bilinear, Bicubic };

// Resize of a channel-last grid inp[IH,IW,C] to out[OH,OW,C], equal to PyTorch's
// F.interpolate(mode='bilinear' | 'bicubic', align_corners=False[, antialias=True]).
void resize_forward(float* out, const float* inp, int64_t IH, int64_t IW, int64_t OH, int64_t OW,
                    int64_t C, Filter filter, bool antialias);

}  // namespace vit::cpu
