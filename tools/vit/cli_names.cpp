// Did-you-mean by edit distance (Levenshtein) over the names the command line accepts.
#include "cli_names.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <vector>

namespace vit::tools {

namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); j++) row[j] = j;
    for (size_t i = 1; i <= a.size(); i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); j++) {
            const size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// "; did you mean 'X'?" for the nearest candidate within a third of the name's length (at least
// 2 edits), else "".
std::string suggestion(std::string_view name, const std::vector<std::string>& candidates) {
    const std::string* best = nullptr;
    size_t best_distance = std::max<size_t>(2, name.size() / 3) + 1;
    for (const std::string& c : candidates) {
        const size_t d = edit_distance(name, c);
        if (d < best_distance) {
            best_distance = d;
            best = &c;
        }
    }
    return best != nullptr ? fmt::format("; did you mean '{}'?", *best) : "";
}

}  // namespace

std::string unknown_name(const CLI::App& app, int argc, const char* const* argv) {
    std::vector<std::string> commands;
    for (const CLI::App* sub : app.get_subcommands({})) commands.push_back(sub->get_name());
    const std::string command_list = fmt::format("{}", fmt::join(commands, ", "));
    int i = 1;
    for (; i < argc && std::string_view(argv[i]).starts_with("-"); i++) {
        const std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h" || flag == "--version") return "";
    }
    if (i == argc) {
        return fmt::format("a command is required: one of {} (vit --help describes them)", command_list);
    }
    const std::string command = argv[i];
    const CLI::App* sub = nullptr;
    for (const CLI::App* s : app.get_subcommands({})) {
        if (s->get_name() == command) sub = s;
    }
    if (sub == nullptr) {
        return fmt::format("unknown command '{}'{} (commands: {})", command, suggestion(command, commands), command_list);
    }
    std::vector<std::string> options;
    for (const CLI::Option* o : sub->get_options({})) {
        for (const std::string& n : o->get_lnames()) options.push_back("--" + n);
    }
    for (i++; i < argc; i++) {
        std::string_view token = argv[i];
        if (token == "--") break;  // the rest are positional
        if (!token.starts_with("--")) continue;
        const std::string name(token.substr(0, token.find('=')));
        if (std::find(options.begin(), options.end(), name) == options.end()) {
            return fmt::format("vit {}: unknown option '{}'{} (vit {} --help lists the options)", command, name,
                               suggestion(name, options), command);
        }
    }
    return "";
}

}  // namespace vit::tools
