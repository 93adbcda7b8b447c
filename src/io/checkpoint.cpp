// Model weights in safetensors: config inference, validated loading, atomic saving.
#include "vit/checkpoint.h"

#include <algorithm>
#include <set>

#include "vit/error.h"

namespace vit {

namespace {

const TensorEntry& require(const SafetensorsFile& f, const std::string& name, size_t rank) {
    const TensorEntry* t = f.find(name);
    if (t == nullptr) {
        fail("'{}' has no tensor '{}', needed to infer the model config; hint: pass the config "
             "explicitly", f.path(), name);
    }
    if (t->shape.size() != rank) {
        fail("'{}': tensor '{}' has shape {}, expected {} dimensions", f.path(), name,
             shape_string(t->shape), rank);
    }
    return *t;
}

}  // namespace

ViTConfig config_from_safetensors(const SafetensorsFile& f, int64_t num_heads) {
    auto meta = f.metadata().find("vit.config");
    if (meta != f.metadata().end()) {
        try {
            ViTConfig c = ViTConfig::from_json(meta->second);
            if (num_heads > 0) {
                c.num_heads = num_heads;
                c.validate();
            }
            return c;
        } catch (const Error& e) {
            fail("'{}': metadata 'vit.config' is invalid: {}", f.path(), e.what());
        }
    }
    ViTConfig c;
    const TensorEntry& proj = require(f, "patch_embed.proj.weight", 4);
    c.embed_dim = proj.shape[0];
    c.channels = proj.shape[1];
    c.patch_size = proj.shape[2];
    if (proj.shape[3] != c.patch_size) {
        fail("'{}': patch_embed.proj.weight has non-square patches {}", f.path(), shape_string(proj.shape));
    }
    const TensorEntry& pos = require(f, "pos_embed", 3);
    int64_t patches = pos.shape[1] - 1;
    int64_t grid = 0;
    while ((grid + 1) * (grid + 1) <= patches) {
        grid++;
    }
    if (grid * grid != patches) {
        fail("'{}': pos_embed holds {} patch positions, not a square grid; hint: give the image "
             "size explicitly", f.path(), patches);
    }
    c.image_height = c.image_width = grid * c.patch_size;
    c.depth = 0;
    while (f.find(fmt::format("blocks.{}.norm1.weight", c.depth)) != nullptr) {
        c.depth++;
    }
    if (c.depth == 0) {
        fail("'{}' has no tensor 'blocks.0.norm1.weight': no encoder blocks found", f.path());
    }
    const TensorEntry& qkv = require(f, "blocks.0.attn.qkv.weight", 2);
    const TensorEntry& fc1 = require(f, "blocks.0.mlp.fc1.weight", 2);
    c.mlp_dim = fc1.shape[0];
    c.qkv_bias = f.find("blocks.0.attn.qkv.bias") != nullptr;
    c.num_heads = num_heads > 0 ? num_heads : std::max<int64_t>(1, c.embed_dim / 64);
    const int64_t inner = qkv.shape[0] / 3;
    if (inner != c.embed_dim) {
        c.head_dim = inner / c.num_heads;
    }
    c.fc_norm = f.find("fc_norm.weight") != nullptr;
    c.pool = c.fc_norm ? Pool::Mean : Pool::Token;
    c.patch_norm = f.find("patch_embed.norm_pre.weight") != nullptr;
    if (const TensorEntry* pre = f.find("pre_logits.fc.weight")) {
        c.pre_logits_dim = pre->shape.empty() ? 0 : pre->shape[0];
    }
    const TensorEntry* head = f.find("head.weight");
    c.num_classes = head != nullptr && !head->shape.empty() ? head->shape[0] : 0;
    try {
        c.validate();
    } catch (const Error& e) {
        fail("'{}': the inferred model config is invalid: {}", f.path(), e.what());
    }
    return c;
}

LoadReport load_weights(ViT& model, const SafetensorsFile& f, const LoadOptions& options) {
    LoadReport report;
    std::set<std::string> known;
    // Validate everything before copying anything.
    for (const ParamInfo& p : model.params()) {
        known.insert(p.name);
        const TensorEntry* t = f.find(p.name);
        if (t == nullptr) {
            report.missing.push_back(p.name);
            continue;
        }
        if (t->shape != p.shape) {
            fail("'{}': tensor '{}' has shape {}, the model expects {}", f.path(), p.name,
                 shape_string(t->shape), shape_string(p.shape));
        }
        if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16 &&
            t->dtype != DType::F64) {
            fail("'{}': tensor '{}' has dtype {}, expected a floating-point type", f.path(), p.name,
                 dtype_name(t->dtype));
        }
    }
    for (const TensorEntry& t : f.tensors()) {
        if (!known.contains(t.name) && !t.name.starts_with(kTrainingStatePrefix)) {
            report.unexpected.push_back(t.name);
        }
    }
    std::sort(report.unexpected.begin(), report.unexpected.end());
    if (options.strict && (!report.missing.empty() || !report.unexpected.empty())) {
        auto list = [](const std::vector<std::string>& v) {
            std::string s;
            for (size_t i = 0; i < v.size() && i < 8; i++) {
                s += (i ? ", " : "") + v[i];
            }
            return v.size() > 8 ? s + fmt::format(", ... ({} in all)", v.size()) : s;
        };
        std::string msg = fmt::format("'{}' does not match the model:", f.path());
        if (!report.missing.empty()) {
            msg += fmt::format(" missing tensors: {}.", list(report.missing));
        }
        if (!report.unexpected.empty()) {
            msg += fmt::format(" unexpected tensors: {}.", list(report.unexpected));
        }
        throw Error(msg + " hint: use non-strict loading to skip them");
    }
    for (const ParamInfo& p : model.params()) {
        if (const TensorEntry* t = f.find(p.name)) {
            f.read_f32_into(*t, model.param_data() + p.offset);
        }
    }
    return report;
}

void save_weights(const ViT& model, const std::string& path, const std::vector<TensorToWrite>& extra_tensors,
                  const std::map<std::string, std::string>& extra_metadata) {
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
