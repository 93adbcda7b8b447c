// Recipe: everything a training run needs (data, model, augmentation, optimisation, output), as
// one JSON document. Built-in recipes exist for Fashion-MNIST and CIFAR-10; a file or flags
// change any field.
//
// Example:
//   vit::Recipe r = vit::builtin_recipe("fashion-mnist");
//   r.epochs = 3;
//   std::string text = vit::recipe_to_json(r);           // what `vit train --print-recipe` shows
//   vit::Recipe again = vit::recipe_from_json(text, "my.json");
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "vit/config.h"
#include "vit/data.h"
#include "vit/mix.h"
#include "vit/model.h"
#include "vit/optimizer.h"
#include "vit/schedule.h"
#include "vit/transforms.h"

namespace vit {

struct Recipe {
    std::string name = "custom";
    // data (Debian's dataset-fashion-mnist unless given)
    DatasetSpec dataset{.kind = "fashion-mnist", .path = "/usr/share/datasets/fashion-mnist"};
    double val_fraction = 0.0;      // held out of the training split (stratified, seeded)
    int64_t train_limit = 0;        // use a stratified subset of this many training samples (0: all)
    int64_t test_limit = 0;         // likewise for the test split
    std::vector<Transform> train_transforms, eval_transforms;
    // model
    ViTConfig model;
    // fine-tuning: start from pretrained weights (any format of weights.h); the architecture
    // comes from them, image size, channels, class count and dropout rates from `model`
    std::string init;
    int64_t init_heads = 0;          // the head count of init weights that do not record it (0: inferred)
    bool freeze_embeddings = false;  // class token, position table, patch embedding
    int64_t freeze_blocks = 0;       // the first k encoder blocks
    int64_t unfreeze_epoch = 0;      // train everything after this many epochs (0: stay frozen)
    // optimisation
    OptimizerOptions optimizer;
    ScheduleKind schedule = ScheduleKind::Cosine;
    double warmup_epochs = 0.0;
    float min_lr = 0.0f;
    double step_epochs = 1.0;       // step schedule: decay every this many epochs
    float gamma = 0.1f;             // step schedule factor
    int64_t epochs = 10;
    int64_t batch_size = 128;
    int64_t accumulate = 1;         // micro-batches per optimizer step
    float label_smoothing = 0.0f;
    MixOptions mix;                 // Mixup / CutMix (off by default); train accuracy counts each image's dominant label
    float clip_grad_norm = 0.0f;    // 0: no clipping
    Precision precision = Precision::F32;  // bf16: mixed precision (bf16 products, fp32 master weights)
    bool eval_flip = false;         // evaluations average each image's logits with its mirror image's
    uint64_t seed = 0;
    // run
    int threads = 0;                // 0: every core
    int workers = 1;                // data-loading threads
    int64_t checkpoint_every = 0;   // steps between checkpoints (0: only at epoch ends)
    int64_t log_every = 50;         // steps between plain progress lines (non-terminal output)
    std::string out_dir = "runs/default";

    // Throws vit::Error naming the first field out of range.
    void validate() const;
};

// One setting of a recipe, declared once in recipe_fields(): its place in the JSON (section.key),
// its command-line flag, what it holds and its range. Reading and writing JSON, validation, the
// command-line flags and --print-recipe all come from that table.
using RecipeValue = std::variant<int64_t, double, bool, std::string>;

struct RecipeField {
    enum class Type { Integer, Number, Boolean, Text, Choice };
    std::string section;   // "data", "optimizer", "schedule", "training", "finetune", "run", or "" (top level)
    std::string key;
    std::string flag;      // e.g. "--lr" (a Boolean's flag sets it true); empty: JSON only
    std::string help;
    Type type = Type::Number;
    double lo = 0.0, hi = 0.0;                 // Integer and Number: the range, ends closed ...
    bool lo_open = false, hi_open = false;     // ... unless open
    std::vector<std::string> choices;          // Choice: the accepted words
    bool for_evaluation = false;               // the flag is also vit eval's
    std::function<RecipeValue(const Recipe&)> get;
    std::function<void(Recipe&, const RecipeValue&)> set;

    std::string path() const { return section.empty() ? key : section + "." + key; }
    // "an integer in [1, 100000]", "a number in (0, 10]", "true or false", "a string",
    // "one of \"fp32\", \"bf16\"".
    std::string expectation() const;
    // Empty when v is of the field's type and in its range, else "must be <expectation>, got <v>".
    std::string check(const RecipeValue& v) const;
    // A command-line word as this field's value; nullopt when it is not of the field's type.
    std::optional<RecipeValue> parse(const std::string& text) const;
};

const std::vector<RecipeField>& recipe_fields();
// Sets a field from a command-line word: vit::Error "--lr: must be a number in (0, 10), got -1".
void set_recipe_field(Recipe& recipe, const RecipeField& field, const std::string& text);

// Built-in recipes: "fashion-mnist", "cifar10".
const std::vector<std::string>& builtin_recipe_names();
Recipe builtin_recipe(const std::string& name);

std::string recipe_to_json(const Recipe& recipe);
// Parses a recipe; fields that are absent keep the values of `base`. Unknown keys and wrong
// types are errors naming the key (with `source`, a file name, in the message).
Recipe recipe_from_json(const std::string& text, const std::string& source, const Recipe& base);
// Reads a built-in recipe name or a JSON file.
Recipe load_recipe(const std::string& name_or_path);

}  // namespace vit
