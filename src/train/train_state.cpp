// Training checkpoints: weights + optimizer state + position, in one safetensors file.
#include "vit/train_state.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/json_input.h"
#include "vit/checkpoint.h"
#include "vit/error.h"

namespace vit {

using json = nlohmann::ordered_json;

// The order of tensors in the flat optimizer-state buffers (params.h): 2 puts the bf16 matrices
// last. Checkpoints of another layout cannot be resumed (their weights can still be fine-tuned).
constexpr int kParamLayout = 2;

void save_training_checkpoint(const std::string& path, const ViT& model, Optimizer& optimizer, const Recipe& recipe,
                              const TrainState& s, const std::vector<std::string>& class_names) {
    std::vector<TensorToWrite> extra;
    for (auto& [name, buffer] : optimizer.state()) {
        extra.push_back({std::string(kTrainingStatePrefix) + name, {buffer->size()}, buffer->data()});
    }
    json state{{"layout", kParamLayout}, {"epoch", s.epoch},         {"next_batch", s.next_batch},   {"step", s.step},
               {"optimizer_steps", optimizer.steps()}, {"param_steps", optimizer.param_steps()},
               {"optimizer", optimizer_name(optimizer.options().kind)},
               {"epoch_loss_sum", s.epoch_loss_sum}, {"epoch_correct", s.epoch_correct}, {"epoch_seen", s.epoch_seen}};
    save_weights(model, path, extra,
                 {{"vit.recipe", recipe_to_json(recipe)},
                  {"vit.train_state", state.dump()},
                  {"vit.class_names", json(class_names).dump()}});
}

namespace {

json train_state_json(const SafetensorsFile& f) {
    auto it = f.metadata().find("vit.train_state");
    if (it == f.metadata().end()) {
        fail("'{}' is not a training checkpoint (no vit.train_state metadata); to start from its weights, "
             "fine-tune from it instead of resuming", f.path());
    }
    json j = parse_json_input(it->second, fmt::format("'{}': metadata 'vit.train_state'", f.path()));
    for (const char* key : {"epoch", "next_batch", "step", "optimizer_steps", "epoch_correct", "epoch_seen"}) {
        if (j.is_discarded() || !j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() < 0) {
            fail("'{}': vit.train_state metadata lacks a non-negative integer '{}'", f.path(), key);
        }
    }
    if (!j.contains("layout") || j["layout"] != kParamLayout) {
        fail("'{}' was written by an older vit whose optimizer state is laid out differently; it cannot be "
             "resumed, but its weights can be fine-tuned (vit train --init)", f.path());
    }
    if (!j.contains("optimizer") || !j["optimizer"].is_string() || !j.contains("epoch_loss_sum") ||
        !j["epoch_loss_sum"].is_number()) {
        fail("'{}': vit.train_state metadata lacks 'optimizer' or 'epoch_loss_sum'", f.path());
    }
    return j;
}

}  // namespace

TrainState load_training_checkpoint(const std::string& path, ViT& model, Optimizer& optimizer) {
    SafetensorsFile f = SafetensorsFile::open(path);
    json j = train_state_json(f);
    const ViTConfig stored = config_from_safetensors(f);
    if (stored.to_json() != model.config().to_json()) {
        fail("'{}' holds a different model than the recipe's: {} vs {}", path, stored.to_json(), model.config().to_json());
    }
    const std::string kind = j["optimizer"].get<std::string>();
    if (kind != optimizer_name(optimizer.options().kind)) {
        fail("'{}' was trained with optimizer {}, the recipe asks for {}", path, kind, optimizer_name(optimizer.options().kind));
    }
    load_weights(model, f, {.strict = true});
    for (auto& [name, buffer] : optimizer.state()) {
        const std::string tensor = std::string(kTrainingStatePrefix) + name;
        const TensorEntry* t = f.find(tensor);
        if (t == nullptr || t->numel() != buffer->size()) {
            fail("'{}': optimizer state '{}' is missing or has {} elements, expected {}", path, tensor,
                 t == nullptr ? 0 : t->numel(), buffer->size());
        }
        f.read_f32_into(*t, buffer->data());
    }
    optimizer.set_steps(j["optimizer_steps"].get<int64_t>());
    if (j.contains("param_steps")) {  // per-parameter counts differ after frozen epochs
        const json& steps = j["param_steps"];
        if (!steps.is_array() || steps.size() != optimizer.param_steps().size() ||
            !std::all_of(steps.begin(), steps.end(), [](const json& v) { return v.is_number_integer() && v.get<int64_t>() >= 0; })) {
            fail("'{}': vit.train_state 'param_steps' must list {} non-negative integers", path,
                 optimizer.param_steps().size());
        }
        optimizer.set_param_steps(steps.get<std::vector<int64_t>>());
    }
    return TrainState{.epoch = j["epoch"].get<int64_t>(), .next_batch = j["next_batch"].get<int64_t>(),
                      .step = j["step"].get<int64_t>(), .epoch_loss_sum = j["epoch_loss_sum"].get<double>(),
                      .epoch_correct = j["epoch_correct"].get<int64_t>(), .epoch_seen = j["epoch_seen"].get<int64_t>()};
}

Recipe recipe_from_checkpoint(const std::string& path) {
    SafetensorsFile f = SafetensorsFile::open(path);
    train_state_json(f);
    auto it = f.metadata().find("vit.recipe");
    if (it == f.metadata().end()) {
        fail("'{}' has no vit.recipe metadata", path);
    }
    const Recipe defaults;
    return recipe_from_json(it->second, path + " (vit.recipe metadata)", defaults);
}

}  // namespace vit
