// UTF-8 checks for names that end up in JSON (class names, image paths): JSON text must be valid
// UTF-8, and a file system name need not be.
#pragma once

#include <string>
#include <string_view>

namespace vit {

bool is_utf8(std::string_view s);

// s with every byte that is not part of a valid UTF-8 sequence written as \xNN (for messages).
std::string utf8_escaped(std::string_view s);

}  // namespace vit
