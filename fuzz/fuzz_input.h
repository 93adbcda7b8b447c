// Shared by the fuzz targets: the input as a file, for readers that take a path, and the rule
// that a vit::Error is the expected answer to bad input while anything else (a crash, a
// sanitizer report, another exception, a hang) is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "vit/error.h"

namespace vit::fuzz {

class InputFile {
  public:
    InputFile(const uint8_t* data, size_t size, const std::string& tag)
        : path_("/tmp/vit-fuzz-" + std::to_string(::getpid()) + "-" + tag) {
        FILE* f = std::fopen(path_.c_str(), "wb");
        if (f == nullptr || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) {
            std::perror(path_.c_str());
            std::abort();
        }
    }
    ~InputFile() { std::remove(path_.c_str()); }
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

template <typename F>
void expect_only_vit_errors(F&& f) {
    try {
        f();
    } catch (const vit::Error&) {
    }
}

}  // namespace vit::fuzz
