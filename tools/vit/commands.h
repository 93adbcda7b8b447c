// The vit subcommands: each takes its parsed options and prints its result.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vit/config.h"
#include "vit/model.h"
#include "vit/recipe.h"
#include "vit/weights.h"

namespace vit::tools {

struct ModelSource {
    std::string preset;        // a preset name, or
    std::string weights;       // a weight file of any supported format (vit/weights.h), or
    std::string config;        // a JSON file of ViTConfig fields (unset fields: ViT-B/16's)
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
    Precision precision = Precision::F32;
    bool json = false;
    bool peak = true;           // measure the machine's fp32 peak first
};

// Recipe settings given on the command line, in order, as words for vit::set_recipe_field; the
// others keep the recipe's value.
struct RecipeOverrides {
    std::vector<std::pair<const RecipeField*, std::string>> settings;
    std::vector<int64_t> rand_augment;  // {num_ops, magnitude}, empty when not given
};

struct TrainCliOptions {
    std::string recipe;            // built-in name or JSON file ("fashion-mnist" unless resuming)
    std::string resume;            // a checkpoint to continue
    bool overwrite = false;        // replace a run already in the output folder
    RecipeOverrides overrides;
    int64_t max_steps = 0;
    bool print_recipe = false;     // print the resolved recipe as JSON and exit
    double bucket_mb = 25.0;       // under mpirun: gradient MiB per collective sum
    double rank_timeout_s = 600.0; // under mpirun: the longest wait for the other ranks
    bool shard_optimizer = false;  // under mpirun: ZeRO-1, each rank keeps 1/N of the optimizer state
};

struct EvalCliOptions {
    std::string weights;           // model.safetensors or checkpoint.safetensors from vit train
    std::string recipe;            // for files without recipe metadata
    RecipeOverrides overrides;     // data, data_kind, threads, workers, test_limit
    std::string split = "test";    // test | train
    int64_t batch = 256;
    std::string json_out;          // also write the results as JSON here
    int64_t num_heads = 0;         // for weight files that do not record it
};

// What the commands that run a model over images (predict, inspect) share.
struct ImageRunOptions {
    ModelSource model;                 // weights (required), heads and image-size overrides
    std::vector<std::string> inputs;   // image files and folders
    int64_t batch = 16;
    int threads = 0;                   // 0: every core
    std::string preprocess;            // timm | torchvision | hf; empty: from the weights
    Precision precision = Precision::F32;
    std::string labels;                // class names, one per line
    bool non_strict = false;
    bool json = false;
};

struct PredictCliOptions {
    ImageRunOptions run;
    int64_t top_k = 5;
};

struct InspectCliOptions {
    ImageRunOptions run;
    int64_t test_images = 0;           // also the first this many test images of the recipe's dataset
    int64_t layer = -1;                // the layer whose heads are drawn (negative: from the end)
    std::string out = "inspect";       // folder for the pictures
};

struct ServeCliOptions {
    std::string weights;               // served as `name`
    std::string name = "vit";
    std::vector<std::string> models;   // NAME=PATH, each another model
    std::string host = "127.0.0.1";
    int port = 8080;                   // 0: a free port (printed)
    int64_t max_batch = 8;             // images per forward pass
    double max_delay_ms = 0.0;         // how long a batch waits to fill
    int64_t queue = 64;                // images waiting, over all models; more: 503
    int threads = 0;                   // compute threads (0: every core)
    Precision precision = Precision::F32;
    std::string preprocess;            // as vit predict
    int64_t num_heads = 0;
    bool non_strict = false;
    std::string api_key_file;
    double timeout_s = 30.0;           // reading a request, waiting for its batch, writing the answer
    int64_t max_body_mb = 64;
    int64_t max_connections = 256;
    int64_t max_pixels = int64_t{1} << 24;  // an image declaring more is refused before decoding
};

// Weights loaded for inference (missing and unused tensors reported on stderr) and packed for
// oneDNN's products; `weights` stays open for the class names and preprocessing it carries.
struct InferenceModel {
    WeightSource weights;
    ViTConfig config;
    std::unique_ptr<ViT> model;
};
InferenceModel load_for_inference(const ModelSource& source, Precision precision, bool non_strict);

// The class names of labels (a file, one per line) when given, else the weights', else "class k".
std::vector<std::string> class_names_for(const InferenceModel& m, const std::string& labels);

// The model config of a source: the weights' (opened once by the caller), a JSON file's or a
// preset's, with the heads, class-count and image-size overrides applied and validated.
ViTConfig resolve_config(const ModelSource& m, const std::optional<WeightSource>& weights);

int run_info(const InfoOptions& options);
int run_predict(const PredictCliOptions& options);
int run_inspect(const InspectCliOptions& options);
int run_train(const TrainCliOptions& options);
int run_eval(const EvalCliOptions& options);
int run_bench(const BenchOptions& options);
int run_serve(const ServeCliOptions& options);

}  // namespace vit::tools
