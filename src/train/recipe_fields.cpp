// The recipe's settings, declared once: JSON place, flag, type, range, and how to reach each in a
// Recipe. recipe.cpp reads and writes JSON and validates from this table; the CLI makes its
// flags from it.
#include <charconv>
#include <cmath>

#include "core/json_text.h"
#include "vit/error.h"
#include "vit/recipe.h"

namespace vit {

namespace {

using Type = RecipeField::Type;

std::string show(const RecipeValue& v) {
    return std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return fmt::format("\"{}\"", x);
            } else {
                return fmt::format("{}", x);
            }
        },
        v);
}

RecipeField base(std::string section, std::string key, std::string flag, std::string help, Type type,
                 double lo = 0.0, double hi = 0.0, bool lo_open = false, bool hi_open = false) {
    RecipeField f;
    f.section = std::move(section);
    f.key = std::move(key);
    f.flag = std::move(flag);
    f.help = std::move(help);
    f.type = type;
    f.lo = lo;
    f.hi = hi;
    f.lo_open = lo_open;
    f.hi_open = hi_open;
    return f;
}

// Builders: each takes the member's accessor; the stored type converts to and from RecipeValue.
template <typename T>
RecipeField integer(std::string section, std::string key, std::string flag, std::string help, double lo, double hi,
                    T& (*member)(Recipe&)) {
    RecipeField f = base(section, key, flag, help, Type::Integer, lo, hi);
    f.get = [member](const Recipe& r) { return RecipeValue{static_cast<int64_t>(member(const_cast<Recipe&>(r)))}; };
    f.set = [member](Recipe& r, const RecipeValue& v) { member(r) = static_cast<T>(std::get<int64_t>(v)); };
    return f;
}

template <typename T>
RecipeField number(std::string section, std::string key, std::string flag, std::string help, double lo, double hi,
                   T& (*member)(Recipe&), bool lo_open = false, bool hi_open = false) {
    RecipeField f = base(section, key, flag, help, Type::Number, lo, hi, lo_open, hi_open);
    f.get = [member](const Recipe& r) {
        const T x = member(const_cast<Recipe&>(r));
        if constexpr (std::is_same_v<T, float>) {
            return RecipeValue{as_written(x)};
        } else {
            return RecipeValue{static_cast<double>(x)};
        }
    };
    f.set = [member](Recipe& r, const RecipeValue& v) { member(r) = static_cast<T>(std::get<double>(v)); };
    return f;
}

RecipeField boolean(std::string section, std::string key, std::string flag, std::string help, bool& (*member)(Recipe&)) {
    RecipeField f = base(section, key, flag, help, Type::Boolean);
    f.get = [member](const Recipe& r) { return RecipeValue{member(const_cast<Recipe&>(r))}; };
    f.set = [member](Recipe& r, const RecipeValue& v) { member(r) = std::get<bool>(v); };
    return f;
}

RecipeField text(std::string section, std::string key, std::string flag, std::string help,
                 std::string& (*member)(Recipe&)) {
    RecipeField f = base(section, key, flag, help, Type::Text);
    f.get = [member](const Recipe& r) { return RecipeValue{member(const_cast<Recipe&>(r))}; };
    f.set = [member](Recipe& r, const RecipeValue& v) { member(r) = std::get<std::string>(v); };
    return f;
}

// A word from `choices`, held as an enum: name() gives an enum's word, parse() the enum of a word.
template <typename E>
RecipeField choice(std::string section, std::string key, std::string flag, std::string help,
                   std::vector<std::string> choices, E& (*member)(Recipe&), const char* (*name)(E),
                   E (*parse)(const std::string&)) {
    RecipeField f = base(section, key, flag, help, Type::Choice);
    f.choices = std::move(choices);
    f.get = [member, name](const Recipe& r) { return RecipeValue{std::string(name(member(const_cast<Recipe&>(r))))}; };
    f.set = [member, parse](Recipe& r, const RecipeValue& v) { member(r) = parse(std::get<std::string>(v)); };
    return f;
}

RecipeField for_evaluation(RecipeField f) {
    f.for_evaluation = true;
    return f;
}

constexpr double kBig = static_cast<double>(int64_t{1} << 40);

std::vector<RecipeField> make_fields() {
    std::vector<RecipeField> f;
    f.push_back(text("", "name", "", "the recipe's name", [](Recipe& r) -> std::string& { return r.name; }));
    // data
    {
        RecipeField kind = text("data", "kind", "--data-kind", "dataset kind",
                                [](Recipe& r) -> std::string& { return r.dataset.kind; });
        kind.type = Type::Choice;
        kind.choices = dataset_kinds();
        f.push_back(for_evaluation(kind));
    }
    f.push_back(for_evaluation(text("data", "path", "--data", "dataset folder",
                                    [](Recipe& r) -> std::string& { return r.dataset.path; })));
    f.push_back(number("data", "val_fraction", "--val-fraction", "hold out this fraction of the training set for validation",
                       0.0, 1.0, +[](Recipe& r) -> double& { return r.val_fraction; }, false, true));
    f.push_back(integer("data", "train_limit", "--train-limit", "train on a stratified subset of this many images (0: all)",
                        0, kBig, +[](Recipe& r) -> int64_t& { return r.train_limit; }));
    f.push_back(for_evaluation(integer("data", "test_limit", "--test-limit",
                                       "evaluate on a stratified subset of this many test images (0: all)", 0, kBig,
                                       +[](Recipe& r) -> int64_t& { return r.test_limit; })));
    f.push_back(integer("data", "max_image_pixels", "", "images larger than this are refused before decoding", 1, kBig,
                        +[](Recipe& r) -> int64_t& { return r.dataset.max_image_pixels; }));
    // optimizer
    f.push_back(choice("optimizer", "kind", "--optimizer", "optimizer", {"adamw", "adam", "sgd"},
                       +[](Recipe& r) -> OptimizerKind& { return r.optimizer.kind; }, optimizer_name, parse_optimizer));
    f.push_back(number("optimizer", "lr", "--lr", "peak learning rate", 0.0, 10.0,
                       +[](Recipe& r) -> float& { return r.optimizer.lr; }, true, true));
    f.push_back(number("optimizer", "weight_decay", "--weight-decay",
                       "weight decay (not on biases, norms, tokens, positions)", 0.0, 10.0,
                       +[](Recipe& r) -> float& { return r.optimizer.weight_decay; }, false, true));
    f.push_back(number("optimizer", "beta1", "", "Adam's first-moment decay", 0.0, 1.0,
                       +[](Recipe& r) -> float& { return r.optimizer.beta1; }, false, true));
    f.push_back(number("optimizer", "beta2", "", "Adam's second-moment decay", 0.0, 1.0,
                       +[](Recipe& r) -> float& { return r.optimizer.beta2; }, false, true));
    f.push_back(number("optimizer", "eps", "", "Adam's epsilon", 0.0, 1.0,
                       +[](Recipe& r) -> float& { return r.optimizer.eps; }, true));
    f.push_back(number("optimizer", "momentum", "", "SGD's momentum", 0.0, 1.0,
                       +[](Recipe& r) -> float& { return r.optimizer.momentum; }, false, true));
    f.push_back(boolean("optimizer", "nesterov", "", "SGD with Nesterov momentum",
                        [](Recipe& r) -> bool& { return r.optimizer.nesterov; }));
    // schedule
    f.push_back(choice("schedule", "kind", "--schedule", "learning-rate schedule", {"cosine", "step", "constant"},
                       +[](Recipe& r) -> ScheduleKind& { return r.schedule; }, schedule_name, parse_schedule));
    f.push_back(number("schedule", "warmup_epochs", "--warmup-epochs", "linear warmup length in epochs", 0.0, 100000.0,
                       +[](Recipe& r) -> double& { return r.warmup_epochs; }));
    f.push_back(number("schedule", "min_lr", "--min-lr", "final learning rate of the cosine schedule", 0.0, 10.0,
                       +[](Recipe& r) -> float& { return r.min_lr; }, false, true));
    f.push_back(number("schedule", "step_epochs", "", "step schedule: decay every this many epochs", 0.0, 100000.0,
                       +[](Recipe& r) -> double& { return r.step_epochs; }, true));
    f.push_back(number("schedule", "gamma", "", "step schedule: the factor of each decay", 0.0, 1.0,
                       +[](Recipe& r) -> float& { return r.gamma; }, true));
    // training
    f.push_back(integer("training", "epochs", "--epochs", "training epochs", 1, 100000,
                        +[](Recipe& r) -> int64_t& { return r.epochs; }));
    f.push_back(integer("training", "batch_size", "--batch", "images per batch", 1, 65536,
                        +[](Recipe& r) -> int64_t& { return r.batch_size; }));
    f.push_back(integer("training", "accumulate", "--accumulate", "batches per optimizer step (gradient accumulation)",
                        1, 4096, +[](Recipe& r) -> int64_t& { return r.accumulate; }));
    f.push_back(number("training", "label_smoothing", "--label-smoothing", "label smoothing", 0.0, 1.0,
                       +[](Recipe& r) -> float& { return r.label_smoothing; }, false, true));
    f.push_back(number("training", "mixup_alpha", "--mixup",
                       "Mixup with lambda ~ Beta(A, A) per batch (timm's mixup_alpha; 0: off)", 0.0, 100.0,
                       +[](Recipe& r) -> float& { return r.mix.mixup_alpha; }));
    f.push_back(number("training", "cutmix_alpha", "--cutmix",
                       "CutMix with lambda ~ Beta(A, A) per batch (0: off; with --mixup, half the mixed batches each)",
                       0.0, 100.0, +[](Recipe& r) -> float& { return r.mix.cutmix_alpha; }));
    f.push_back(number("training", "mix_prob", "", "probability that a batch is mixed", 0.0, 1.0,
                       +[](Recipe& r) -> float& { return r.mix.prob; }));
    f.push_back(number("training", "mix_switch_prob", "", "with Mixup and CutMix: probability of CutMix", 0.0, 1.0,
                       +[](Recipe& r) -> float& { return r.mix.switch_prob; }));
    f.push_back(number("training", "clip_grad_norm", "--clip-grad", "clip the global gradient norm to this (0: off)",
                       0.0, 1e9, +[](Recipe& r) -> float& { return r.clip_grad_norm; }));
    f.push_back(integer("training", "seed", "--seed", "seed for initialisation, shuffling, augmentation and dropout", 0,
                        9007199254740992.0, +[](Recipe& r) -> uint64_t& { return r.seed; }));
    f.push_back(for_evaluation(choice("training", "precision", "--precision",
                                      "fp32, or bf16 matrix products with fp32 accumulation and master weights",
                                      {"fp32", "bf16"}, +[](Recipe& r) -> Precision& { return r.precision; },
                                      precision_name, parse_precision)));
    f.push_back(for_evaluation(boolean("training", "eval_flip", "--eval-flip",
                                       "evaluate with each image's logits averaged with its mirror image's",
                                       [](Recipe& r) -> bool& { return r.eval_flip; })));
    // finetune
    f.push_back(text("finetune", "init", "--init",
                     "fine-tune from these weights (any format vit reads): their architecture, the recipe's image size, "
                     "channels and classes; new head, resampled position table",
                     [](Recipe& r) -> std::string& { return r.init; }));
    f.push_back(integer("finetune", "num_heads", "--heads",
                        "fine-tuning: the attention heads of init weights that do not record them (0: from the "
                        "weights, timm's count for a standard width, else embed_dim / 64 with a warning)",
                        0, 4096, +[](Recipe& r) -> int64_t& { return r.init_heads; }));
    f.push_back(boolean("finetune", "freeze_embeddings", "--freeze-embeddings",
                        "fine-tuning: keep the patch embedding, class token and position table fixed",
                        [](Recipe& r) -> bool& { return r.freeze_embeddings; }));
    f.push_back(integer("finetune", "freeze_blocks", "--freeze-blocks", "fine-tuning: keep the first k encoder blocks fixed",
                        0, 100000, +[](Recipe& r) -> int64_t& { return r.freeze_blocks; }));
    f.push_back(integer("finetune", "unfreeze_epoch", "--unfreeze-epoch",
                        "fine-tuning: train every parameter after this many epochs (0: stay frozen)", 0, 100000,
                        +[](Recipe& r) -> int64_t& { return r.unfreeze_epoch; }));
    // run
    f.push_back(for_evaluation(integer("run", "threads", "--threads", "compute threads (0: every core)", 0, 1024,
                                       +[](Recipe& r) -> int& { return r.threads; })));
    f.push_back(for_evaluation(integer("run", "workers", "--workers", "data-loading threads", 0, 64,
                                       +[](Recipe& r) -> int& { return r.workers; })));
    f.push_back(integer("run", "checkpoint_every", "--checkpoint-every", "steps between checkpoints (0: at epoch ends only)",
                        0, kBig, +[](Recipe& r) -> int64_t& { return r.checkpoint_every; }));
    f.push_back(integer("run", "log_every", "--log-every", "steps between progress lines when not on a terminal", 1, kBig,
                        +[](Recipe& r) -> int64_t& { return r.log_every; }));
    f.push_back(text("run", "out_dir", "--out", "output folder for checkpoints, metrics and the plot",
                     [](Recipe& r) -> std::string& { return r.out_dir; }));
    return f;
}

}  // namespace

const std::vector<RecipeField>& recipe_fields() {
    static const std::vector<RecipeField> fields = make_fields();
    return fields;
}

std::string RecipeField::expectation() const {
    auto range = [&] {
        return fmt::format("{}{}, {}{}", lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]");
    };
    switch (type) {
        case Type::Integer: return "an integer in " + range();
        case Type::Number: return "a number in " + range();
        case Type::Boolean: return "true or false";
        case Type::Text: return "a string";
        case Type::Choice: {
            std::vector<std::string> quoted;
            for (const std::string& c : choices) quoted.push_back(fmt::format("\"{}\"", c));
            return fmt::format("one of {}", fmt::join(quoted, ", "));
        }
    }
    return "";
}

std::string RecipeField::check(const RecipeValue& v) const {
    bool ok = false;
    switch (type) {
        case Type::Integer:
            if (const int64_t* x = std::get_if<int64_t>(&v)) {  // bounds are integers below 2^53, exact as doubles
                ok = *x >= static_cast<int64_t>(lo) && *x <= static_cast<int64_t>(hi);
            }
            break;
        case Type::Number:
            if (const double* x = std::get_if<double>(&v)) {
                ok = (lo_open ? *x > lo : *x >= lo) && (hi_open ? *x < hi : *x <= hi);  // false for NaN
            }
            break;
        case Type::Boolean: ok = std::holds_alternative<bool>(v); break;
        case Type::Text: ok = std::holds_alternative<std::string>(v); break;
        case Type::Choice:
            if (const std::string* x = std::get_if<std::string>(&v)) {
                ok = std::find(choices.begin(), choices.end(), *x) != choices.end();
            }
            break;
    }
    return ok ? "" : fmt::format("must be {}, got {}", expectation(), show(v));
}

std::optional<RecipeValue> RecipeField::parse(const std::string& text) const {
    switch (type) {
        case Type::Integer: {
            int64_t x = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
            if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
            return RecipeValue{x};
        }
        case Type::Number: {
            double x = 0.0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
            if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
            return RecipeValue{x};
        }
        case Type::Boolean:
            if (text == "true") return RecipeValue{true};
            if (text == "false") return RecipeValue{false};
            return std::nullopt;
        case Type::Text:
        case Type::Choice: return RecipeValue{text};
    }
    return std::nullopt;
}

void set_recipe_field(Recipe& recipe, const RecipeField& field, const std::string& text) {
    const std::optional<RecipeValue> v = field.parse(text);
    if (!v) {
        fail("{}: must be {}, got '{}'", field.flag, field.expectation(), text);
    }
    if (const std::string problem = field.check(*v); !problem.empty()) {
        fail("{}: {}", field.flag, problem);
    }
    field.set(recipe, *v);
}

}  // namespace vit
