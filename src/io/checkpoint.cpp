// Model weights: config inference, validated loading with position-table resampling, atomic
// saving.
#include "vit/checkpoint.h"

#include <algorithm>
#include <set>

#include "kernels/kernels.h"
#include "vit/error.h"

namespace vit {

namespace {

const SourceTensor& require(const WeightSource& w, const std::string& name, size_t rank) {
    const SourceTensor* t = w.find(name);
    if (t == nullptr) {
        fail("'{}' has no tensor '{}', needed to infer the model config; hint: pass the config "
             "explicitly", w.path, name);
    }
    if (t->shape.size() != rank) {
        fail("'{}': tensor '{}' has shape {}, expected {} dimensions", w.path, name,
             shape_string(t->shape), rank);
    }
    return *t;
}

int64_t square_side(int64_t n) {
    int64_t side = 0;
    while ((side + 1) * (side + 1) <= n) side++;
    return side * side == n ? side : 0;
}

// The patch grid the position table of `w` was made for.
std::pair<int64_t, int64_t> source_grid(const WeightSource& w, int64_t patches) {
    if (auto meta = w.metadata.find("vit.config"); meta != w.metadata.end()) {
        const ViTConfig c = ViTConfig::from_json(meta->second);
        return {c.grid_height(), c.grid_width()};
    }
    const int64_t side = square_side(patches);
    if (side == 0) {
        fail("'{}': pos_embed holds {} patch positions, not a square grid, and the file does not say its grid",
             w.path, patches);
    }
    return {side, side};
}

// Reads a position table [1, 1 + GH*GW, D] and resamples its patch rows to the model's grid.
void read_resampled_pos_embed(const WeightSource& w, const SourceTensor& t, const ViTConfig& c, float* dst) {
    const int64_t D = c.embed_dim;
    if (t.shape.size() != 3 || t.shape[0] != 1 || t.shape[2] != D || t.shape[1] < 2) {
        fail("'{}': tensor 'pos_embed' has shape {}, the model expects {}", w.path, shape_string(t.shape),
             shape_string({1, c.num_tokens(), D}));
    }
    const auto [GH, GW] = source_grid(w, t.shape[1] - 1);
    if (GH * GW != t.shape[1] - 1) {
        fail("'{}': pos_embed has {} patch positions but the file's config says a {}x{} grid", w.path,
             t.shape[1] - 1, GH, GW);
    }
    std::vector<float> src(static_cast<size_t>(t.numel()));
    t.read(src.data());
    std::copy_n(src.data(), D, dst);  // the class token's row is kept
    cpu::resize_forward(dst + D, src.data() + D, GH, GW, c.grid_height(), c.grid_width(), D, cpu::Filter::Bicubic,
                        /*antialias=*/true);
}

// Reads a per-axis position table [n, D/2] (pos_embed_row or pos_embed_col) and resamples it to
// the model's length along that axis.
void read_resampled_axis_table(const SourceTensor& t, const ParamInfo& p, float* dst) {
    std::vector<float> src(static_cast<size_t>(t.numel()));
    t.read(src.data());
    cpu::resize_forward(dst, src.data(), t.shape[0], 1, p.shape[0], 1, p.shape[1], cpu::Filter::Bicubic,
                        /*antialias=*/true);
}

bool is_axis_table(const std::string& name) { return name == "pos_embed_row" || name == "pos_embed_col"; }

// Whether t is a position table made for another grid, which loading resamples to the model's.
bool resamplable(const ParamInfo& p, const SourceTensor& t) {
    if (p.name == "pos_embed") {
        return t.shape.size() == 3 && t.shape[2] == p.shape[2];
    }
    return is_axis_table(p.name) && t.shape.size() == 2 && t.shape[0] >= 1 && t.shape[1] == p.shape[1];
}

std::string name_list(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 8; i++) {
        s += (i ? ", " : "") + v[i];
    }
    return v.size() > 8 ? s + fmt::format(", ... ({} in all)", v.size()) : s;
}

// timm's head count for the widths of its ViTs (tiny, small, base, large, huge), or 0.
int64_t timm_heads(int64_t embed_dim) {
    switch (embed_dim) {
        case 192: return 3;
        case 384: return 6;
        case 768: return 12;
        case 1024: return 16;
        case 1280: return 16;
        default: return 0;
    }
}

bool heads_guessed(const WeightSource& w, int64_t num_heads, int64_t embed_dim) {
    return num_heads <= 0 && !w.metadata.contains("vit.config") && !w.metadata.contains("vit.num_heads") &&
           timm_heads(embed_dim) == 0;
}

}  // namespace

std::optional<std::string> heads_guess_note(const WeightSource& w, int64_t num_heads) {
    const SourceTensor* proj = w.find("patch_embed.proj.weight");
    if (proj == nullptr || proj->shape.empty() || !heads_guessed(w, num_heads, proj->shape[0])) {
        return std::nullopt;
    }
    const int64_t D = proj->shape[0];
    return fmt::format("'{}' does not record its number of attention heads, and its width {} is none of timm's "
                       "standard ones; guessing {} (embed_dim / 64): give --heads if the model has another "
                       "count, or its outputs will be wrong", w.path, D, D >= 128 ? fmt::format("{} heads", D / 64)
                                                                                 : std::string("1 head"));
}

ViTConfig config_from_weights(const WeightSource& w, int64_t num_heads) {
    auto meta = w.metadata.find("vit.config");
    if (meta != w.metadata.end()) {
        try {
            ViTConfig c = ViTConfig::from_json(meta->second);
            if (num_heads > 0) {
                c.num_heads = num_heads;
                c.validate();
            }
            return c;
        } catch (const Error& e) {
            fail("'{}': metadata 'vit.config' is invalid: {}", w.path, e.what());
        }
    }
    ViTConfig c;
    const SourceTensor& proj = require(w, "patch_embed.proj.weight", 4);
    c.embed_dim = proj.shape[0];
    c.channels = proj.shape[1];
    c.patch_size = proj.shape[2];
    if (proj.shape[3] != c.patch_size) {
        fail("'{}': patch_embed.proj.weight has non-square patches {}", w.path, shape_string(proj.shape));
    }
    const SourceTensor& pos = require(w, "pos_embed", 3);
    const int64_t grid = square_side(pos.shape[1] - 1);
    if (grid == 0) {
        fail("'{}': pos_embed holds {} patch positions, not a square grid; hint: give the image "
             "size explicitly", w.path, pos.shape[1] - 1);
    }
    c.image_height = c.image_width = grid * c.patch_size;
    if (const SourceTensor* stem = w.find("patch_embed.backbone.stem.conv.weight")) {
        // a hybrid: its channels come from the stem, its stages and blocks from the names
        if (stem->shape.size() != 4) {
            fail("'{}': tensor 'patch_embed.backbone.stem.conv.weight' has shape {}, expected 4 dimensions",
                 w.path, shape_string(stem->shape));
        }
        c.hybrid = true;
        c.hybrid_width = stem->shape[0];
        c.channels = stem->shape[1];
        for (int64_t s = 0; w.find(fmt::format("patch_embed.backbone.stages.{}.blocks.0.conv1.weight", s)); s++) {
            int64_t blocks = 0;
            while (w.find(fmt::format("patch_embed.backbone.stages.{}.blocks.{}.conv1.weight", s, blocks))) blocks++;
            c.hybrid_layers.push_back(blocks);
            if (c.hybrid_layers.size() > 4) {
                fail("'{}' has a hybrid backbone of more than 4 stages; at most 4 are supported", w.path);
            }
        }
        const int64_t stride = int64_t{4} << std::max<int64_t>(static_cast<int64_t>(c.hybrid_layers.size()) - 1, 0);
        c.image_height = c.image_width = grid * c.patch_size * stride;
    }
    c.depth = 0;
    while (w.find(fmt::format("blocks.{}.norm1.weight", c.depth)) != nullptr) {
        c.depth++;
    }
    if (c.depth == 0) {
        fail("'{}' has no tensor 'blocks.0.norm1.weight': no encoder blocks found", w.path);
    }
    const SourceTensor& qkv = require(w, "blocks.0.attn.qkv.weight", 2);
    const SourceTensor& fc1 = require(w, "blocks.0.mlp.fc1.weight", 2);
    c.mlp_dim = fc1.shape[0];
    c.qkv_bias = w.find("blocks.0.attn.qkv.bias") != nullptr;
    if (w.find("blocks.0.ls1.gamma") != nullptr) {
        c.init_values = 1e-5f;  // LayerScale (DeiT-III, CaiT): the factors come from the file; this only turns it on
    }
    auto hint = [&](const char* key) -> const std::string* {
        auto it = w.metadata.find(key);
        return it == w.metadata.end() ? nullptr : &it->second;
    };
    if (num_heads > 0) {
        c.num_heads = num_heads;
    } else if (const std::string* h = hint("vit.num_heads")) {
        c.num_heads = std::stoll(*h);
    } else if (timm_heads(c.embed_dim) > 0) {
        c.num_heads = timm_heads(c.embed_dim);
    } else {
        c.num_heads = std::max<int64_t>(1, c.embed_dim / 64);  // a guess: heads_guess_note says so
    }
    if (const std::string* eps = hint("vit.layernorm_eps")) {
        c.layernorm_eps = std::stof(*eps);
    }
    const int64_t inner = qkv.shape[0] / 3;
    if (inner != c.embed_dim) {
        c.head_dim = inner / c.num_heads;
    }
    c.fc_norm = w.find("fc_norm.weight") != nullptr;
    c.pool = c.fc_norm ? Pool::Mean : Pool::Token;
    c.patch_norm = w.find("patch_embed.norm_pre.weight") != nullptr;
    if (const SourceTensor* pre = w.find("pre_logits.fc.weight")) {
        c.pre_logits_dim = pre->shape.empty() ? 0 : pre->shape[0];
    }
    const SourceTensor* head = w.find("head.weight");
    c.num_classes = head != nullptr && !head->shape.empty() ? head->shape[0] : 0;
    try {
        c.validate();
    } catch (const Error& e) {
        fail("'{}': the inferred model config is invalid: {}", w.path, e.what());
    }
    return c;
}

ViTConfig config_from_safetensors(const SafetensorsFile& file, int64_t num_heads) {
    return config_from_weights(view_safetensors(file), num_heads);
}

LoadReport load_weights(ViT& model, const WeightSource& w, const LoadOptions& options) {
    LoadReport report;
    std::set<std::string> known;
    // Validate everything before copying anything.
    for (const ParamInfo& p : model.params()) {
        known.insert(p.name);
        const SourceTensor* t = w.find(p.name);
        if (t == nullptr) {
            report.missing.push_back(p.name);
            continue;
        }
        if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16 &&
            t->dtype != DType::F64) {
            fail("'{}': tensor '{}' has dtype {}, expected a floating-point type", w.path, p.name,
                 dtype_name(t->dtype));
        }
        if (t->shape != p.shape) {
            if (resamplable(p, *t)) {
                report.resampled.push_back(p.name);
                continue;
            }
            fail("'{}': tensor '{}' has shape {}, the model expects {}", w.path, p.name,
                 shape_string(t->shape), shape_string(p.shape));
        }
    }
    for (const SourceTensor& t : w.tensors) {
        if (!known.contains(t.name) && !t.name.starts_with(kTrainingStatePrefix)) {
            report.unexpected.push_back(t.name);
        }
    }
    std::sort(report.unexpected.begin(), report.unexpected.end());
    if (options.strict && (!report.missing.empty() || !report.unexpected.empty())) {
        std::string msg = fmt::format("'{}' does not match the model:", w.path);
        if (!report.missing.empty()) {
            msg += fmt::format(" missing tensors: {}.", name_list(report.missing));
        }
        if (!report.unexpected.empty()) {
            msg += fmt::format(" unexpected tensors: {}.", name_list(report.unexpected));
        }
        throw Error(msg + " hint: load non-strictly (vit: --non-strict) to skip them; missing tensors then keep "
                          "their initial values");
    }
    std::vector<float> staging;  // for tensors the model stores in bf16
    for (const ParamInfo& p : model.params()) {
        const SourceTensor* t = w.find(p.name);
        if (t == nullptr) continue;
        float* dst = model.param_data() + p.offset;
        if (!model.holds_fp32(p)) {
            staging.resize(static_cast<size_t>(p.numel));
            dst = staging.data();
        }
        if (t->shape == p.shape) {
            t->read(dst);
        } else if (p.name == "pos_embed") {
            read_resampled_pos_embed(w, *t, model.config(), dst);
        } else {
            read_resampled_axis_table(*t, p, dst);
        }
        if (!model.holds_fp32(p)) model.set_param(p, dst);
    }
    model.update_bf16_weights();
    return report;
}

LoadReport load_weights(ViT& model, const SafetensorsFile& file, const LoadOptions& options) {
    return load_weights(model, view_safetensors(file), options);
}

void save_weights(const ViT& model, const std::string& path, const std::vector<TensorToWrite>& extra_tensors,
                  const std::map<std::string, std::string>& extra_metadata) {
    if (model.weight_storage() != WeightStorage::F32) {
        fail("cannot save '{}': the model holds bf16 weights only (load it with fp32 storage to save it)", path);
    }
    if (model.packed_for_inference()) {
        fail("cannot save '{}': the model's weights are packed for inference", path);
    }
    std::vector<TensorToWrite> tensors;
    for (const ParamInfo& p : model.params()) {
        tensors.push_back({p.name, p.shape, model.param_data() + p.offset});
    }
    tensors.insert(tensors.end(), extra_tensors.begin(), extra_tensors.end());
    std::map<std::string, std::string> metadata = {
        {"format", "vit"}, {"format_version", "1"}, {"vit.config", model.config().to_json()}};
    metadata.insert(extra_metadata.begin(), extra_metadata.end());
    safetensors_write(path, tensors, metadata);
}

}  // namespace vit
