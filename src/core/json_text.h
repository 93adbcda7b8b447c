// Text for JSON that people read: floats as the shortest decimal that reads back as the same
// float (0.002, not the double 0.0020000000949949026), and values from files shown in messages
// bounded in length and depth (a hostile file can nest or repeat anything).
#pragma once

#include <fmt/format.h>

#include <string>

namespace vit {

inline double as_written(float x) { return std::stod(fmt::format("{}", x)); }

// A scalar as JSON text, at most 80 characters; a list or an object by its kind only.
template <typename Json>
std::string shown(const Json& v) {
    if (v.is_structured()) {
        return v.is_array() ? "a list" : "an object";
    }
    std::string text = v.dump();
    return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

}  // namespace vit
