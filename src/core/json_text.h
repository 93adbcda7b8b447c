// Text for JSON that people read: floats as the shortest decimal that reads back as the same
// float (0.002, not the double 0.0020000000949949026), and values from files shown in messages
// bounded in length and depth (a hostile file can nest or repeat anything).
#pragma once

#include <fmt/format.h>

#include <string>

namespace vit {

inline double as_written(float x) { return std::stod(fmt::format("{}", x)); }

// A scalar, or a list of at most 16 scalars, as JSON text of at most 80 characters; any other
// list or object by its kind only (dump() recurses once per level of nesting).
template <typename Json>
std::string shown(const Json& v) {
    if (v.is_object()) {
        return "an object";
    }
    if (v.is_array()) {
        if (v.size() > 16) return "a list of " + std::to_string(v.size()) + " values";
        for (const auto& e : v) {
            if (e.is_structured()) return "a list of lists or objects";
        }
    }
    std::string text = v.dump();
    return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

}  // namespace vit
