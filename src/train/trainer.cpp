// The training loop. One optimizer step = `accumulate` micro-batches; every random choice is a
// function of (seed, epoch, sample) or (seed, step, place in the batch), so a run resumed from a
// checkpoint repeats the same batches, masks and updates as one that never stopped, and ranks
// that share each batch (data parallelism) compute what one process would. Rank 0 alone writes
// the run folder and reports.
#include "vit/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/json_input.h"
#include "train/data_parallel.h"
#include "train/run_folder.h"
#include "vit/checkpoint.h"
#include "vit/error.h"
#include "vit/finetune.h"
#include "vit/mix.h"
#include "vit/samples.h"
#include "vit/threads.h"
#include "vit/train_state.h"

namespace vit {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kMixStream = 0x6d69785f63757400ull;  // Mixup/CutMix draws: a seed apart from dropout's

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Data {
    DatasetPtr train, eval, test;
    std::string eval_split;
};

Data open_data(const Recipe& r) {
    Data d;
    // Huge JPEGs may decode smaller where every pipeline reading the split resizes first (the
    // validation part of the training split goes through the evaluation transforms).
    DatasetSpec train_spec = r.dataset, test_spec = r.dataset;
    train_spec.decode_shorter_side = std::min(decode_shorter_side(r.train_transforms), decode_shorter_side(r.eval_transforms));
    test_spec.decode_shorter_side = decode_shorter_side(r.eval_transforms);
    const DatasetPtr whole = open_dataset(train_spec, Split::Train);
    DatasetPtr train = stratified_subset(whole, r.train_limit, r.seed);
    if (r.val_fraction > 0.0) {
        SplitIndices s = stratified_split(*train, r.val_fraction, r.seed);
        d.train = subset(train, std::move(s.first));
        d.eval = subset(train, std::move(s.second));
        d.eval_split = "val";
    } else {
        d.train = train;
    }
    if (dataset_has_split(r.dataset, Split::Test)) {
        d.test = stratified_subset(open_dataset(test_spec, Split::Test), r.test_limit, r.seed + 1);
        if (!d.eval) {
            d.eval = d.test;
            d.eval_split = "test";
        }
    }
    if (d.train->size() == 0) {
        fail("no training images: train_limit = {} (taken from each of the {} classes in proportion) and val_fraction = {} "
             "leave none of the training split's {}", r.train_limit, whole->num_classes(), r.val_fraction, whole->size());
    }
    if (d.eval && d.eval->size() == 0) {
        const std::string field = d.eval_split == "val" ? fmt::format("val_fraction = {}", r.val_fraction)
                                                        : fmt::format("test_limit = {}", r.test_limit);
        fail("no {} images: {} leaves none; raise it or set it to 0", d.eval_split, field);
    }
    if (d.train->num_classes() != r.model.num_classes) {
        fail("the dataset has {} classes but the model has num_classes = {}{}", d.train->num_classes(), r.model.num_classes,
             r.dataset.kind == "filenames" && d.train->num_classes() > r.model.num_classes
                 ? " (a file's label is its name up to the first '.': 'cat.12.jpg' is labelled 'cat', while "
                   "'cat_12.jpg' is a label of its own)"
                 : "");
    }
    return d;
}

// Keeps the lines of an existing metrics file up to `step` (a resumed run rewrites the rest).
void truncate_metrics(const std::string& path, int64_t step) {
    std::ifstream in(path);
    std::string kept, line;
    while (std::getline(in, line)) {
        json j = parse_json_input(line, fmt::format("'{}'", path));
        if (!j.is_discarded() && j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() <= step) {
            kept += line + "\n";
        }
    }
    std::ofstream(path, std::ios::trunc) << kept;
}

int64_t count_correct(const float* logits, const std::vector<int32_t>& labels, int64_t K) {
    int64_t hits = 0;
    for (size_t i = 0; i < labels.size(); i++) {
        const float* row = logits + static_cast<int64_t>(i) * K;
        hits += std::max_element(row, row + K) - row == labels[i];
    }
    return hits;
}

// One run's state: what setup() builds and the epochs use.
struct Run {
    Communicator& ranks;
    std::optional<RunFolder> folder;  // rank 0's
    Recipe recipe;
    Data data;
    Pipeline train_pipe, eval_pipe;
    DataLoader loader;
    int64_t steps_per_epoch = 0, total_steps = 0;
    Schedule schedule;
    ViT model;
    // With a sharded optimizer (ZeRO-1) rank r keeps the state of part r of the parameters.
    bool shard_optimizer;
    std::vector<int64_t> param_parts;
    Optimizer optimizer;
    TrainState state;
    std::ofstream metrics;
    TrainResult result;
    Clock::time_point start = Clock::now();
    std::vector<float> mixed_images;     // a mixed copy of the loader's batch
    // Unsharded over several ranks, the last micro-batch's backward pass starts the sums of the
    // blocks it completes.
    std::optional<GradientSum> overlapped_sum;

    Run(Communicator& c, std::optional<RunFolder> f, Recipe r, Data d, bool shard)
        : ranks(c),
          folder(std::move(f)),
          recipe(std::move(r)),
          data(std::move(d)),
          train_pipe(recipe.train_transforms, recipe.model.channels, recipe.model.image_height, recipe.model.image_width),
          eval_pipe(recipe.eval_transforms, recipe.model.channels, recipe.model.image_height, recipe.model.image_width),
          loader(data.train, train_pipe,
                 {.batch_size = recipe.batch_size, .shuffle = true, .drop_last = true, .seed = recipe.seed,
                  .workers = recipe.workers, .part = ranks.rank(), .parts = ranks.size(),
                  .partners = recipe.mix.enabled()}),
          model(recipe.model),
          shard_optimizer(shard && ranks.size() > 1),
          param_parts(parts_of(model.param_buffer_size(), shard_optimizer ? ranks.size() : 1)),
          optimizer(model, recipe.optimizer, part_of(param_parts, shard_optimizer ? ranks.rank() : 0)) {
        model.init_weights(recipe.seed);
    }

    bool writes() const { return ranks.rank() == 0; }
    std::string file(const std::string& name) const { return (fs::path(recipe.out_dir) / name).string(); }
    void save() {
        if (!shard_optimizer) {
            if (writes()) save_training_checkpoint(result.checkpoint, model, optimizer, recipe, state, data.train->class_names());
            return;
        }
        std::optional<Optimizer> whole;  // rank 0's, for the one checkpoint
        if (writes()) whole.emplace(model, recipe.optimizer);
        collect_optimizer(ranks, optimizer, whole ? &*whole : nullptr, param_parts);
        if (writes()) save_training_checkpoint(result.checkpoint, model, *whole, recipe, state, data.train->class_names());
    }
    EvalResult evaluate_on(const DatasetPtr& d) {
        return evaluate_on_ranks(ranks, model, d, eval_pipe, 256, recipe.workers, recipe.eval_flip);
    }
    bool freezing() const { return recipe.freeze_embeddings || recipe.freeze_blocks > 0; }
    bool frozen_in(int64_t epoch) const {  // frozen until unfreeze_epoch epochs are done
        return freezing() && (recipe.unfreeze_epoch == 0 || epoch < recipe.unfreeze_epoch);
    }
};

// A look at the data before training: the sizes of the splits, and samples.png, 16 training
// images as the model sees them (augmented) with their class names.
void show_data(Run& run, const TrainCallbacks& cb) {
    const Data& d = run.data;
    std::string splits = fmt::format("{} training", d.train->size());
    if (d.eval && d.eval != d.test) splits += fmt::format(", {} validation", d.eval->size());
    if (d.test) splits += fmt::format(", {} test", d.test->size());
    cb.message(fmt::format("data: {} images in {} classes", splits, d.train->num_classes()));
    const ViTConfig& c = run.recipe.model;
    DataLoader loader(d.train, run.train_pipe,
                      {.batch_size = std::min<int64_t>(16, d.train->size()), .shuffle = true, .seed = run.recipe.seed,
                       .workers = 0});
    loader.start_epoch(0);
    const Batch* b = loader.next();
    SampleImages samples{.title = fmt::format("{}: training images after augmentation", run.recipe.name),
                         .images = b->images, .labels = b->labels, .class_names = d.train->class_names(),
                         .channels = c.channels, .height = c.image_height, .width = c.image_width, .mean = {}, .std = {}};
    for (const Transform& t : run.recipe.train_transforms) {
        if (t.op == TransformOp::Normalize) {
            samples.mean = t.mean;
            samples.std = t.std;
        }
    }
    write_samples_png(samples, run.result.samples);
}

// A resumed position must be one its recipe can reach: a hand-edited or hostile checkpoint
// would otherwise index past the epoch's batches or report more correct images than seen.
void check_position(const Run& run, const std::string& path) {
    const TrainState& s = run.state;
    const Recipe& r = run.recipe;
    const int64_t batches = run.loader.batches_per_epoch();
    const bool fits = s.epoch <= r.epochs && s.next_batch <= batches && (s.epoch < r.epochs || s.next_batch == 0) &&
                      s.step <= run.total_steps && s.epoch_correct <= s.epoch_seen &&
                      s.epoch_seen <= s.next_batch * r.batch_size;
    if (!fits) {
        fail("'{}': the checkpoint's position (epoch {}, batch {}, step {}, {} correct of {} images seen) does not fit "
             "its recipe ({} epochs of {} batches of {}, {} steps)", path, s.epoch, s.next_batch, s.step,
             s.epoch_correct, s.epoch_seen, r.epochs, batches, r.batch_size, run.total_steps);
    }
}

// Data, model (initialised, or from the pretrained weights), optimizer, schedule, output folder,
// and the state of a resumed run.
std::unique_ptr<Run> setup(ResolvedRecipe resolved, const TrainOptions& options, const TrainCallbacks& cb) {
    const Recipe& recipe = resolved.recipe;
    recipe.validate();
    Communicator& ranks = options.ranks;
    if (recipe.batch_size < ranks.size()) {
        fail("{} ranks share each batch of batch_size = {}: give every rank at least one image (a larger "
             "batch_size or fewer ranks)", ranks.size(), recipe.batch_size);
    }
    if (options.bucket_mb <= 0.0 || !std::isfinite(options.bucket_mb)) {
        fail("the gradient bucket size must be a positive number of MiB, got {}", options.bucket_mb);
    }
    set_num_threads(recipe.threads > 0 ? recipe.threads : num_cores());
    const RunFolder::Use use = !options.resume.empty() ? RunFolder::Use::Resume
                               : options.overwrite     ? RunFolder::Use::Overwrite
                                                       : RunFolder::Use::New;
    std::optional<RunFolder> folder;
    if (ranks.rank() == 0) folder.emplace(recipe.out_dir, use);  // before the data: a bad --out fails at once
    auto run = std::make_unique<Run>(ranks, std::move(folder), recipe, open_data(recipe), options.shard_optimizer);
    run->steps_per_epoch = run->loader.batches_per_epoch() / recipe.accumulate;
    if (run->steps_per_epoch < 1) {
        fail("the training set has {} sample{}, fewer than one step of batch_size x accumulate = {}",
             run->data.train->size(), run->data.train->size() == 1 ? "" : "s", recipe.batch_size * recipe.accumulate);
    }
    run->total_steps = run->steps_per_epoch * recipe.epochs;
    const double steps = static_cast<double>(run->steps_per_epoch);
    run->schedule = Schedule{.kind = recipe.schedule,
                             .base_lr = recipe.optimizer.lr,
                             .warmup_steps = std::llround(recipe.warmup_epochs * steps),
                             .total_steps = run->total_steps,
                             .min_lr = recipe.min_lr,
                             .step_size = std::max<int64_t>(1, std::llround(recipe.step_epochs * steps)),
                             .gamma = recipe.gamma};
    if (resolved.init) {
        if (auto note = heads_guess_note(*resolved.init, recipe.init_heads)) cb.message("warning: " + *note);
        cb.message(fmt::format("fine-tuning from {} ({} names): {}", recipe.init, name_scheme_name(resolved.init->scheme),
                               init_from_pretrained(run->model, *resolved.init)));
    }
    run->model.set_precision(recipe.precision);
    if (!run->shard_optimizer && ranks.size() > 1) {
        run->overlapped_sum.emplace(ranks, run->model,
                                    std::max<int64_t>(1, std::llround(options.bucket_mb * 1024 * 1024 / sizeof(float))));
    }

    TrainResult& result = run->result;
    result.checkpoint = run->file("checkpoint.safetensors");
    result.weights = run->file("model.safetensors");
    result.metrics = run->file("metrics.jsonl");
    result.plot = run->file("curves.png");
    result.samples = run->file("samples.png");
    if (!options.resume.empty()) {
        if (run->shard_optimizer) {  // read whole, keep this rank's part
            Optimizer whole(run->model, recipe.optimizer);
            run->state = load_training_checkpoint(options.resume, run->model, whole);
            take_part(whole, run->optimizer);
        } else {
            run->state = load_training_checkpoint(options.resume, run->model, run->optimizer);
        }
        check_position(*run, options.resume);
        if (run->writes()) truncate_metrics(result.metrics, run->state.step);
        cb.message(fmt::format("resumed from {} at epoch {}, step {}", options.resume, run->state.epoch + 1,
                               run->state.step));
    } else if (run->writes()) {
        std::ofstream(result.metrics, std::ios::trunc);
        show_data(*run, cb);
    }
    if (ranks.size() > 1) {
        const TrainState& s = run->state;
        check_ranks_agree(ranks, fmt::format("{}|{}|{}|{}", recipe_to_json(run->recipe), s.epoch, s.next_batch, s.step),
                          *run->data.train, run->model);
        const double state_mib = static_cast<double>(run->optimizer.owned().size()) * sizeof(float) *
                                 static_cast<double>(run->optimizer.state().size()) / (1 << 20);
        cb.message(fmt::format("data parallel over {}: each rank computes about {} images of every batch of {} and "
                               "keeps {:.2f} MiB of optimizer state{}", ranks.describe(),
                               recipe.batch_size / ranks.size(), recipe.batch_size, state_mib,
                               run->shard_optimizer ? " (its part: --shard-optimizer)" : ""));
    }
    if (run->writes()) run->metrics.open(result.metrics, std::ios::app);
    return run;
}

struct StepOutcome {
    double loss = 0.0;  // the mean over the step's images
    bool stop = false;  // some rank was asked to stop
};

// One optimizer step of `accumulate` micro-batches. Each rank holds part of every micro-batch
// (b->first on of b->whole images): its losses and gradients are weighted by its share, so that
// their sums over the ranks are the whole batch's means.
StepOutcome train_step(Run& run, bool stop_asked) {
    const Recipe& recipe = run.recipe;
    const ViTConfig& cfg = recipe.model;
    const int64_t K = cfg.num_classes;
    TrainState& state = run.state;
    run.model.zero_grad();
    double step_loss = 0.0;
    int64_t correct = 0;
    std::optional<GradientSum>& gradient_sum = run.overlapped_sum;
    if (gradient_sum) gradient_sum->start();
    for (int64_t micro = 0; micro < recipe.accumulate; micro++, state.next_batch++) {
        const Batch* b = run.loader.next();
        const uint64_t micro_id = static_cast<uint64_t>(state.step) * 4096 + static_cast<uint64_t>(micro);
        const uint64_t dropout_seed = mix64(recipe.seed ^ mix64(micro_id));
        const float* images = b->images.data();
        std::optional<MixedTargets> mixed;
        if (recipe.mix.enabled()) {  // Mixup / CutMix on a copy: the loader owns its batch
            run.mixed_images.assign(b->images.begin(), b->images.end());
            mixed = MixedTargets{};
            mixed->draw = draw_mix(recipe.mix, cfg.image_height, cfg.image_width,
                                   mix64(recipe.seed ^ kMixStream ^ mix64(micro_id)));
            mixed->targets = mix_with_partners(run.mixed_images.data(), b->partner_images.data(), b->labels.data(),
                                               b->partner_labels.data(), b->size, cfg.channels, cfg.image_height,
                                               cfg.image_width, K, recipe.label_smoothing, mixed->draw);
            images = run.mixed_images.data();
        }
        const float* logits = run.model.forward(
            images, b->size, {.training = true, .dropout_seed = dropout_seed, .first_sample = b->first});
        Loss loss = mixed ? soft_cross_entropy(logits, mixed->targets.data(), b->size, K)
                          : cross_entropy(logits, b->labels.data(), b->size, K, recipe.label_smoothing);
        // Under mixing each image counts against the label that weighs more in its target:
        // its partner's when lam < 1/2.
        correct += count_correct(logits, mixed && mixed->draw.lam < 0.5 ? b->partner_labels : b->labels, K);
        const double share = static_cast<double>(b->size) / static_cast<double>(b->whole * recipe.accumulate);
        if (share != 1.0) {
            for (float& g : loss.dlogits) g *= static_cast<float>(share);
        }
        if (gradient_sum && micro == recipe.accumulate - 1) {
            run.model.backward(loss.dlogits.data(), [&](int64_t block) { gradient_sum->block_done(block); });
        } else {
            run.model.backward(loss.dlogits.data());
        }
        step_loss += loss.mean * share;
        state.epoch_seen += b->whole;
    }
    const auto t_sum = Clock::now();
    if (run.shard_optimizer) {
        run.ranks.sum_parts(run.model.grad_data(), run.param_parts);
    } else if (gradient_sum) {
        gradient_sum->finish();
    }
    double totals[3] = {step_loss, static_cast<double>(correct), stop_asked ? 1.0 : 0.0};
    run.ranks.sum(totals, 3);
    run.result.sum_seconds += seconds_since(t_sum);
    step_loss = totals[0];
    state.epoch_correct += static_cast<int64_t>(totals[1]);
    if (!std::isfinite(step_loss)) {
        fail("the loss is {} at step {} (epoch {}); training stopped. The last good checkpoint, if any, is "
             "'{}'. Try a lower learning rate or gradient clipping (clip_grad_norm)",
             step_loss, state.step + 1, state.epoch + 1, run.result.checkpoint);
    }
    run.optimizer.drop_frozen_gradients();
    if (recipe.clip_grad_norm > 0.0f && run.shard_optimizer) {
        clip_gradient_part(run.ranks, run.model, run.optimizer.owned(), recipe.clip_grad_norm);
    } else if (recipe.clip_grad_norm > 0.0f) {
        clip_grad_norm(run.model, recipe.clip_grad_norm);
    }
    run.optimizer.step(run.schedule.lr(state.step));
    if (run.shard_optimizer) {
        const auto t_share = Clock::now();
        share_parameters(run.ranks, run.model, run.param_parts);
        run.result.sum_seconds += seconds_since(t_share);
    }
    return {.loss = step_loss, .stop = totals[2] > 0.0};
}

// The rest of the current epoch; false when stopped (Ctrl-C or max_steps) after a checkpoint.
bool train_epoch(Run& run, const TrainOptions& options, const TrainCallbacks& cb, Clock::time_point t_epoch,
                 int64_t& images_this_run) {
    const Recipe& recipe = run.recipe;
    TrainState& state = run.state;
    if (run.frozen_in(state.epoch)) {
        run.optimizer.set_frozen(frozen_parameters(run.model, recipe.freeze_embeddings, recipe.freeze_blocks));
    } else {
        run.optimizer.set_frozen(std::vector<bool>(run.model.params().size(), false));
        if (run.freezing() && state.epoch == recipe.unfreeze_epoch && state.next_batch == 0) {
            cb.message(fmt::format("epoch {}: every parameter trains from now on", state.epoch + 1));
        }
    }
    const int64_t batches_used = run.steps_per_epoch * recipe.accumulate;
    run.loader.start_epoch(state.epoch, state.next_batch);
    while (state.next_batch < batches_used) {
        const float lr = run.schedule.lr(state.step);
        const StepOutcome outcome = train_step(run, options.stop != nullptr && options.stop->load());
        const double step_loss = outcome.loss;
        state.step++;
        state.epoch_loss_sum += step_loss;
        run.result.losses.push_back(step_loss);
        images_this_run += recipe.batch_size * recipe.accumulate;
        const int64_t steps_done = state.next_batch / recipe.accumulate;
        const double ips = static_cast<double>(images_this_run) / std::max(seconds_since(t_epoch), 1e-9);
        const double remaining_images =
            static_cast<double>((run.total_steps - state.step) * recipe.batch_size * recipe.accumulate);
        StepReport rep{.epoch = state.epoch + 1, .epochs = recipe.epochs, .batch = steps_done,
                       .batches = run.steps_per_epoch, .step = state.step, .total_steps = run.total_steps,
                       .loss = step_loss, .epoch_loss = state.epoch_loss_sum / static_cast<double>(steps_done),
                       .epoch_accuracy = static_cast<double>(state.epoch_correct) / static_cast<double>(state.epoch_seen),
                       .lr = lr, .images_per_s = ips, .eta_s = remaining_images / std::max(ips, 1e-9)};
        if (cb.on_step) cb.on_step(rep);
        if (run.writes() && state.step % recipe.log_every == 0) {
            run.metrics << json{{"event", "step"}, {"epoch", rep.epoch}, {"step", state.step}, {"loss", step_loss},
                                {"lr", lr}, {"images_per_s", ips}}.dump() << "\n" << std::flush;
        }
        const bool stop = outcome.stop ||
                          (options.max_steps > 0 && static_cast<int64_t>(run.result.losses.size()) >= options.max_steps);
        if (stop || (recipe.checkpoint_every > 0 && state.step % recipe.checkpoint_every == 0)) {
            run.save();
            cb.message(fmt::format("checkpoint at step {}: {}", state.step, run.result.checkpoint));
        }
        if (stop) {
            return false;
        }
    }
    return true;
}

// The epoch's report with its evaluation, written to the metrics; then the epoch-end checkpoint.
void finish_epoch(Run& run, const TrainCallbacks& cb, Clock::time_point t_epoch, int64_t images_this_run) {
    TrainState& state = run.state;
    EpochReport er{.epoch = state.epoch + 1, .epochs = run.recipe.epochs, .step = state.step,
                   .train_loss = state.epoch_loss_sum / static_cast<double>(run.steps_per_epoch),
                   .train_accuracy = static_cast<double>(state.epoch_correct) /
                                     static_cast<double>(std::max<int64_t>(1, state.epoch_seen)),
                   .seconds = seconds_since(t_epoch),
                   .images_per_s = static_cast<double>(images_this_run) / std::max(seconds_since(t_epoch), 1e-9),
                   .eval_split = run.data.eval_split, .eval = std::nullopt};
    json line{{"event", "epoch"}, {"epoch", er.epoch}, {"step", state.step}, {"train_loss", er.train_loss},
              {"train_accuracy", er.train_accuracy}, {"seconds", er.seconds}};
    if (run.data.eval) {
        er.eval = run.evaluate_on(run.data.eval);
        line["eval_split"] = run.data.eval_split;
        line["eval_loss"] = er.eval->loss;
        line["eval_top1"] = er.eval->top1;
        line["eval_top5"] = er.eval->top5;
        if (run.data.eval == run.data.test) run.result.test = er.eval;
    }
    if (run.writes()) run.metrics << line.dump() << "\n" << std::flush;
    if (cb.on_epoch) cb.on_epoch(er);
    state = TrainState{.epoch = state.epoch + 1, .step = state.step};
    run.save();
}

// The test evaluation, the weights, the plot.
void finish(Run& run) {
    TrainResult& result = run.result;
    if (run.data.test && run.data.test != run.data.eval) {
        result.test = run.evaluate_on(run.data.test);
    }
    if (!run.writes()) {
        return;
    }
    save_weights(run.model, result.weights, {},
                 {{"vit.class_names", json(run.data.train->class_names()).dump()},
                  {"vit.recipe", recipe_to_json(run.recipe)}});
    if (result.test) {
        std::ofstream(run.file("test_eval.json")) << eval_to_json(*result.test) << "\n";
    }
    run.metrics.close();
    std::string note;  // why the training loss sits above the evaluation's
    if (run.recipe.label_smoothing > 0.0f || run.recipe.mix.enabled()) {
        note = fmt::format("the training loss is against {}{}{} targets; the evaluation's against plain labels",
                           run.recipe.label_smoothing > 0.0f ? fmt::format("label-smoothed ({})", run.recipe.label_smoothing) : "",
                           run.recipe.label_smoothing > 0.0f && run.recipe.mix.enabled() ? ", " : "",
                           run.recipe.mix.enabled() ? "Mixup/CutMix" : "");
    }
    write_training_plot(result.metrics, result.plot, note);
}

}  // namespace

ResolvedRecipe resolve_recipe(const Recipe& recipe, bool resuming) {
    ResolvedRecipe r{recipe, std::nullopt};
    if (!recipe.init.empty() && !resuming) {
        r.init = open_weights(recipe.init);
        r.recipe.model = finetune_config(*r.init, recipe.model, recipe.init_heads);
    }
    return r;
}

TrainResult train(ResolvedRecipe resolved, const TrainOptions& options, const TrainCallbacks& callbacks) {
    const TrainCallbacks silent;
    const TrainCallbacks& cb = options.ranks.get().rank() == 0 ? callbacks : silent;  // rank 0 reports
    std::unique_ptr<Run> run = setup(std::move(resolved), options, cb);
    while (run->state.epoch < run->recipe.epochs) {
        const auto t_epoch = Clock::now();
        int64_t images_this_run = 0;
        if (!train_epoch(*run, options, cb, t_epoch, images_this_run)) {
            run->result.interrupted = true;
            break;
        }
        finish_epoch(*run, cb, t_epoch, images_this_run);
    }
    if (!run->result.interrupted) {
        finish(*run);
    }
    run->result.steps = run->state.step;
    run->result.gradient_values = run->model.param_buffer_size();
    run->result.seconds = seconds_since(run->start);
    return std::move(run->result);
}

TrainResult train(const Recipe& recipe, const TrainOptions& options, const TrainCallbacks& cb) {
    return train(resolve_recipe(recipe, !options.resume.empty()), options, cb);
}

}  // namespace vit
