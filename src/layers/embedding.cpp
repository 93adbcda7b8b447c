// Patch embedding (unfold + matrix product, optionally between lucidrains' LayerNorms), class
// token, position table and embedding dropout.
// ref: timm vision_transformer.py VisionTransformer._pos_embed and PatchEmbed.forward.
#include "layers/layers.h"

namespace vit::layers {

namespace {
// The [N, D] position table this pass adds, or nullptr for none.
const float* position_table(const EmbeddingParams& p, const EmbeddingActs& a) {
    switch (p.positions) {
        case Positions::None: return nullptr;
        case Positions::Learned:
        case Positions::Fixed: return p.pos_embed;
        case Positions::PerAxis:
            cpu::pos_embed_2d_forward(a.pos_table, p.pos_row, p.pos_col, p.grid_height(), p.grid_width(), p.proj.out);
            return a.pos_table;
    }
    return nullptr;
}
}  // namespace

void embedding_forward(Ops& ops, const EmbeddingParams& p, const EmbeddingActs& a, const float* images, int64_t B,
                       bool training, const MaskKey& key) {
    const int64_t NP = p.num_patches(), PD = p.proj.in, D = p.proj.out;
    if (p.nhwc_input) {
        cpu::nhwc2patch_forward(a.patches, images, B, p.channels, p.image_height, p.image_width, p.patch);
    } else {
        cpu::im2patch_forward(a.patches, images, B, p.channels, p.image_height, p.image_width, p.patch);
    }
    if (p.patch_norm) {
        ops.norm_f32(a.patches_normed, a.patches_stats, a.patches, p.norm_pre, B * NP);
        ops.to_operand(a.proj_in, a.patches_normed, B * NP * PD);
    } else {
        ops.to_operand(a.proj_in, a.patches, B * NP * PD);
    }
    ops.linear(a.patch_tokens, a.proj_in, p.proj, B * NP);  // [B*NP, D]
    const float* tokens = a.patch_tokens;
    if (p.patch_norm) {
        ops.norm_f32(a.tokens_normed, a.tokens_stats, a.patch_tokens, p.norm, B * NP);
        tokens = a.tokens_normed;
    }
    cpu::tokens_forward(a.x, tokens, p.cls_token, position_table(p, a), B, NP, D);  // [B, N, D]
    if (training) {
        ops.dropout(a.x, DropoutSite(p.drop, key, DropoutSite::stream_of(0, kPosDrop), B), B * (NP + 1) * D);
    }
}

void embedding_backward(Ops& ops, const EmbeddingParams& p, const EmbeddingActs& a, const EmbeddingGrads& g,
                        float* dx, int64_t B, const MaskKey& key) {
    const int64_t NP = p.num_patches(), D = p.proj.out;
    ops.dropout(dx, DropoutSite(p.drop, key, DropoutSite::stream_of(0, kPosDrop), B), B * (NP + 1) * D);  // its own transpose
    if (p.positions == Positions::PerAxis) {
        ops.zero(g.dpos_table, (NP + 1) * D);
        cpu::tokens_backward(g.dpatch_tokens, p.dcls_token, g.dpos_table, dx, B, NP, D);
        cpu::pos_embed_2d_backward(p.dpos_row, p.dpos_col, g.dpos_table, p.grid_height(), p.grid_width(), D);
    } else {
        float* dpos = p.positions == Positions::Learned ? p.dpos_embed : nullptr;  // None, Fixed: no gradient
        cpu::tokens_backward(g.dpatch_tokens, p.dcls_token, dpos, dx, B, NP, D);
    }
    const float* dtokens = g.dpatch_tokens;
    if (p.patch_norm) {
        ops.zero(g.dtokens_normed, B * NP * D);
        ops.norm_backward(g.dtokens_normed, g.dpatch_tokens, a.tokens_stats, a.patch_tokens, p.norm, B * NP);
        dtokens = g.dtokens_normed;
    }
    ops.linear_backward(g.dproj_in, dtokens, a.proj_in, p.proj, B * NP);
    if (p.nhwc_input) {
        cpu::nhwc2patch_backward(g.dmaps, g.dproj_in, B, p.channels, p.image_height, p.image_width, p.patch);
    }
    if (p.patch_norm) {
        // The image gradient is not needed, but the norm's parameter gradients are.
        ops.norm_backward(nullptr, g.dproj_in, a.patches_stats, a.patches, p.norm_pre, B * NP);
    }
}

}  // namespace vit::layers
