// The ViT parameter table, in timm's names and state-dict order.
#include <fmt/format.h>

#include <algorithm>

#include "vit/params.h"

namespace vit {

std::string shape_string(const std::vector<int64_t>& shape) {
    return fmt::format("[{}]", fmt::join(shape, ", "));
}

int64_t shape_numel(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

bool runs_in_bf16(const ParamInfo& p) {
    return p.shape.size() >= 2 && (p.name == "patch_embed.proj.weight" || p.name.starts_with("blocks."));
}

int64_t param_fp32_prefix(const std::vector<ParamInfo>& table) {
    int64_t end = 0;
    for (const ParamInfo& p : table) {
        if (!runs_in_bf16(p)) end = std::max(end, p.offset + (p.numel + 15) / 16 * 16);
    }
    return end;
}

std::vector<ParamInfo> param_table_build(const ViTConfig& c) {
    std::vector<ParamInfo> table;
    auto add = [&](std::string name, std::vector<int64_t> shape, bool decay, Init init) {
        const int64_t numel = shape_numel(shape);
        table.push_back({std::move(name), std::move(shape), 0, numel, decay, init});
    };
    auto linear = [&](const std::string& prefix, int64_t in, int64_t out, bool bias) {
        add(prefix + ".weight", {out, in}, true, Init::TruncNormal02);
        if (bias) {
            add(prefix + ".bias", {out}, false, Init::Zeros);
        }
    };
    auto norm = [&](const std::string& prefix, int64_t dim) {
        add(prefix + ".weight", {dim}, false, Init::Ones);
        add(prefix + ".bias", {dim}, false, Init::Zeros);
    };
    const int64_t D = c.embed_dim;
    const int64_t I = c.inner_dim();

    add("cls_token", {1, 1, D}, false, Init::ClassToken);
    if (c.pos_embed == PosEmbed::Learned1d) {
        add("pos_embed", {1, c.num_tokens(), D}, false, Init::TruncNormal02);
    } else if (c.pos_embed == PosEmbed::Learned2d) {
        add("pos_embed_row", {c.grid_height(), D / 2}, false, Init::TruncNormal02);
        add("pos_embed_col", {c.grid_width(), D / 2}, false, Init::TruncNormal02);
    }
    if (c.patch_norm) {
        norm("patch_embed.norm_pre", c.patch_dim());
    }
    for (const BackboneConv& conv : c.backbone_convs()) {
        add(conv.conv + ".weight", {conv.out_channels, conv.in_channels, conv.kernel, conv.kernel}, true,
            Init::KaimingFanOut);
        norm(conv.norm, conv.out_channels);
    }
    add("patch_embed.proj.weight", {D, c.embed_in_channels(), c.patch_size, c.patch_size}, true,
        Init::TruncNormal02);
    add("patch_embed.proj.bias", {D}, false, Init::Zeros);
    if (c.patch_norm) {
        norm("patch_embed.norm", D);
    }
    for (int64_t i = 0; i < c.depth; i++) {
        const std::string p = fmt::format("blocks.{}.", i);
        norm(p + "norm1", D);
        linear(p + "attn.qkv", D, 3 * I, c.qkv_bias);
        linear(p + "attn.proj", I, D, true);
        if (c.init_values > 0.0f) {
            add(p + "ls1.gamma", {D}, false, Init::LayerScale);
        }
        norm(p + "norm2", D);
        linear(p + "mlp.fc1", D, c.mlp_dim, true);
        linear(p + "mlp.fc2", c.mlp_dim, D, true);
        if (c.init_values > 0.0f) {
            add(p + "ls2.gamma", {D}, false, Init::LayerScale);
        }
    }
    if (c.final_norm()) {
        norm(c.fc_norm ? "fc_norm" : "norm", D);
    }
    if (c.pre_logits_dim > 0) {
        linear("pre_logits.fc", D, c.pre_logits_dim, true);
    }
    if (c.num_classes > 0) {
        linear("head", c.feature_dim(), c.num_classes, true);
    }
    int64_t offset = 0;
    for (bool bf16_matrices : {false, true}) {
        for (ParamInfo& p : table) {
            if (runs_in_bf16(p) == bf16_matrices) {
                p.offset = offset;
                offset += (p.numel + 15) / 16 * 16;  // keep every tensor 64-byte aligned
            }
        }
    }
    return table;
}

}  // namespace vit
