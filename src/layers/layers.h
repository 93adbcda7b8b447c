// Layers: the stages of a ViT as calls on an Ops backend (ops.h), over parameter views (built
// once with the model) and named activation buffers (planned by the model). A layer knows the math
// of one stage; it owns no memory and chooses no precision: its Ops does.
//
// Each stage has a training forward (keeping what its backward reads), its backward, and where
// inference differs, an inference forward that keeps nothing.
#pragma once

#include <cstdint>

#include "layers/ops.h"

namespace vit::layers {

// Dropout sites of a block and of the embedding, numbered for DropoutSite::stream_of.
enum Site { kPosDrop = 0, kAttnDrop = 1, kProjDrop = 2, kMlpDrop1 = 3, kMlpDrop2 = 4, kPath1 = 5, kPath2 = 6 };

// ---- embedding: image -> token sequence --------------------------------------------------------

// What the embedding adds for each token's position: nothing, one table [N, D] (learned, or fixed
// and without a gradient), or a learned table per axis composed into one (cpu::pos_embed_2d_forward).
enum class Positions { None, Learned, Fixed, PerAxis };

struct EmbeddingParams {
    // The input: images [B, C, H, W], or the hybrid backbone's feature maps [B, H, W, C] (nhwc_input).
    int64_t channels = 0, image_height = 0, image_width = 0, patch = 0;
    bool nhwc_input = false;
    bool patch_norm = false;  // lucidrains' LayerNorms before and after the projection
    Norm norm_pre;            // over patch_dim values (patch_norm)
    Linear proj;              // [D, patch_dim] view of the conv weight [D, C, P, P]
    Norm norm;                // over D (patch_norm)
    const float* cls_token = nullptr;  // [D]
    float* dcls_token = nullptr;
    Positions positions = Positions::Learned;
    const float* pos_embed = nullptr;  // [N, D] (Learned, Fixed)
    float* dpos_embed = nullptr;       // (Learned)
    const float* pos_row = nullptr;    // [GH, D/2] (PerAxis)
    const float* pos_col = nullptr;    // [GW, D/2] (PerAxis)
    float* dpos_row = nullptr;
    float* dpos_col = nullptr;
    float drop = 0.0f;
    int64_t grid_height() const { return image_height / patch; }
    int64_t grid_width() const { return image_width / patch; }
    int64_t num_patches() const { return grid_height() * grid_width(); }
};

struct EmbeddingActs {
    float* patches = nullptr;         // [B*NP, patch_dim]
    float* patches_normed = nullptr;  // [B*NP, patch_dim] (patch_norm)
    NormStats patches_stats;          // (patch_norm, training)
    Operand proj_in;                  // [B*NP, patch_dim]: the projection's operand
    float* patch_tokens = nullptr;    // [B*NP, D]
    float* tokens_normed = nullptr;   // [B*NP, D] (patch_norm)
    NormStats tokens_stats;           // (patch_norm, training)
    float* pos_table = nullptr;       // [N, D]: the per-axis tables composed (PerAxis)
    float* x = nullptr;               // [B, N, D]: the sequence entering block 0
};

struct EmbeddingGrads {               // backward scratch
    float* dpatch_tokens = nullptr;   // [B*NP, D]
    float* dtokens_normed = nullptr;  // [B*NP, D] (patch_norm)
    float* dproj_in = nullptr;        // [B*NP, patch_dim] (patch_norm or nhwc_input)
    float* dmaps = nullptr;           // [B, H, W, C]: the input's gradient (nhwc_input)
    float* dpos_table = nullptr;      // [N, D] (PerAxis)
};

void embedding_forward(Ops& ops, const EmbeddingParams& p, const EmbeddingActs& a, const float* images, int64_t B,
                       bool training, const MaskKey& key);
// dx, the gradient of the sequence entering block 0, is used as scratch and overwritten.
void embedding_backward(Ops& ops, const EmbeddingParams& p, const EmbeddingActs& a, const EmbeddingGrads& g,
                        float* dx, int64_t B, const MaskKey& key);

// ---- encoder block ------------------------------------------------------------------------------
// pre-norm (timm's Block, the paper), LS being LayerScale (ls1, ls2) or the identity:
//   x_mid = x_in  + DropPath(LS1(Dropout(proj(Attention(norm1(x_in))))))
//   x_out = x_mid + DropPath(LS2(Dropout(fc2(Dropout(act(fc1(norm2(x_mid))))))))
// post-norm (PyTorch's nn.TransformerEncoderLayer with norm_first=False):
//   x_mid = norm1(x_in  + DropPath(Dropout(proj(Attention(x_in)))))
//   x_out = norm2(x_mid + DropPath(Dropout(fc2(Dropout(act(fc1(x_mid)))))))
// act is GELU (exact or tanh) or ReLU.

// LayerScale's per-channel factors of one branch.
struct Scale {
    const float* gamma = nullptr;  // [dim]
    float* dgamma = nullptr;
};

struct BlockParams {
    int64_t index = 0;  // depth position: names random streams
    int64_t heads = 0, head_size = 0;
    cpu::Activation activation = cpu::Activation::GeluErf;
    float drop = 0.0f, attn_drop = 0.0f, drop_path = 0.0f;
    Norm norm1;
    Linear qkv, proj;
    Norm norm2;
    Linear fc1, fc2;
    bool layer_scale = false;  // LayerScale on both branches (pre-norm blocks)
    Scale ls1, ls2;
};

// What one block's training forward keeps for its backward. Shapes: rows = B*N; I = heads *
// head_size; M the MLP width.
struct BlockActs {
    Operand qkv_in;          // [rows, D]: norm1(x_in) (pre-norm) or x_in (post-norm), qkv's operand
    NormStats norm1;         // [rows]
    Operand qkv;             // [rows, 3I]
    float* probs = nullptr;  // [B, heads, N, N]: attention probabilities
    Operand atty;            // [rows, I]: attention's output, proj's operand
    float* branch = nullptr; // [rows, D]: a residual branch's output before the sum
    float* sum1 = nullptr;   // [rows, D]: x_in + branch (post-norm: norm1's input)
    float* x_mid = nullptr;  // [rows, D]
    Operand fc1_in;          // [rows, D]: norm2(x_mid) (pre-norm) or x_mid (post-norm)
    NormStats norm2;         // [rows]
    float* fc1 = nullptr;    // [rows, M]: fc1's output, then what the activation's backward reads
    Operand fc2_in;          // [rows, M]: Dropout(act(fc1))
    float* sum2 = nullptr;   // [rows, D]: x_mid + branch (post-norm: norm2's input)
    float* x_out = nullptr;  // [rows, D]
    float* path_scale1 = nullptr;  // [B]: DropPath's per-sample scales
    float* path_scale2 = nullptr;  // [B]
    float* ls1_in = nullptr;       // [rows, D]: the branches after dropout, before LayerScale (layer_scale)
    float* ls2_in = nullptr;
};

// Backward scratch, shared by the blocks.
struct BlockGrads {
    float* dbranch = nullptr;  // [rows, D]
    float* dnormed = nullptr;  // [rows, D]: the gradient of a norm's output (pre-norm) or of a sum (post-norm)
    float* datty = nullptr;    // [rows, I]
    float* dact = nullptr;     // [rows, M]
};

// Inference keeps nothing: every block runs in the same buffers, and the residual stream x is
// updated in place.
struct BlockInferenceActs {
    Operand qkv_in;          // [rows, D]
    Operand qkv;             // [rows, 3I]
    Operand atty;            // [rows, I]
    Operand fc1_in;          // [rows, D]
    Operand fc2_in;          // [rows, M]
    float* branch = nullptr; // [rows, D] (post-norm, layer_scale)
    float* sum = nullptr;    // [rows, D] (post-norm)
};

void pre_norm_block_forward(Ops& ops, const BlockParams& p, const BlockActs& a, const float* x_in, int64_t B,
                            int64_t N, const MaskKey& key);
// dx holds d x_out on entry and d x_in on return.
void pre_norm_block_backward(Ops& ops, const BlockParams& p, const BlockActs& a, const BlockGrads& g, float* dx,
                             const float* x_in, int64_t B, int64_t N, const MaskKey& key);
// probs: where to keep the attention probabilities [B, heads, N, N], or nullptr to keep none.
void pre_norm_block_inference(Ops& ops, const BlockParams& p, const BlockInferenceActs& a, float* x, float* probs,
                              int64_t B, int64_t N);

void post_norm_block_forward(Ops& ops, const BlockParams& p, const BlockActs& a, const float* x_in, int64_t B,
                             int64_t N, const MaskKey& key);
// (The norms read the sums a keeps, not x_in.)
void post_norm_block_backward(Ops& ops, const BlockParams& p, const BlockActs& a, const BlockGrads& g, float* dx,
                              int64_t B, int64_t N, const MaskKey& key);
void post_norm_block_inference(Ops& ops, const BlockParams& p, const BlockInferenceActs& a, float* x, float* probs,
                               int64_t B, int64_t N);

// ---- head: tokens -> pooled features -> pre-logits -> logits (fp32) ----------------------------

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
    float* tokens_normed = nullptr;  // [B*N, D] (a norm, not fc_norm)
    NormStats tokens_stats;          // [B*N]
    float* pooled = nullptr;         // [B, D]
    float* pooled_normed = nullptr;  // [B, D] (fc_norm)
    NormStats pooled_stats;          // [B]
    float* pre_logits = nullptr;     // [B, R]: after tanh
    float* features = nullptr;       // [B, F]: what enters the classifier
    float* logits = nullptr;         // [B, K]
};

struct HeadGrads {
    float* dfeatures = nullptr;  // [B, max(D, F)]
    float* dpooled = nullptr;    // [B, D]
    float* dtokens = nullptr;    // [B*N, D]
};

// The head runs in fp32: ops is an fp32 backend.
void head_forward(Ops& ops, const HeadParams& p, const HeadActs& a, const float* x, int64_t B, int64_t N,
                  int64_t D);
// Adds the gradient with respect to the encoder output x into dx.
void head_backward(Ops& ops, const HeadParams& p, const HeadActs& a, const HeadGrads& g, float* dx,
                   const float* doutput, const float* x, int64_t B, int64_t N, int64_t D);

}  // namespace vit::layers
