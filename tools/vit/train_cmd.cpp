// vit train and vit eval: recipes with command-line overrides, a progress display, Ctrl-C
// handling, and evaluation reports.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "commands.h"
#include "vit/checkpoint.h"
#include "vit/error.h"
#include "vit/finetune.h"
#include "vit/evaluate.h"
#include "vit/threads.h"
#include "vit/train_state.h"
#include "vit/trainer.h"

namespace vit::tools {

namespace {

std::atomic<bool> g_interrupted{false};

void on_stop_signal(int sig) {
    g_interrupted.store(true);
    signal(sig, SIG_DFL);  // a second Ctrl-C ends the process at once
}

// The command line's settings over the recipe. Settings bounded by --epochs follow it when only
// it is given: a recipe's warmup and unfreeze epochs shrink in proportion.
void apply(const RecipeOverrides& o, Recipe& r) {
    const int64_t recipe_epochs = r.epochs;
    bool warmup_given = false, unfreeze_given = false;
    for (const auto& [field, text] : o.settings) {
        set_recipe_field(r, *field, text);
        warmup_given = warmup_given || field->key == "warmup_epochs";
        unfreeze_given = unfreeze_given || field->key == "unfreeze_epoch";
    }
    if (r.epochs < recipe_epochs) {
        const double shrink = static_cast<double>(r.epochs) / static_cast<double>(recipe_epochs);
        if (!warmup_given) r.warmup_epochs *= shrink;
        if (!unfreeze_given) r.unfreeze_epoch = std::min(r.unfreeze_epoch, r.epochs);
    }
    if (!o.rand_augment.empty()) {  // replaces the recipe's rand_augment, or goes just before normalize
        const Transform t = make_rand_augment(o.rand_augment[0], o.rand_augment[1]);
        std::vector<Transform>& steps = r.train_transforms;
        auto it = std::find_if(steps.begin(), steps.end(), [](const Transform& s) {
            return s.op == TransformOp::RandAugment || s.op == TransformOp::Normalize;
        });
        if (it != steps.end() && it->op == TransformOp::RandAugment) {
            *it = t;
        } else {
            steps.insert(it, t);
        }
    }
}

std::string duration(double s) {
    const int64_t t = std::llround(std::max(0.0, s));
    return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t / 60 % 60) : fmt::format("{}m{:02}s", t / 60, t % 60);
}

void print_step(const StepReport& r, bool terminal, int64_t log_every) {
    if (terminal) {
        const int width = 24;
        const int filled = static_cast<int>(width * r.batch / std::max<int64_t>(1, r.batches));
        fmt::print(stderr, "\r\033[Kepoch {}/{} [{}{}] {}/{} loss {:.4f} acc {:.2f}% {:.0f} img/s eta {}", r.epoch,
                   r.epochs, std::string(static_cast<size_t>(filled), '#'), std::string(static_cast<size_t>(width - filled), '.'),
                   r.batch, r.batches, r.epoch_loss, 100.0 * r.epoch_accuracy, r.images_per_s, duration(r.eta_s));
    } else if (r.step % log_every == 0) {
        fmt::print(stderr, "epoch {}/{} step {}/{} loss {:.4f} acc {:.2f}% lr {:.3g} {:.0f} img/s eta {}\n", r.epoch,
                   r.epochs, r.step, r.total_steps, r.epoch_loss, 100.0 * r.epoch_accuracy, r.lr, r.images_per_s,
                   duration(r.eta_s));
    }
}

// " top-5 X%", shown only for more than 5 classes (with 5 or fewer it is always 100%).
std::string top5_text(const EvalResult& r) {
    return r.class_names.size() > 5 ? fmt::format(" top-5 {:.2f}%", 100.0 * r.top5) : "";
}

void print_epoch(const EpochReport& r, bool terminal) {
    if (terminal) fmt::print(stderr, "\r\033[K");
    std::string eval;
    if (r.eval) {
        eval = fmt::format(", {} loss {:.4f} top-1 {:.2f}%{}", r.eval_split, r.eval->loss, 100.0 * r.eval->top1,
                           top5_text(*r.eval));
    }
    fmt::print("epoch {}/{}: train loss {:.4f} acc {:.2f}%{} ({:.1f} s, {:.0f} img/s)\n", r.epoch, r.epochs,
               r.train_loss, 100.0 * r.train_accuracy, eval, r.seconds, r.images_per_s);
    std::fflush(stdout);
}

void print_eval(const EvalResult& r) {
    fmt::print("samples {}  loss {:.4f}  top-1 {:.2f}%{}\n\n", r.samples, r.loss, 100.0 * r.top1, top5_text(r));
    size_t name_width = 5;
    for (const std::string& n : r.class_names) name_width = std::max(name_width, n.size());
    fmt::print("{:<{}}  {:>7}  {:>8}\n", "class", name_width, "samples", "accuracy");
    for (size_t c = 0; c < r.class_names.size(); c++) {
        fmt::print("{:<{}}  {:>7}  {:>7.2f}%\n", r.class_names[c], name_width, r.class_counts[c], 100.0 * r.class_accuracy[c]);
    }
    const size_t K = r.class_names.size();
    if (K > 30) {
        fmt::print("\n(confusion matrix of {} classes: see the JSON output)\n", K);
        return;
    }
    fmt::print("\nconfusion matrix (rows: true class, columns: predicted)\n{:>{}}", "", name_width);
    for (size_t c = 0; c < K; c++) fmt::print(" {:>5}", c);
    fmt::print("\n");
    for (size_t t = 0; t < K; t++) {
        fmt::print("{:<{}}", r.class_names[t], name_width);
        for (size_t p = 0; p < K; p++) fmt::print(" {:>5}", r.confusion[t * K + p]);
        fmt::print("\n");
    }
}

int train_as_rank(const TrainCliOptions& o, Communicator& ranks) {
    const bool reports = ranks.rank() == 0;
    Recipe recipe;
    if (!o.recipe.empty()) {
        recipe = load_recipe(o.recipe);
    } else if (!o.resume.empty()) {
        recipe = recipe_from_checkpoint(o.resume);
    } else {
        recipe = builtin_recipe("fashion-mnist");
    }
    apply(o.overrides, recipe);
    ResolvedRecipe resolved = resolve_recipe(recipe, !o.resume.empty());  // fine-tuning: the weights' architecture
    recipe = resolved.recipe;
    recipe.validate();
    if (o.print_recipe) {
        if (reports) fmt::print("{}\n", recipe_to_json(recipe));
        return 0;
    }
    const bool terminal = isatty(STDERR_FILENO) != 0;
    if (reports) fmt::print("training '{}' on {} ({}), {} epoch{}, batch {}, {}, {} -> {}\n", recipe.name, recipe.dataset.kind,
               recipe.dataset.path, recipe.epochs, recipe.epochs == 1 ? "" : "s", recipe.batch_size,
               optimizer_name(recipe.optimizer.kind),
               precision_name(recipe.precision), recipe.out_dir);
    std::fflush(stdout);
    // Ctrl-C, SIGTERM and SIGUSR1 (which mpirun forwards to every rank) stop after the step.
    for (const int sig : {SIGINT, SIGTERM, SIGUSR1}) signal(sig, on_stop_signal);
    TrainCallbacks cb;
    cb.on_step = [&](const StepReport& r) { print_step(r, terminal, recipe.log_every); };
    cb.on_epoch = [&](const EpochReport& r) { print_epoch(r, terminal); };
    cb.on_message = [&](const std::string& m) {
        if (terminal) fmt::print(stderr, "\r\033[K");
        fmt::print(stderr, "{}\n", m);
    };
    TrainResult r = train(std::move(resolved),
                          {.resume = o.resume, .stop = &g_interrupted, .max_steps = o.max_steps,
                           .overwrite = o.overwrite, .ranks = ranks, .bucket_mb = o.bucket_mb,
                           .shard_optimizer = o.shard_optimizer},
                          cb);
    for (const int sig : {SIGINT, SIGTERM, SIGUSR1}) signal(sig, SIG_DFL);
    if (!reports) {
        return r.interrupted && g_interrupted.load() ? 130 : 0;
    }
    if (terminal) fmt::print(stderr, "\r\033[K");
    if (ranks.size() > 1 && !r.losses.empty()) {
        const double steps = static_cast<double>(r.losses.size());
        fmt::print("data parallel over {}: {:.2f} MiB of gradients summed a step, {:.1f} ms a step spent in the "
                   "sums ({:.1f}% of the run)\n", ranks.describe(),
                   static_cast<double>(r.gradient_values) * sizeof(float) / (1 << 20), 1e3 * r.sum_seconds / steps,
                   100.0 * r.sum_seconds / r.seconds);
    }
    if (r.interrupted) {
        fmt::print("stopped after step {}; checkpoint: {}\nresume with: vit train --resume {}\n", r.steps, r.checkpoint,
                   r.checkpoint);
        return g_interrupted.load() ? 130 : 0;
    }
    if (r.test) {
        fmt::print("test: top-1 {:.2f}%{} loss {:.4f} ({} images)\n", 100.0 * r.test->top1, top5_text(*r.test),
                   r.test->loss, r.test->samples);
    }
    fmt::print("done in {:.1f} s ({} steps)\nweights: {}\ncheckpoint: {}\nmetrics: {}\nplot: {}\nsamples: {}\n", r.seconds,
               r.steps, r.weights, r.checkpoint, r.metrics, r.plot, r.samples);
    return 0;
}

}  // namespace

// Under mpirun every rank runs this command; an error on one rank is printed with its rank and
// ends the whole job (the others would wait for it forever).
int run_train(const TrainCliOptions& o) {
    std::unique_ptr<Communicator> ranks = join_launch({.timeout_s = o.rank_timeout_s});
    if (ranks->size() == 1) {
        return train_as_rank(o, *ranks);
    }
    try {
        // The job's exit code is the largest rank's, agreed after rank 0 has written its last
        // file: a rank that left first would make mpirun end the others.
        const std::vector<uint64_t> codes = ranks->gather(static_cast<uint64_t>(train_as_rank(o, *ranks)));
        return static_cast<int>(*std::max_element(codes.begin(), codes.end()));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rank %d: error: %s\n", ranks->rank(), e.what());
        std::fflush(stderr);
        ranks->abort(1);
    }
    return 1;  // not reached: abort ends every rank
}

// Weights of any format: a vit train file names its data and transforms, others need --recipe.
int run_eval(const EvalCliOptions& o) {
    const WeightSource weights = open_weights(o.weights);
    Recipe recipe;
    if (!o.recipe.empty()) {
        recipe = load_recipe(o.recipe);
    } else if (auto it = weights.metadata.find("vit.recipe"); it != weights.metadata.end()) {
        const Recipe defaults;
        recipe = recipe_from_json(it->second, o.weights + " (vit.recipe metadata)", defaults);
    } else {
        fail("'{}' ({} names) does not say which data it was trained on; give a recipe (--recipe, e.g. from vit "
             "train --print-recipe) for the dataset and its evaluation transforms", o.weights,
             name_scheme_name(weights.scheme));
    }
    apply(o.overrides, recipe);
    recipe.model = config_from_weights(weights, o.num_heads);
    if (auto note = heads_guess_note(weights, o.num_heads)) fmt::print(stderr, "warning: {}\n", *note);
    set_num_threads(recipe.threads > 0 ? recipe.threads : num_cores());
    ViT model(recipe.model, inference_storage(recipe.precision));
    load_weights(model, weights, {.strict = true});
    model.pack_for_inference();
    if (o.split != "test" && o.split != "train") fail("--split must be test or train, got '{}'", o.split);
    DatasetSpec spec = recipe.dataset;
    spec.decode_shorter_side = decode_shorter_side(recipe.eval_transforms);
    DatasetPtr data = open_dataset(spec, o.split == "test" ? Split::Test : Split::Train);
    data = stratified_subset(data, recipe.test_limit, recipe.seed + 1);
    Pipeline pipe(recipe.eval_transforms, recipe.model.channels, recipe.model.image_height, recipe.model.image_width);
    DataLoader loader(data, pipe, {.batch_size = o.batch, .workers = recipe.workers});
    EvalResult r = evaluate(model, loader, recipe.eval_flip);
    fmt::print("{} on the {} split of {} ({})\n", o.weights, o.split, recipe.dataset.kind, recipe.dataset.path);
    print_eval(r);
    if (!o.json_out.empty()) {
        std::ofstream out(o.json_out);
        out << eval_to_json(r) << "\n";
        if (!out) {
            fail("cannot write '{}': {}", o.json_out,
                 std::filesystem::is_directory(o.json_out) ? "it is a directory" : std::strerror(errno));
        }
        fmt::print("\nwrote {}\n", o.json_out);
    }
    return 0;
}

}  // namespace vit::tools
