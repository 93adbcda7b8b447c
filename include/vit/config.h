// ViTConfig: every architectural option of a Vision Transformer, with timm's defaults, and the
// named presets (Ti, S, B, L, H with patches 32, 16, 14, 8).
//
// Example:
//   vit::ViTConfig cfg = vit::preset("vit_base_patch16_224");
//   cfg.num_classes = 10;
//   cfg.validate();                       // throws vit::Error naming the bad field
//   fmt::print("{} tokens\n", cfg.num_tokens());   // 197
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vit {

// What the head reads: the class token's row, or the mean of the patch tokens (the class token
// is in the sequence either way).
enum class Pool { Token, Mean };

// Where a token learns its place in the grid (the paper's Appendix D.4 ablation). The class
// token's position row is learned in Learned1d and zero in the others (its own learned token
// already tells it apart).
//   None:      no position information.
//   Learned1d: one learned row per token, pos_embed [1, N, D] (the paper's and timm's default).
//   Learned2d: a learned table per axis, pos_embed_row [GH, D/2] and pos_embed_col [GW, D/2]; the
//              patch at (r, c) gets the concatenation [row[r], col[c]].
//   SinCos2d:  fixed, not learned (MAE, "simple ViT"): with w_k = 10000^(-k / (D/4)), k < D/4,
//              the patch at (r, c) gets [sin(c w), cos(c w), sin(r w), cos(r w)].
enum class PosEmbed { None, Learned1d, Learned2d, SinCos2d };
const char* pos_embed_name(PosEmbed kind);                  // "none", "learned", "learned_2d", "sincos_2d"
bool parse_pos_embed(std::string_view name, PosEmbed& out);  // false for any other name

// One weight-standardised convolution of the hybrid backbone and the GroupNorm after it: the
// stem's, or in a bottleneck block the shortcut's, the 1x1 reduction, the 3x3, the 1x1 expansion.
enum class ConvRole { Stem, Shortcut, Conv1, Conv2, Conv3 };
struct BackboneConv {
    ConvRole role = ConvRole::Stem;
    std::string conv, norm;  // timm module names, e.g. "patch_embed.backbone.stem.conv"
    int64_t in_channels = 0, out_channels = 0, kernel = 1, stride = 1;
    int64_t in_height = 0, in_width = 0;
    bool relu = true;  // GroupNormAct's ReLU; not on a block's last norm or its shortcut's
};
enum class Gelu { Erf, Tanh };    // exact GELU, or the tanh approximation

struct ViTConfig {
    int64_t image_height = 224;
    int64_t image_width = 224;
    int64_t patch_size = 16;
    int64_t channels = 3;
    int64_t embed_dim = 768;
    int64_t depth = 12;
    int64_t num_heads = 12;
    int64_t head_dim = 0;          // 0: embed_dim / num_heads (lucidrains' dim_head otherwise)
    int64_t mlp_dim = 3072;
    bool qkv_bias = true;
    Pool pool = Pool::Token;       // "token" | "mean"
    bool fc_norm = false;          // final LayerNorm after pooling (timm's avg-pool models)
    int64_t pre_logits_dim = 0;    // 0: none; else Linear(embed_dim, pre_logits_dim) + tanh
    int64_t num_classes = 1000;    // 0: the model returns pooled features
    float layernorm_eps = 1e-6f;
    Gelu gelu = Gelu::Erf;
    float drop_rate = 0.0f;        // after embeddings, projections and in the MLP
    float attn_drop_rate = 0.0f;   // on attention probabilities
    float drop_path_rate = 0.0f;   // stochastic depth, rising linearly to this over the blocks
    bool patch_norm = false;       // lucidrains: LayerNorm before and after the patch projection
    // PyTorch's nn.TransformerEncoderLayer (norm_first=False) inside nn.TransformerEncoder: each
    // block normalises after its residual sums, and there is no final norm (unless fc_norm).
    bool post_norm = false;
    bool mlp_relu = false;         // ReLU instead of GELU in the MLP (nn.TransformerEncoderLayer's default)
    // LayerScale (CaiT, DeiT-III; timm's init_values): each residual branch of a pre-norm block is
    // multiplied by a learned per-channel gamma (ls1.gamma, ls2.gamma) that starts at this value.
    // 0: none.
    float init_values = 0.0f;
    PosEmbed pos_embed = PosEmbed::Learned1d;  // "learned" | "none" | "learned_2d" | "sincos_2d"
    // Hybrid (paper section 4.1, timm's vit_*_r*): a ResNet-v2 backbone replaces the image
    // patches. Stem: 7x7 stride-2 convolution to hybrid_width channels, GroupNorm + ReLU, 3x3
    // stride-2 max pool; then one stage per entry of hybrid_layers, of that many bottleneck
    // blocks (stride 1 in the first stage, 2 after), stage s giving 4 * hybrid_width * 2^s
    // channels. Convolutions are weight-standardised with TF "same" padding, norms are GroupNorm
    // with 32 groups. patch_size then counts feature-map pixels (1 in the paper's R50 + ViT-B/16).
    bool hybrid = false;
    std::vector<int64_t> hybrid_layers = {};  // e.g. {3, 4, 9} for ResNet-50's first three stages
    int64_t hybrid_width = 64;

    static constexpr int64_t kGroupNormGroups = 32;
    static constexpr float kGroupNormEps = 1e-5f;
    static constexpr float kStdConvEps = 1e-8f;

    // What the patch projection reads: the image, or the hybrid's feature map.
    int64_t embed_in_height() const;
    int64_t embed_in_width() const;
    int64_t embed_in_channels() const;
    int64_t grid_height() const { return embed_in_height() / patch_size; }
    int64_t grid_width() const { return embed_in_width() / patch_size; }
    int64_t num_patches() const { return grid_height() * grid_width(); }
    int64_t num_tokens() const { return num_patches() + 1; }
    int64_t patch_dim() const { return embed_in_channels() * patch_size * patch_size; }
    int64_t head_size() const { return head_dim > 0 ? head_dim : embed_dim / num_heads; }
    int64_t inner_dim() const { return num_heads * head_size(); }
    bool final_norm() const { return fc_norm || !post_norm; }  // the head's LayerNorm ("norm" or "fc_norm")
    int64_t feature_dim() const { return pre_logits_dim > 0 ? pre_logits_dim : embed_dim; }
    int64_t output_dim() const { return num_classes > 0 ? num_classes : feature_dim(); }
    // The hybrid backbone's convolutions in timm's order: the stem's, then per bottleneck block
    // the shortcut's (first block of a stage: "...downsample.conv"), conv1, conv2 and conv3.
    std::vector<BackboneConv> backbone_convs() const;

    // Drop-path rate of block i: linear from 0 to drop_path_rate.
    float drop_path_at(int64_t block) const;

    // Throws vit::Error naming the first inconsistent or out-of-range field.
    void validate() const;

    // Multiply-adds x 2 of one forward pass for one image (matrix products and attention).
    double forward_flops() const;

    // JSON round trip, used in checkpoint metadata. from_json rejects unknown keys and bad types.
    std::string to_json() const;
    static ViTConfig from_json(const std::string& json);
};

// A named preset such as "vit_base_patch16_224" or "vit_tiny_patch8_224". Throws vit::Error
// listing the valid names.
ViTConfig preset(std::string_view name);
std::vector<std::string> preset_names();

}  // namespace vit
