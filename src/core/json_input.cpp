// Bounded JSON parsing: nlohmann's parser is iterative, and its callback sees every event, so
// the depth and the keys of each open object are checked as they arrive.
#include "core/json_input.h"

#include <set>
#include <string>
#include <vector>

#include "core/json_text.h"
#include "vit/error.h"

namespace vit {

nlohmann::json parse_json_input(std::string_view text, std::string_view what) {
    using nlohmann::json;
    std::vector<std::set<std::string>> open_objects;  // the keys seen so far in each open object
    auto check = [&](int depth, json::parse_event_t event, json& parsed) {
        if (depth > kMaxJsonDepth) {
            fail("{}: JSON nested deeper than {} levels", what, kMaxJsonDepth);
        }
        switch (event) {
            case json::parse_event_t::object_start: open_objects.emplace_back(); break;
            case json::parse_event_t::object_end: open_objects.pop_back(); break;
            case json::parse_event_t::key:
                if (!open_objects.back().insert(parsed.get<std::string>()).second) {
                    fail("{}: key {} appears twice in one object", what, shown(parsed));
                }
                break;
            default: break;
        }
        return true;
    };
    return json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/false);
}

}  // namespace vit
