// ViTConfig validation, presets, FLOP count and JSON round trip.
#include <charconv>
#include <nlohmann/json.hpp>

#include "vit/config.h"

#include "core/json_input.h"
#include "core/json_text.h"
#include "vit/error.h"

namespace vit {

namespace {

struct Size {
    const char* name;
    int64_t dim, depth, heads, mlp;
};
// Paper Table 1 plus timm's tiny and small.
constexpr Size kSizes[] = {
    {"tiny", 192, 12, 3, 768},      {"small", 384, 12, 6, 1536}, {"base", 768, 12, 12, 3072},
    {"large", 1024, 24, 16, 4096},  {"huge", 1280, 32, 16, 5120},
};
constexpr int64_t kPatches[] = {32, 16, 14, 8};

struct HybridBackbone {
    const char* name;
    std::vector<int64_t> layers;
    int64_t patch;
};
// timm's vit_<size>_<backbone>_<image size> hybrids: ResNet-v2 stages and the patch on its map.
const HybridBackbone kHybrids[] = {
    {"r50_s16", {3, 4, 9}, 1}, {"r26_s32", {2, 2, 2, 2}, 1}, {"r20_s16", {2, 2, 2}, 1}, {"r_s16_p8", {}, 8}};

bool parse_int(std::string_view s, int64_t& out) {
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

const char* pos_embed_name(PosEmbed kind) {
    switch (kind) {
        case PosEmbed::None: return "none";
        case PosEmbed::Learned1d: return "learned";
        case PosEmbed::Learned2d: return "learned_2d";
        case PosEmbed::SinCos2d: return "sincos_2d";
    }
    return "?";
}

bool parse_pos_embed(std::string_view name, PosEmbed& out) {
    for (PosEmbed kind : {PosEmbed::None, PosEmbed::Learned1d, PosEmbed::Learned2d, PosEmbed::SinCos2d}) {
        if (name == pos_embed_name(kind)) {
            out = kind;
            return true;
        }
    }
    return false;
}

namespace {
int64_t half_up(int64_t n) { return (n + 1) / 2; }  // a stride-2 "same" convolution or pool
// A side of the hybrid's feature map: halved by the stem's convolution and pool, then by every
// stage after the first.
int64_t feature_side(int64_t image_side, size_t stages) {
    int64_t side = half_up(half_up(image_side));
    for (size_t s = 1; s < stages; s++) side = half_up(side);
    return side;
}
}  // namespace

int64_t ViTConfig::embed_in_height() const {
    return hybrid ? feature_side(image_height, hybrid_layers.size()) : image_height;
}

int64_t ViTConfig::embed_in_width() const {
    return hybrid ? feature_side(image_width, hybrid_layers.size()) : image_width;
}

int64_t ViTConfig::embed_in_channels() const {
    if (!hybrid) return channels;
    return hybrid_layers.empty() ? hybrid_width : 4 * hybrid_width << (hybrid_layers.size() - 1);
}

std::vector<BackboneConv> ViTConfig::backbone_convs() const {
    std::vector<BackboneConv> convs;
    if (!hybrid) return convs;
    const std::string root = "patch_embed.backbone.";
    convs.push_back({ConvRole::Stem, root + "stem.conv", root + "stem.norm", channels, hybrid_width, 7, 2, image_height,
                     image_width, true});
    int64_t h = feature_side(image_height, 1), w = feature_side(image_width, 1), in = hybrid_width;
    for (size_t s = 0; s < hybrid_layers.size(); s++) {
        const int64_t out = 4 * hybrid_width << s, mid = out / 4;
        for (int64_t j = 0; j < hybrid_layers[s]; j++) {
            const std::string b = fmt::format("{}stages.{}.blocks.{}.", root, s, j);
            const int64_t stride = s > 0 && j == 0 ? 2 : 1;
            if (j == 0) {
                convs.push_back({ConvRole::Shortcut, b + "downsample.conv", b + "downsample.norm", in, out, 1, stride, h, w, false});
            }
            convs.push_back({ConvRole::Conv1, b + "conv1", b + "norm1", in, mid, 1, 1, h, w, true});
            convs.push_back({ConvRole::Conv2, b + "conv2", b + "norm2", mid, mid, 3, stride, h, w, true});
            if (stride == 2) {
                h = half_up(h);
                w = half_up(w);
            }
            convs.push_back({ConvRole::Conv3, b + "conv3", b + "norm3", mid, out, 1, 1, h, w, false});
            in = out;
        }
    }
    return convs;
}

float ViTConfig::drop_path_at(int64_t block) const {
    if (depth <= 1) {
        return 0.0f;
    }
    return drop_path_rate * static_cast<float>(block) / static_cast<float>(depth - 1);
}

void ViTConfig::validate() const {
    auto positive = [](const char* name, int64_t v, int64_t max) {
        if (v < 1 || v > max) {
            fail("{} must be in [1, {}], got {}", name, max, v);
        }
    };
    positive("image_height", image_height, 16384);
    positive("image_width", image_width, 16384);
    positive("patch_size", patch_size, 1024);
    positive("channels", channels, 64);
    positive("embed_dim", embed_dim, 16384);
    positive("depth", depth, 256);
    positive("num_heads", num_heads, 1024);
    positive("mlp_dim", mlp_dim, 65536);
    if (hybrid) {
        if (hybrid_width < kGroupNormGroups || hybrid_width > 4096 || hybrid_width % kGroupNormGroups != 0) {
            fail("hybrid_width must be a multiple of {} in [{}, 4096] (GroupNorm's groups), got {}",
                 kGroupNormGroups, kGroupNormGroups, hybrid_width);
        }
        if (hybrid_layers.size() > 4) {
            fail("hybrid_layers must have at most 4 stages, got {}", hybrid_layers.size());
        }
        for (int64_t n : hybrid_layers) {
            if (n < 1 || n > 64) fail("hybrid_layers entries must be in [1, 64] blocks, got {}", n);
        }
        if (patch_norm) {
            fail("patch_norm and hybrid cannot be combined");
        }
        if (embed_in_height() % patch_size != 0 || embed_in_width() % patch_size != 0) {
            fail("the hybrid backbone's {}x{} feature map (from {}x{} images) must be divisible by patch_size {}",
                 embed_in_height(), embed_in_width(), image_height, image_width, patch_size);
        }
    } else if (!hybrid_layers.empty()) {
        fail("hybrid_layers is set but hybrid is false");
    } else if (image_height % patch_size != 0 || image_width % patch_size != 0) {
        fail("image size {}x{} must be divisible by patch_size {}", image_height, image_width,
             patch_size);
    }
    if (head_dim < 0 || head_dim > 4096) {
        fail("head_dim must be in [0, 4096] (0 = embed_dim / num_heads), got {}", head_dim);
    }
    if (head_dim == 0 && embed_dim % num_heads != 0) {
        fail("embed_dim ({}) must be divisible by num_heads ({}) unless head_dim is set",
             embed_dim, num_heads);
    }
    if (pre_logits_dim < 0 || pre_logits_dim > 65536) {
        fail("pre_logits_dim must be in [0, 65536], got {}", pre_logits_dim);
    }
    if (num_classes < 0 || num_classes > 1000000) {
        fail("num_classes must be in [0, 1000000] (0 = features), got {}", num_classes);
    }
    if (!(layernorm_eps > 0.0f && layernorm_eps < 1.0f)) {
        fail("layernorm_eps must be in (0, 1), got {}", layernorm_eps);
    }
    auto rate = [](const char* name, float v) {
        if (!(v >= 0.0f && v < 1.0f)) {
            fail("{} must be in [0, 1), got {}", name, v);
        }
    };
    rate("drop_rate", drop_rate);
    rate("attn_drop_rate", attn_drop_rate);
    rate("drop_path_rate", drop_path_rate);
    if (!(init_values >= 0.0f && init_values <= 1e4f)) {
        fail("init_values (LayerScale) must be in [0, 10000] (0 = none), got {}", init_values);
    }
    if (init_values > 0.0f && post_norm) {
        fail("LayerScale (init_values > 0) scales the branches of pre-norm blocks; post_norm has none");
    }
    if (pos_embed == PosEmbed::Learned2d && embed_dim % 2 != 0) {
        fail("pos_embed \"learned_2d\" gives each axis embed_dim / 2 channels: embed_dim must be even, got {}",
             embed_dim);
    }
    if (pos_embed == PosEmbed::SinCos2d && embed_dim % 4 != 0) {
        fail("pos_embed \"sincos_2d\" gives each axis a sine and a cosine of embed_dim / 4 frequencies: "
             "embed_dim must be a multiple of 4, got {}", embed_dim);
    }
    if (pool == Pool::Mean && num_patches() < 1) {
        fail("mean pooling needs at least one patch");
    }
}

double ViTConfig::forward_flops() const {
    const double N = static_cast<double>(num_tokens());
    const double D = static_cast<double>(embed_dim);
    const double I = static_cast<double>(inner_dim());
    const double M = static_cast<double>(mlp_dim);
    double flops = 2.0 * static_cast<double>(num_patches()) * static_cast<double>(patch_dim()) * D;
    double block = 2.0 * N * D * 3.0 * I   // qkv
                   + 2.0 * 2.0 * N * N * I  // q k^T and probs v
                   + 2.0 * N * I * D        // output projection
                   + 2.0 * 2.0 * N * D * M; // MLP
    flops += static_cast<double>(depth) * block;
    for (const BackboneConv& c : backbone_convs()) {
        const double out_pixels = static_cast<double>(((c.in_height + c.stride - 1) / c.stride) *
                                                      ((c.in_width + c.stride - 1) / c.stride));
        flops += 2.0 * out_pixels * static_cast<double>(c.out_channels * c.in_channels * c.kernel * c.kernel);
    }
    flops += 2.0 * D * static_cast<double>(pre_logits_dim);
    flops += 2.0 * static_cast<double>(feature_dim()) * static_cast<double>(num_classes);
    return flops;
}

std::string ViTConfig::to_json() const {
    nlohmann::ordered_json j;
    j["image_height"] = image_height;
    j["image_width"] = image_width;
    j["patch_size"] = patch_size;
    j["channels"] = channels;
    j["embed_dim"] = embed_dim;
    j["depth"] = depth;
    j["num_heads"] = num_heads;
    j["head_dim"] = head_dim;
    j["mlp_dim"] = mlp_dim;
    j["qkv_bias"] = qkv_bias;
    j["pool"] = pool == Pool::Token ? "token" : "mean";
    j["fc_norm"] = fc_norm;
    j["pre_logits_dim"] = pre_logits_dim;
    j["num_classes"] = num_classes;
    j["layernorm_eps"] = as_written(layernorm_eps);
    j["gelu"] = gelu == Gelu::Erf ? "erf" : "tanh";
    j["drop_rate"] = as_written(drop_rate);
    j["attn_drop_rate"] = as_written(attn_drop_rate);
    j["drop_path_rate"] = as_written(drop_path_rate);
    j["patch_norm"] = patch_norm;
    if (post_norm) j["post_norm"] = true;
    if (mlp_relu) j["mlp_relu"] = true;
    if (init_values > 0.0f) j["init_values"] = as_written(init_values);
    j["pos_embed"] = pos_embed_name(pos_embed);
    if (hybrid) {
        j["hybrid"] = true;
        j["hybrid_layers"] = hybrid_layers;
        j["hybrid_width"] = hybrid_width;
    }
    return j.dump();
}

namespace {
const std::vector<std::string> kConfigKeys = {
    "image_height", "image_width", "patch_size", "channels", "embed_dim", "depth", "num_heads", "head_dim",
    "mlp_dim", "qkv_bias", "pool", "fc_norm", "pre_logits_dim", "num_classes", "layernorm_eps", "gelu",
    "drop_rate", "attn_drop_rate", "drop_path_rate", "patch_norm", "post_norm", "mlp_relu", "init_values", "pos_embed",
    "hybrid", "hybrid_width", "hybrid_layers"};
}  // namespace

ViTConfig ViTConfig::from_json(const std::string& text) {
    nlohmann::json j = parse_json_input(text, "model config");
    if (j.is_discarded() || !j.is_object()) {
        fail("model config: expected a JSON object, got '{}'", text.substr(0, 80));
    }
    ViTConfig c;
    for (auto& item : j.items()) {
        const std::string& key = item.key();
        const nlohmann::json& value = item.value();
        auto integer = [&](int64_t& field) {
            if (!value.is_number_integer()) {
                fail("model config: '{}' must be an integer, got {}", key, shown(value));
            }
            field = value.get<int64_t>();
        };
        auto number = [&](float& field) {
            if (!value.is_number()) {
                fail("model config: '{}' must be a number, got {}", key, shown(value));
            }
            field = value.get<float>();
        };
        auto boolean = [&](bool& field) {
            if (!value.is_boolean()) {
                fail("model config: '{}' must be true or false, got {}", key, shown(value));
            }
            field = value.get<bool>();
        };
        auto choice = [&](const char* a, const char* b) -> bool {
            if (!value.is_string() || (value != a && value != b)) {
                fail("model config: '{}' must be \"{}\" or \"{}\", got {}", key, a, b, shown(value));
            }
            return value == a;
        };
        if (key == "image_height") integer(c.image_height);
        else if (key == "image_width") integer(c.image_width);
        else if (key == "patch_size") integer(c.patch_size);
        else if (key == "channels") integer(c.channels);
        else if (key == "embed_dim") integer(c.embed_dim);
        else if (key == "depth") integer(c.depth);
        else if (key == "num_heads") integer(c.num_heads);
        else if (key == "head_dim") integer(c.head_dim);
        else if (key == "mlp_dim") integer(c.mlp_dim);
        else if (key == "qkv_bias") boolean(c.qkv_bias);
        else if (key == "pool") c.pool = choice("token", "mean") ? Pool::Token : Pool::Mean;
        else if (key == "fc_norm") boolean(c.fc_norm);
        else if (key == "pre_logits_dim") integer(c.pre_logits_dim);
        else if (key == "num_classes") integer(c.num_classes);
        else if (key == "layernorm_eps") number(c.layernorm_eps);
        else if (key == "gelu") c.gelu = choice("erf", "tanh") ? Gelu::Erf : Gelu::Tanh;
        else if (key == "drop_rate") number(c.drop_rate);
        else if (key == "attn_drop_rate") number(c.attn_drop_rate);
        else if (key == "drop_path_rate") number(c.drop_path_rate);
        else if (key == "patch_norm") boolean(c.patch_norm);
        else if (key == "post_norm") boolean(c.post_norm);
        else if (key == "mlp_relu") boolean(c.mlp_relu);
        else if (key == "init_values") number(c.init_values);
        else if (key == "pos_embed") {
            if (!value.is_string() || !parse_pos_embed(value.get<std::string>(), c.pos_embed)) {
                fail("model config: 'pos_embed' must be one of \"none\", \"learned\", \"learned_2d\", "
                     "\"sincos_2d\", got {}", shown(value));
            }
        }
        else if (key == "hybrid") boolean(c.hybrid);
        else if (key == "hybrid_width") integer(c.hybrid_width);
        else if (key == "hybrid_layers") {
            if (!value.is_array() || value.size() > 4) {
                fail("model config: 'hybrid_layers' must be a list of at most 4 block counts, got {}", shown(value));
            }
            c.hybrid_layers.clear();
            for (const auto& n : value) {
                if (!n.is_number_integer()) {
                    fail("model config: 'hybrid_layers' entries must be integers, got {}", shown(n));
                }
                c.hybrid_layers.push_back(n.get<int64_t>());
            }
        }
        else fail("model config: unknown key '{}' (valid keys: {})", key, fmt::join(kConfigKeys, ", "));
    }
    c.validate();
    return c;
}

ViTConfig preset(std::string_view name) {
    // vit_<size>_patch<P>_<image size>, or vit_<size>_<hybrid backbone>_<image size>
    auto fail_unknown = [&]() -> ViTConfig {
        std::string valid;
        for (const auto& n : preset_names()) {
            valid += (valid.empty() ? "" : ", ") + n;
        }
        fail("unknown preset '{}'; expected vit_<tiny|small|base|large|huge>_patch<32|16|14|8>_<image size> "
             "or a hybrid vit_<size>_<r50_s16|r26_s32|r20_s16|r_s16_p8>_<image size>, e.g. {}", name, valid);
    };
    if (!name.starts_with("vit_")) {
        return fail_unknown();
    }
    std::string_view rest = name.substr(4);
    const size_t size_end = rest.find('_'), image_start = rest.rfind('_');
    int64_t image = 0;
    if (size_end == std::string_view::npos || image_start == size_end ||
        !parse_int(rest.substr(image_start + 1), image)) {
        return fail_unknown();
    }
    const std::string_view size_name = rest.substr(0, size_end);
    const std::string_view middle = rest.substr(size_end + 1, image_start - size_end - 1);
    for (const Size& s : kSizes) {
        if (size_name != s.name) {
            continue;
        }
        ViTConfig c;
        c.embed_dim = s.dim;
        c.depth = s.depth;
        c.num_heads = s.heads;
        c.mlp_dim = s.mlp;
        c.image_height = c.image_width = image;
        int64_t patch = 0;
        bool known = false;
        if (middle.starts_with("patch") && parse_int(middle.substr(5), patch)) {
            for (int64_t p : kPatches) known = known || p == patch;
            c.patch_size = patch;
        }
        for (const HybridBackbone& h : kHybrids) {
            if (middle == h.name) {
                known = true;
                c.hybrid = true;
                c.hybrid_layers = h.layers;
                c.patch_size = h.patch;
            }
        }
        if (!known) {
            return fail_unknown();
        }
        c.validate();
        return c;
    }
    return fail_unknown();
}

std::vector<std::string> preset_names() {
    std::vector<std::string> names;
    for (const Size& s : kSizes) {
        for (int64_t p : kPatches) {
            names.push_back(fmt::format("vit_{}_patch{}_224", s.name, p));
        }
        for (const HybridBackbone& h : kHybrids) {
            names.push_back(fmt::format("vit_{}_{}_224", s.name, h.name));
        }
    }
    return names;
}

}  // namespace vit
