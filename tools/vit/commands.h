// The vit subcommands: each takes its parsed options and prints its result.
#pragma once

#include <cstdint>
#include <string>

namespace vit::tools {

struct ModelSource {
    std::string preset;        // a preset name, or
    std::string weights;       // a safetensors file
    int64_t num_heads = 0;     // override for files without config metadata
    int64_t num_classes = -1;  // override (-1: keep)
    int64_t image_size = 0;    // override, square (0: keep)
};

struct InfoOptions {
    ModelSource model;
    bool json = false;
};

struct BenchOptions {
    ModelSource model;
    int64_t batch = 16;
    int threads = 2;
    int repeats = 5;
    int warmup = 1;
    std::string mode = "both";  // forward | train | both
    bool json = false;
    bool peak = true;           // measure the machine's fp32 peak first
};

int run_info(const InfoOptions& options);
int run_bench(const BenchOptions& options);

}  // namespace vit::tools
