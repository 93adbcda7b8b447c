// vit: the command-line tool. Parses and validates flags, calls the library, prints results.
// Exit codes: 0 success, 1 error (bad file, bad config, ...), 2 bad command line.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "commands.h"
#include "vit/config.h"
#include "vit/error.h"

namespace {

void add_model_flags(CLI::App* cmd, vit::tools::ModelSource& m) {
    auto* preset = cmd->add_option("--preset", m.preset,
                                   "model preset, e.g. vit_base_patch16_224 (vit_<tiny|small|base|"
                                   "large|huge>_patch<32|16|14|8>_<image size>)");
    auto* weights = cmd->add_option("--weights", m.weights, "a safetensors file with timm names");
    preset->excludes(weights);
    cmd->add_option("--heads", m.num_heads, "number of heads, for files without config metadata")
        ->check(CLI::Range(int64_t{1}, int64_t{1024}));
    cmd->add_option("--classes", m.num_classes, "replace the class count (0 = features)")
        ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
    cmd->add_option("--image-size", m.image_size, "square input size in pixels")
        ->check(CLI::Range(int64_t{1}, int64_t{16384}));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"vit: Vision Transformers in C++ (train, evaluate, run and inspect ViT models)"};
    app.require_subcommand(1);

    vit::tools::InfoOptions info;
    auto* info_cmd = app.add_subcommand("info", "print a model's config, parameter count and forward FLOPs");
    add_model_flags(info_cmd, info.model);
    info_cmd->add_flag("--json", info.json, "print JSON instead of a table");

    vit::tools::BenchOptions bench;
    auto* bench_cmd = app.add_subcommand("bench", "measure forward and training-step images/s");
    add_model_flags(bench_cmd, bench.model);
    bench_cmd->add_option("--batch", bench.batch, "images per batch")
        ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
    bench_cmd->add_option("--threads", bench.threads, "threads for every kernel")
        ->capture_default_str()->check(CLI::Range(1, 1024));
    bench_cmd->add_option("--repeats", bench.repeats, "timed repetitions (min and median reported)")
        ->capture_default_str()->check(CLI::Range(1, 1000));
    bench_cmd->add_option("--warmup", bench.warmup, "untimed repetitions first")
        ->capture_default_str()->check(CLI::Range(0, 100));
    bench_cmd->add_option("--mode", bench.mode, "what to time")
        ->capture_default_str()->check(CLI::IsMember({"forward", "train", "both"}));
    bench_cmd->add_flag("--json", bench.json, "print one JSON object");
    bench_cmd->add_flag("!--no-peak", bench.peak, "skip measuring the machine's fp32 peak");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (info_cmd->parsed()) {
            return vit::tools::run_info(info);
        }
        return vit::tools::run_bench(bench);
    } catch (const vit::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "error: out of memory\n");
        return 1;
    }
}
