// Layers: views into the model's parameter, gradient and activation buffers, with shape checks,
// composed from kernels. A layer knows the math of one stage of the ViT; it owns no memory.
//
// Gradient pointers are nullptr in inference. Backward functions follow the kernels' rule: they
// add into parameter gradients (zeroed by the caller once per step) and into the residual
// stream's gradient dx; a Linear's input gradient is written.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "vit/bf16.h"

namespace vit::layers {

// With weight_bf16 set the Linear runs in mixed precision: its input is rounded to bf16 (into a
// buffer the caller keeps for the backward pass), the products run in bf16 with fp32
// accumulation, and outputs, bias and gradients stay fp32.
struct Linear {
    const float* weight = nullptr;  // [out, in]
    const bf16* weight_bf16 = nullptr;  // [out, in], the bf16 copy of weight, or nullptr (fp32)
    bool packed = false;  // the weight read (fp32 or bf16) is in cpu::pack_weight's layout: forward only
    const float* bias = nullptr;    // [out] or nullptr
    float* dweight = nullptr;
    float* dbias = nullptr;
    int64_t in = 0, out = 0;
};

struct Norm {
    const float* weight = nullptr;  // [dim]
    const float* bias = nullptr;    // [dim]
    float* dweight = nullptr;
    float* dbias = nullptr;
    int64_t dim = 0;
    float eps = 1e-6f;
};

// A normalised activation and the statistics its backward needs.
struct NormActs {
    float* out = nullptr;   // [rows, dim]
    float* mean = nullptr;  // [rows]
    float* rstd = nullptr;  // [rows]
};

// Random-number addressing of one forward pass: dropout site s of layer l draws from stream
// (l << 8 | s) under seed, so the backward pass regenerates each mask.
struct Dropout {
    bool training = false;
    uint64_t seed = 0;
    static uint64_t stream(int64_t layer, int site) { return (static_cast<uint64_t>(layer) << 8) | static_cast<uint64_t>(site); }
};

// inp_bf16 [rows, in] receives inp rounded to bf16 (mixed precision only; else unused).
void linear_forward(const Linear& l, float* out, const float* inp, bf16* inp_bf16, int64_t rows);
// What a product does with its result. Write: out = Linear(inp), or in mixed precision out_bf16
// rounded when out_bf16 is given. Activate: out = act(Linear(inp)) (the MLP's GELU or ReLU), inside
// oneDNN's product, or out_bf16 rounded in mixed precision (inference only: the pre-activation the
// backward needs is not kept). Accumulate: out += Linear(inp), fp32 out at both precisions (a
// residual connection in inference).
enum class Epilogue { Write, Activate, Accumulate };
// In mixed precision the product reads inp_bf16, which the stage before has written (a norm or
// GELU writing bf16 directly, or round_to_bf16); in fp32 it reads inp.
void linear_product(const Linear& l, Epilogue e, float* out, bf16* out_bf16, const float* inp,
                    const bf16* inp_bf16, int64_t rows, cpu::Activation act = cpu::Activation::GeluErf);
// inp_bf16 is the bf16 input the forward product read; dout_bf16 [rows, out] is scratch (mixed
// precision only). With dout_slope (mixed precision only) the output gradient is dout * dout_slope:
// the backward of the activation before it, in the same pass.
void linear_backward(const Linear& l, float* dinp, const float* dout, const float* inp,
                     const bf16* inp_bf16, bf16* dout_bf16, int64_t rows, const float* dout_slope = nullptr);
// Mixed precision with the output gradient already in bf16 and its bias gradient already taken:
// the two products only.
void linear_backward_products(const Linear& l, float* dinp, const bf16* dout_bf16, const bf16* inp_bf16,
                              int64_t rows);
void norm_forward(const Norm& n, const NormActs& a, const float* inp, int64_t rows);
// The norm for a bf16 Linear: its output goes to out, rounded to bf16 (a.out is not written).
void norm_forward_bf16(const Norm& n, const NormActs& a, bf16* out, const float* inp, int64_t rows);
void norm_backward(const Norm& n, float* dinp, const float* dout, const NormActs& a, const float* inp,
                   int64_t rows);

// ---- embedding: image -> token sequence --------------------------------------------------------

struct EmbeddingParams {
    // The input: images [B, C, H, W], or the hybrid backbone's feature maps [B, H, W, C] (nhwc_input).
    int64_t channels = 0, image_height = 0, image_width = 0, patch = 0;
    bool nhwc_input = false;
    bool patch_norm = false;
    Norm norm_pre;      // over patch_dim values, lucidrains' first norm (patch_norm only)
    Linear proj;        // [D, patch_dim] view of the conv weight [D, C, P, P]
    Norm norm;          // over D (patch_norm only)
    const float* cls_token = nullptr;  // [D]
    const float* pos_embed = nullptr;  // [N, D]
    float* dcls_token = nullptr;
    float* dpos_embed = nullptr;
    float drop = 0.0f;
};

struct EmbeddingActs {
    float* patches = nullptr;       // [B*NP, patch_dim]
    bf16* proj_in_bf16 = nullptr;   // [B*NP, patch_dim] (mixed precision)
    NormActs patches_normed;        // patch_norm only
    float* patch_tokens = nullptr;  // [B*NP, D]
    NormActs tokens_normed;         // patch_norm only
    float* x = nullptr;             // [B, N, D]: the sequence entering block 0
};

struct EmbeddingScratch {           // backward only
    float* dpatch_tokens = nullptr;  // [B*NP, D]
    float* dtokens_normed = nullptr; // [B*NP, D] (patch_norm only)
    float* dpatches_normed = nullptr;// [B*NP, patch_dim] (patch_norm only)
    bf16* dout_bf16 = nullptr;       // [B*NP, D] (mixed precision)
    float* dpatches = nullptr;       // [B*NP, patch_dim] (nhwc_input only)
    float* dmaps = nullptr;          // [B, H, W, C]: the input's gradient (nhwc_input only)
};

void embedding_forward(const EmbeddingParams& p, const EmbeddingActs& a, const float* images,
                       int64_t B, const Dropout& drop);
// With nhwc_input, the input's gradient goes to s.dmaps.
// dx, the gradient of the sequence entering block 0, is used as scratch and overwritten.
void embedding_backward(const EmbeddingParams& p, const EmbeddingActs& a, const EmbeddingScratch& s,
                        float* dx, int64_t B, const Dropout& drop);

// ---- encoder block ------------------------------------------------------------------------------
// pre-norm (timm, the paper):
//   x_mid = x_in  + DropPath(Dropout(proj(Attention(norm1(x_in)))))
//   x_out = x_mid + DropPath(Dropout(fc2(Dropout(act(fc1(norm2(x_mid)))))))
// post-norm (PyTorch's nn.TransformerEncoderLayer, norm_first=False):
//   x_mid = norm1(x_in  + DropPath(Dropout(proj(Attention(x_in)))))
//   x_out = norm2(x_mid + DropPath(Dropout(fc2(Dropout(act(fc1(x_mid)))))))
// act is GELU (exact or tanh) or ReLU.

struct BlockParams {
    int64_t index = 0;  // depth position: names random streams
    int64_t heads = 0, head_size = 0;
    bool post_norm = false;
    cpu::Activation activation = cpu::Activation::GeluErf;
    float drop = 0.0f, attn_drop = 0.0f, drop_path = 0.0f;
    Norm norm1;
    Linear qkv, proj;
    Norm norm2;
    Linear fc1, fc2;
};

// In inference the model points x_mid and x_out at x_in and every block at the same buffers.
// Post-norm: ln1.out is x_mid and ln2.out is x_out (fp32 at both precisions), sum1 and sum2 the
// residual sums the norms read, and ln1_bf16 / ln2_bf16 hold x_in / x_mid rounded for qkv / fc1.
struct BlockActs {
    NormActs ln1;             // [B*N, D] (out: fp32 only; mixed precision keeps ln1_bf16)
    float* sum1 = nullptr;    // [B*N, D] (post-norm)
    float* sum2 = nullptr;    // [B*N, D] (post-norm)
    float* qkv = nullptr;     // [B*N, 3I] (fp32 only; mixed precision keeps qkv_bf16)
    float* probs = nullptr;   // [B, NH, N, N]
    float* atty = nullptr;    // [B*N, I] (fp32 only; mixed precision keeps atty_bf16)
    float* branch = nullptr;  // [B*N, D]: a residual branch's output before the add
    float* x_mid = nullptr;   // [B*N, D]
    NormActs ln2;             // [B*N, D] (out: fp32 only; mixed precision keeps ln2_bf16)
    float* fc1 = nullptr;     // [B*N, M]: GELU's slope at fc1's output (ReLU: the output, in place)
    float* gelu = nullptr;    // [B*N, M]: after the activation and dropout (not kept when mixed without dropout)
    float* x_out = nullptr;   // [B*N, D]
    float* path_scale1 = nullptr;  // [B]: DropPath scales (training only)
    float* path_scale2 = nullptr;  // [B]
    // The inputs of the four Linears and of attention's products in bf16 (mixed precision only).
    bf16* ln1_bf16 = nullptr;   // [B*N, D]
    bf16* qkv_bf16 = nullptr;   // [B*N, 3I]
    bf16* atty_bf16 = nullptr;  // [B*N, I]
    bf16* ln2_bf16 = nullptr;   // [B*N, D]
    bf16* gelu_bf16 = nullptr;  // [B*N, M]
};

// Shared by all blocks in the backward pass.
struct BlockScratch {
    float* dbranch = nullptr;  // [B*N, D]
    float* dln = nullptr;      // [B*N, D]
    float* dqkv = nullptr;     // [B*N, 3I] (fp32; mixed precision writes it in bf16 to dout_bf16)
    float* datty = nullptr;    // [B*N, I]
    float* dgelu = nullptr;    // [B*N, M]
    float* dfc1 = nullptr;     // [B*N, M]
    bf16* dout_bf16 = nullptr; // [B*N, max(3I, M, D)] (mixed precision)
};

void block_forward(const BlockParams& p, const BlockActs& a, const float* x_in, int64_t B, int64_t N,
                   const Dropout& drop);
// dx holds d x_out on entry and d x_in on return (the residual stream's gradient, in place).
void block_backward(const BlockParams& p, const BlockActs& a, const BlockScratch& s, float* dx,
                    const float* x_in, int64_t B, int64_t N, const Dropout& drop);

// ---- head: tokens -> pooled features -> pre-logits -> logits -----------------------------------

struct HeadParams {
    bool mean_pool = false;
    bool has_norm = true;  // false: a post-norm encoder's output is pooled as it is
    bool fc_norm = false;  // norm after pooling instead of on every token
    Norm norm;
    bool has_pre_logits = false;
    Linear pre_logits;
    bool has_classifier = false;
    Linear classifier;
};

struct HeadActs {
    NormActs tokens_normed;     // [B*N, D] (a norm, not fc_norm)
    float* pooled = nullptr;    // [B, D]
    NormActs pooled_normed;     // [B, D] (fc_norm)
    float* pre_logits = nullptr;// [B, R]: after tanh
    float* features = nullptr;  // [B, F]: points at what enters the classifier
    float* logits = nullptr;    // [B, K]
};

struct HeadScratch {
    float* dfeatures = nullptr;   // [B, max(D, F)]
    float* dpooled = nullptr;     // [B, D]
    float* dtokens = nullptr;     // [B*N, D]
};

void head_forward(const HeadParams& p, const HeadActs& a, const float* x, int64_t B, int64_t N,
                  int64_t D);
// Adds the gradient with respect to the encoder output x into dx.
void head_backward(const HeadParams& p, const HeadActs& a, const HeadScratch& s, float* dx,
                   const float* doutput, const float* x, int64_t B, int64_t N, int64_t D);

}  // namespace vit::layers
