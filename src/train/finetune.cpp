// Fine-tuning: config from a checkpoint, adapted loading, frozen parameter sets.
#include "vit/finetune.h"

#include <algorithm>

#include "vit/checkpoint.h"
#include "vit/error.h"
#include "vit/params.h"

namespace vit {

ViTConfig finetune_config(const WeightSource& w, const ViTConfig& target, int64_t num_heads) {
    ViTConfig c = config_from_weights(w, num_heads);
    c.image_height = target.image_height;
    c.image_width = target.image_width;
    c.channels = target.channels;
    c.num_classes = target.num_classes;
    c.drop_rate = target.drop_rate;
    c.attn_drop_rate = target.attn_drop_rate;
    c.drop_path_rate = target.drop_path_rate;
    try {
        c.validate();
    } catch (const Error& e) {
        fail("fine-tuning '{}' at {}x{}: {}", w.path, c.image_height, c.image_width, e.what());
    }
    return c;
}

std::string init_from_pretrained(ViT& model, const WeightSource& w) {
    const ViTConfig& c = model.config();
    WeightSource adapted = w;
    std::vector<std::string> notes;
    std::erase_if(adapted.tensors, [&](const SourceTensor& t) {
        const bool old_head = (t.name == "head.weight" || t.name == "head.bias") &&
                              (t.shape.empty() || t.shape[0] != c.num_classes);
        return old_head;
    });
    if (adapted.tensors.size() != w.tensors.size()) {
        const SourceTensor* head = w.find("head.weight");
        notes.push_back(fmt::format("new head for {} classes (was {})", c.num_classes,
                                    head != nullptr && !head->shape.empty() ? head->shape[0] : 0));
    }
    // The convolution that reads the image: the hybrid's stem, else the patch projection.
    const std::string first_conv = c.hybrid ? "patch_embed.backbone.stem.conv.weight" : "patch_embed.proj.weight";
    for (SourceTensor& t : adapted.tensors) {
        if (t.name != first_conv || t.shape.size() != 4 || t.shape[1] == c.channels) continue;
        if (c.channels != 1) {
            fail("'{}': {} takes {} channels; only 1-channel input can be adapted from it, not {}", w.path,
                 c.hybrid ? "the hybrid's stem" : "the patch projection", t.shape[1], c.channels);
        }
        // timm's adapt_input_conv: a grey image is the sum of equal R, G and B planes.
        const int64_t D = t.shape[0], C = t.shape[1], PP = t.shape[2] * t.shape[3];
        t.read = [read = t.read, D, C, PP](float* dst) {
            std::vector<float> full(static_cast<size_t>(D * C * PP));
            read(full.data());
            for (int64_t d = 0; d < D; d++) {
                for (int64_t i = 0; i < PP; i++) {
                    float s = 0.0f;
                    for (int64_t ch = 0; ch < C; ch++) s += full[static_cast<size_t>((d * C + ch) * PP + i)];
                    dst[d * PP + i] = s;
                }
            }
        };
        notes.push_back(fmt::format("{} summed over {} channels", c.hybrid ? "stem convolution" : "patch projection", C));
        t.shape[1] = 1;
    }
    const LoadReport r = load_weights(model, adapted, {.strict = false});
    std::vector<std::string> missing;
    std::copy_if(r.missing.begin(), r.missing.end(), std::back_inserter(missing),
                 [](const std::string& n) { return n != "head.weight" && n != "head.bias"; });
    if (!missing.empty() || !r.unexpected.empty()) {
        fail("'{}' does not fit the model to fine-tune: missing {}; unused {}", w.path,
             missing.empty() ? "none" : fmt::format("{}", fmt::join(missing, ", ")),
             r.unexpected.empty() ? "none" : fmt::format("{}", fmt::join(r.unexpected, ", ")));
    }
    // every tensor loaded: each resampled table has its source
    auto resampled = [&](const char* name) { return std::find(r.resampled.begin(), r.resampled.end(), name) != r.resampled.end(); };
    if (resampled("pos_embed")) {
        notes.push_back(fmt::format("position table resampled from {} to {} patches", w.find("pos_embed")->shape[1] - 1,
                                    c.num_patches()));
    }
    if (resampled("pos_embed_row") || resampled("pos_embed_col")) {
        notes.push_back(fmt::format("position tables resampled from a {}x{} to a {}x{} grid",
                                    w.find("pos_embed_row")->shape[0], w.find("pos_embed_col")->shape[0],
                                    c.grid_height(), c.grid_width()));
    }
    return notes.empty() ? "all tensors loaded as they are" : fmt::format("{}", fmt::join(notes, "; "));
}

std::vector<bool> frozen_parameters(const ViT& model, bool embeddings, int64_t blocks) {
    std::vector<bool> frozen;
    for (const ParamInfo& p : model.params()) {
        bool f = embeddings && (p.name == "cls_token" || p.name.starts_with("pos_embed") || p.name.starts_with("patch_embed."));
        for (int64_t b = 0; b < blocks && !f; b++) f = p.name.starts_with(fmt::format("blocks.{}.", b));
        frozen.push_back(f);
    }
    return frozen;
}

}  // namespace vit
