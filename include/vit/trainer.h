// The training loop: data, model, optimizer and schedule from a Recipe; a checkpoint every N
// steps and at each epoch end; evaluation after each epoch; metrics as JSON lines; a PNG plot at
// the end. Resuming from a checkpoint continues bit for bit (at the same thread count).
//
// Example:
//   vit::TrainResult r = vit::train(vit::builtin_recipe("fashion-mnist"), {}, {});
//   fmt::print("test top-1 {:.2f}%, weights in {}\n", 100 * r.test->top1, r.weights);
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "vit/communicator.h"
#include "vit/evaluate.h"
#include "vit/recipe.h"
#include "vit/weights.h"

namespace vit {

struct StepReport {
    int64_t epoch = 0, epochs = 0;        // epoch counts from 1 in reports
    int64_t batch = 0, batches = 0;       // within the epoch, counting from 1
    int64_t step = 0, total_steps = 0;    // optimizer steps taken so far
    double loss = 0.0;                    // this step's mean loss
    double epoch_loss = 0.0, epoch_accuracy = 0.0;  // running means over the epoch
    double lr = 0.0, images_per_s = 0.0, eta_s = 0.0;
};

struct EpochReport {
    int64_t epoch = 0, epochs = 0, step = 0;
    double train_loss = 0.0, train_accuracy = 0.0, seconds = 0.0, images_per_s = 0.0;
    std::string eval_split;               // "val", "test" or empty
    std::optional<EvalResult> eval;
};

struct TrainCallbacks {
    std::function<void(const StepReport&)> on_step;
    std::function<void(const EpochReport&)> on_epoch;
    std::function<void(const std::string&)> on_message;  // checkpoints written, resume, ...
    void message(const std::string& m) const {
        if (on_message) on_message(m);
    }
};

struct TrainOptions {
    std::string resume = {};                  // a checkpoint.safetensors to continue from
    const std::atomic<bool>* stop = nullptr;  // set (e.g. by Ctrl-C): checkpoint and return
    int64_t max_steps = 0;                    // stop after this many optimizer steps (0: no limit)
    bool overwrite = false;                   // replace a run already in recipe.out_dir (else refused)
    // The processes sharing every batch (mpirun -np N): each computes its part of the batch and
    // the gradients are summed, `bucket_mb` MiB per collective; rank 0 alone writes and reports.
    std::reference_wrapper<Communicator> ranks = single_process();
    double bucket_mb = 25.0;
    // ZeRO stage 1: gradients reduce-scattered, each rank keeps and updates the optimizer state
    // of 1/N of the parameters, the parameters all-gathered after the step.
    bool shard_optimizer = false;
};

struct TrainResult {
    bool interrupted = false;     // stopped by TrainOptions::stop or max_steps
    int64_t steps = 0;
    double seconds = 0.0;
    std::vector<double> losses;   // every step's loss, in order (this run's steps only)
    double sum_seconds = 0.0;     // spent in the sums over the ranks (waiting for the slowest included)
    int64_t gradient_values = 0;  // gradients summed a step
    std::optional<EvalResult> test;
    std::string checkpoint, weights, metrics, plot, samples;  // paths written under recipe.out_dir
};

// A recipe with the fine-tuning weights it names (finetune.init) opened once and the model's
// architecture taken from them; when resuming, the checkpoint holds the model and nothing is opened.
struct ResolvedRecipe {
    Recipe recipe;
    std::optional<WeightSource> init;
};
ResolvedRecipe resolve_recipe(const Recipe& recipe, bool resuming);

// Throws vit::Error for a bad recipe, dataset or checkpoint, and for a NaN or infinite loss
// (the last checkpoint written stays as it was).
TrainResult train(ResolvedRecipe recipe, const TrainOptions& options, const TrainCallbacks& callbacks);
// The same for a recipe not yet resolved.
TrainResult train(const Recipe& recipe, const TrainOptions& options, const TrainCallbacks& callbacks);

// Writes loss and accuracy curves from a metrics.jsonl file as a PNG; `note` goes under the loss
// panel (what makes the training loss differ from the evaluation's, say).
void write_training_plot(const std::string& metrics_path, const std::string& png_path, const std::string& note = {});

}  // namespace vit
