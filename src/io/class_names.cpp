// Where class names come from: checkpoint metadata, a Hugging Face config.json, ImageNet-1k's
// list, or a text file.
#include <nlohmann/json.hpp>

#include "core/json_input.h"
#include "vit/class_names.h"
#include "vit/data.h"
#include "vit/error.h"

namespace vit {

std::vector<std::string> read_class_names(const std::string& path, int64_t num_classes) {
    const std::vector<uint8_t> bytes = read_file(path, int64_t{64} << 20);
    std::vector<std::string> names;
    std::string line;
    for (size_t i = 0; i <= bytes.size(); i++) {
        if (i == bytes.size() || bytes[i] == '\n') {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (!line.empty()) names.push_back(line);
            line.clear();
        } else {
            line += static_cast<char>(bytes[i]);
        }
    }
    if (static_cast<int64_t>(names.size()) != num_classes) {
        fail("'{}' holds {} class names, the model has {} classes", path, names.size(), num_classes);
    }
    return names;
}

std::optional<std::vector<std::string>> class_names_of(const WeightSource& w, int64_t num_classes) {
    auto parse_list = [&](const std::string& key) -> std::optional<std::vector<std::string>> {
        auto it = w.metadata.find(key);
        if (it == w.metadata.end()) return std::nullopt;
        nlohmann::json j = parse_json_input(it->second, fmt::format("'{}': metadata '{}'", w.path, key));
        if (!j.is_array() || static_cast<int64_t>(j.size()) != num_classes ||
            !std::all_of(j.begin(), j.end(), [](const nlohmann::json& x) { return x.is_string(); })) {
            fail("'{}': metadata '{}' is not a list of {} class names", w.path, key, num_classes);
        }
        return j.get<std::vector<std::string>>();
    };
    if (auto names = parse_list("vit.class_names")) return names;
    if (auto names = parse_list("hf.class_names")) return names;
    if (num_classes == 1000) return imagenet1k_class_names();
    return std::nullopt;
}

}  // namespace vit
