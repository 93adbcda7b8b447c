// JSON that comes from outside (recipes, model configs, weight-file headers and metadata,
// checkpoints, Hugging Face config.json files, requests): parsed with its nesting bounded, so
// that nothing built from it later (a message, a copy, a dump) recurses without limit, and with
// a key repeated within one object refused rather than the last one silently winning.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

namespace vit {

inline constexpr int kMaxJsonDepth = 64;

// The parsed value; is_discarded() when `text` is not JSON. Throws vit::Error naming `what`
// when the text nests deeper than kMaxJsonDepth or repeats a key within one object.
nlohmann::json parse_json_input(std::string_view text, std::string_view what);

}  // namespace vit
