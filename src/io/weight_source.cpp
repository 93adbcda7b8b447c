// open_weights: recognises a weight file's format by its first bytes and opens it.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/json_input.h"
#include "io/mapped_file.h"
#include "io/zip_formats.h"
#include "vit/data.h"
#include "vit/error.h"
#include "vit/params.h"
#include "vit/weights.h"

namespace vit {

const char* weight_format_name(WeightFormat format) {
    switch (format) {
        case WeightFormat::Safetensors: return "safetensors";
        case WeightFormat::PyTorch: return "pytorch";
        case WeightFormat::Npz: return "npz";
    }
    return "?";
}

const char* name_scheme_name(NameScheme scheme) {
    switch (scheme) {
        case NameScheme::Timm: return "timm";
        case NameScheme::HuggingFace: return "huggingface";
        case NameScheme::Torchvision: return "torchvision";
        case NameScheme::Jax: return "jax";
    }
    return "?";
}

int64_t SourceTensor::numel() const { return shape_numel(shape); }

const SourceTensor* WeightSource::find(std::string_view name) const {
    for (const SourceTensor& t : tensors) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

namespace {

// transformers keeps the model's hyper-parameters and label names in a config.json beside the
// weights; what shapes cannot tell comes from there when it exists.
void read_huggingface_config(WeightSource& w) {
    const std::filesystem::path config = std::filesystem::path(w.path).parent_path() / "config.json";
    if (!std::filesystem::exists(config)) {
        return;
    }
    const std::vector<uint8_t> text = read_file(config.string(), int64_t{16} << 20);
    const nlohmann::json j = parse_json_input(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()),
                                              fmt::format("'{}'", config.string()));
    if (!j.is_object()) {
        fail("'{}' (the Hugging Face config beside '{}') is not a JSON object", config.string(), w.path);
    }
    auto number = [&](const char* key) -> std::optional<double> {
        if (!j.contains(key)) return std::nullopt;
        if (!j[key].is_number()) fail("'{}': '{}' must be a number", config.string(), key);
        return j[key].get<double>();
    };
    if (auto heads = number("num_attention_heads")) w.metadata["vit.num_heads"] = fmt::format("{}", *heads);
    if (auto eps = number("layer_norm_eps")) w.metadata["vit.layernorm_eps"] = fmt::format("{}", *eps);
    if (j.contains("id2label") && j["id2label"].is_object()) {
        std::vector<std::string> names(j["id2label"].size());
        for (auto& [key, value] : j["id2label"].items()) {
            size_t index = names.size();
            try {
                index = std::stoul(key);
            } catch (const std::exception&) {
            }
            if (index >= names.size() || !value.is_string()) {
                fail("'{}': id2label must map 0..{} to names, found '{}'", config.string(), names.size() - 1, key);
            }
            names[index] = value.get<std::string>();
        }
        w.metadata["hf.class_names"] = nlohmann::json(names).dump();
    }
}

}  // namespace

WeightSource view_safetensors(const SafetensorsFile& file) {
    WeightSource w;
    w.path = file.path();
    w.format = WeightFormat::Safetensors;
    w.metadata = file.metadata();
    for (const TensorEntry& t : file.tensors()) {
        w.tensors.push_back({t.name, t.shape, t.dtype, [&file, &t](float* dst) { file.read_f32_into(t, dst); }});
    }
    return w;
}

WeightSource open_weights(const std::string& path) {
    MappedFile file = MappedFile::open(path);
    uint8_t head[9] = {};
    if (file.size() > 0) {
        std::memcpy(head, file.bytes().data(), std::min<uint64_t>(file.size(), sizeof head));
    }
    WeightSource w;
    if (std::memcmp(head, "PK\x03\x04", 4) == 0 || std::memcmp(head, "PK\x05\x06", 4) == 0) {
        // torch.save archives hold '<name>/data.pkl'; np.savez archives hold only '.npy' entries.
        auto zip = std::make_shared<const ZipArchive>(ZipArchive::open(std::move(file)));
        const bool npz = std::all_of(zip->entries().begin(), zip->entries().end(),
                                     [](const ZipEntry& e) { return e.name.ends_with(".npy"); });
        w = npz ? read_npz_zip(std::move(zip)) : read_pytorch_zip(std::move(zip));
    } else if (head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) {
        fail("'{}' is a PyTorch file in the legacy (pre-1.6) format; re-save it with torch.save(state_dict, path) "
             "from PyTorch 1.6 or newer", path);
    } else if (head[8] == '{') {
        auto file = std::make_shared<SafetensorsFile>(SafetensorsFile::open(path));
        w = view_safetensors(*file);
        w.owner = file;
    } else {
        fail("'{}' is not a weight file vit reads (expected safetensors, a PyTorch .pth/.pt/.bin zip archive, "
             "or a NumPy .npz)", path);
    }
    if (w.tensors.empty()) {
        fail("'{}' holds no tensors", path);
    }
    w = to_timm_names(std::move(w));
    if (w.scheme == NameScheme::HuggingFace) {
        read_huggingface_config(w);
    }
    return w;
}

}  // namespace vit
