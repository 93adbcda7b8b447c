// Command and option names checked before CLI11 parses them, so that a typo is answered by
// name, with the nearest valid name ("did you mean"): CLI11's own answers name the wrong thing
// ("A subcommand is required" for `vit trian`, "--weights is required" for `--weight X`).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace vit::tools {

// The message for the first unknown command or option on the command line, or "" when every
// name is known (values are left to CLI11 and the option checks).
std::string unknown_name(const CLI::App& app, int argc, const char* const* argv);

}  // namespace vit::tools
