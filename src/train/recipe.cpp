// Recipes as JSON, the built-in recipes, and their validation.
#include "vit/recipe.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/json_input.h"
#include "core/json_text.h"
#include "vit/error.h"

namespace vit {

namespace {
constexpr int64_t kMaxRecipeBytes = int64_t{16} << 20;
}  // namespace

using json = nlohmann::ordered_json;

namespace {

// Reads the fields of one transform's JSON object, each at most once, with type checks; unknown
// keys are errors that list the valid ones. (The recipe's other settings are in recipe_fields().)
class Fields {
  public:
    Fields(const json& j, std::string where, std::string source)
        : j_(j), where_(std::move(where)), source_(std::move(source)) {
        if (!j.is_object()) fail("recipe {}: '{}' must be an object, got {}", source_, where_, shown(j));
    }
    // Call after reading every field: unknown keys are errors.
    void done() const {
        for (auto& [key, _] : j_.items()) {
            if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
                fail("recipe {}: unknown key '{}{}' (valid keys: {})", source_, prefix(), key, fmt::join(known_, ", "));
            }
        }
    }
    template <typename T>
    void integer(const char* key, T& field, int64_t lo, int64_t hi) {
        if (const json* v = get(key)) {
            if (!v->is_number_integer() || v->get<int64_t>() < lo || v->get<int64_t>() > hi) {
                fail("recipe {}: '{}{}' must be an integer in [{}, {}], got {}", source_, prefix(), key, lo, hi, shown(*v));
            }
            field = static_cast<T>(v->get<int64_t>());
        }
    }
    template <typename T>
    void number(const char* key, T& field) {
        if (const json* v = get(key)) {
            if (!v->is_number()) fail("recipe {}: '{}{}' must be a number, got {}", source_, prefix(), key, shown(*v));
            field = v->get<T>();
        }
    }
    void string(const char* key, std::string& field) {
        if (const json* v = get(key)) {
            if (!v->is_string()) fail("recipe {}: '{}{}' must be a string, got {}", source_, prefix(), key, shown(*v));
            field = v->get<std::string>();
        }
    }
    void numbers(const char* key, std::vector<float>& field) {
        if (const json* v = get(key)) {
            if (!v->is_array() || !std::all_of(v->begin(), v->end(), [](const json& x) { return x.is_number(); })) {
                fail("recipe {}: '{}{}' must be a list of numbers, got {}", source_, prefix(), key, shown(*v));
            }
            field = v->get<std::vector<float>>();
        }
    }
    // A size: one integer (square; for resize, the shorter side) or [height, width].
    void size(const char* key, int64_t& h, int64_t& w, bool allow_single_side) {
        if (const json* v = get(key)) {
            if (v->is_number_integer()) {
                h = v->get<int64_t>();
                w = allow_single_side ? 0 : h;
            } else if (v->is_array() && v->size() == 2 && (*v)[0].is_number_integer() && (*v)[1].is_number_integer()) {
                h = (*v)[0].get<int64_t>();
                w = (*v)[1].get<int64_t>();
            } else {
                fail("recipe {}: '{}{}' must be an integer or [height, width], got {}", source_, prefix(), key, shown(*v));
            }
        }
    }
    const json* get(const char* key) {
        known_.push_back(key);
        auto it = j_.find(key);
        return it == j_.end() ? nullptr : &*it;
    }
    const std::string& source() const { return source_; }
    std::string prefix() const { return where_.empty() ? "" : where_ + "."; }

  private:
    const json& j_;
    std::string where_, source_;
    std::vector<std::string> known_;
};

const char* interpolation_name(Interpolation i) { return i == Interpolation::Bicubic ? "bicubic" : "bilinear"; }

json written(const std::vector<float>& values) {
    json j = json::array();
    for (float v : values) j.push_back(as_written(v));
    return j;
}

json transform_to_json(const Transform& t) {
    json j;
    j["op"] = transform_name(t.op);
    switch (t.op) {
        case TransformOp::Resize:
            j["size"] = t.width == 0 ? json(t.height) : json::array({t.height, t.width});
            j["interpolation"] = interpolation_name(t.interpolation);
            break;
        case TransformOp::CenterCrop: j["size"] = json::array({t.height, t.width}); break;
        case TransformOp::RandomResizedCrop:
            j["size"] = json::array({t.height, t.width});
            j["scale"] = json::array({as_written(t.scale[0]), as_written(t.scale[1])});
            j["ratio"] = json::array({as_written(t.ratio[0]), as_written(t.ratio[1])});
            j["interpolation"] = interpolation_name(t.interpolation);
            break;
        case TransformOp::RandomCrop:
            j["size"] = json::array({t.height, t.width});
            j["padding"] = t.padding;
            break;
        case TransformOp::HorizontalFlip: j["p"] = t.p; break;
        case TransformOp::Normalize:
            j["mean"] = written(t.mean);
            j["std"] = written(t.std);
            break;
        case TransformOp::RandomErasing:
            j["p"] = t.p;
            j["scale"] = json::array({as_written(t.scale[0]), as_written(t.scale[1])});
            j["ratio"] = json::array({as_written(t.ratio[0]), as_written(t.ratio[1])});
            j["value"] = t.erase_random ? json("random") : json(as_written(t.erase_value));
            break;
        case TransformOp::RandAugment:
            j["num_ops"] = t.num_ops;
            j["magnitude"] = t.magnitude;
            j["num_magnitude_bins"] = t.magnitude_bins;
            break;
    }
    return j;
}

Transform transform_from_json(const json& j, const std::string& where, const std::string& source) {
    Fields f(j, where, source);
    std::string op;
    f.string("op", op);
    Transform t;
    const std::vector<TransformOp> ops = {TransformOp::Resize,         TransformOp::CenterCrop,
                                          TransformOp::RandomResizedCrop, TransformOp::RandomCrop,
                                          TransformOp::HorizontalFlip,   TransformOp::Normalize,
                                          TransformOp::RandomErasing,    TransformOp::RandAugment};
    auto it = std::find_if(ops.begin(), ops.end(), [&](TransformOp o) { return op == transform_name(o); });
    if (it == ops.end()) {
        fail("recipe {}: '{}.op' is '{}'; expected one of: resize, center_crop, random_resized_crop, random_crop, "
             "horizontal_flip, rand_augment, normalize, random_erasing", source, where, op);
    }
    if (*it == TransformOp::RandomErasing) {
        t = make_random_erasing(0.5);
    }
    t.op = *it;
    auto interpolation = [&] {
        std::string name = interpolation_name(t.interpolation);
        f.string("interpolation", name);
        if (name != "bilinear" && name != "bicubic") {
            fail("recipe {}: '{}.interpolation' is '{}'; expected bilinear or bicubic", source, where, name);
        }
        t.interpolation = name == "bicubic" ? Interpolation::Bicubic : Interpolation::Bilinear;
    };
    // "value": a number, or "random" for standard normal noise
    auto erase_value = [&] {
        const json* v = f.get("value");
        if (v == nullptr) return;
        if (v->is_string() && v->get<std::string>() == "random") {
            t.erase_random = true;
        } else if (v->is_number()) {
            t.erase_value = v->get<float>();
        } else {
            fail("recipe {}: '{}.value' must be a number or \"random\", got {}", source, where, shown(*v));
        }
    };
    auto pair = [&](const char* key, float (&field)[2]) {
        std::vector<float> v(field, field + 2);
        f.numbers(key, v);
        if (v.size() != 2) fail("recipe {}: '{}.{}' must be two numbers, got {}", source, where, key, v.size());
        field[0] = v[0];
        field[1] = v[1];
    };
    switch (t.op) {
        case TransformOp::Resize: f.size("size", t.height, t.width, true); interpolation(); break;
        case TransformOp::CenterCrop: f.size("size", t.height, t.width, false); break;
        case TransformOp::RandomResizedCrop:
            f.size("size", t.height, t.width, false);
            pair("scale", t.scale);
            pair("ratio", t.ratio);
            interpolation();
            break;
        case TransformOp::RandomCrop:
            f.size("size", t.height, t.width, false);
            f.integer("padding", t.padding, 0, 4096);
            break;
        case TransformOp::HorizontalFlip: f.number("p", t.p); break;
        case TransformOp::Normalize:
            f.numbers("mean", t.mean);
            f.numbers("std", t.std);
            break;
        case TransformOp::RandomErasing:
            f.number("p", t.p);
            pair("scale", t.scale);
            pair("ratio", t.ratio);
            erase_value();
            break;
        case TransformOp::RandAugment:
            f.integer("num_ops", t.num_ops, 0, 16);
            f.integer("num_magnitude_bins", t.magnitude_bins, 2, 1000);
            f.integer("magnitude", t.magnitude, 0, t.magnitude_bins - 1);
            break;
    }
    f.done();
    return t;
}

std::vector<Transform> transforms_from_json(const json& j, const std::string& where, const std::string& source) {
    if (!j.is_array()) fail("recipe {}: '{}' must be a list of transforms, got {}", source, where, shown(j));
    std::vector<Transform> out;
    for (size_t i = 0; i < j.size(); i++) {
        out.push_back(transform_from_json(j[i], fmt::format("{}[{}]", where, i), source));
    }
    return out;
}

// RandomCrop(size, padding) then RandomHorizontalFlip(0.5): the built-in recipes' augmentation.
std::vector<Transform> crop_and_flip(int64_t size, int64_t padding) {
    Transform crop, flip;
    crop.op = TransformOp::RandomCrop;
    crop.height = crop.width = size;
    crop.padding = padding;
    flip.op = TransformOp::HorizontalFlip;
    flip.p = 0.5;
    return {crop, flip};
}

}  // namespace

void Recipe::validate() const {
    for (const RecipeField& f : recipe_fields()) {
        if (const std::string problem = f.check(f.get(*this)); !problem.empty()) {
            fail("{} {}", f.key, problem);
        }
    }
    model.validate();
    // Settings bounded by others
    if (warmup_epochs > static_cast<double>(epochs)) {
        fail("warmup_epochs must be at most epochs = {}, got {}", epochs, warmup_epochs);
    }
    if (min_lr > optimizer.lr) fail("min_lr must be at most lr = {}, got {}", optimizer.lr, min_lr);
    if (out_dir.empty()) fail("out_dir must not be empty");
    if (model.num_classes < 1) fail("a model to train needs num_classes >= 1, got {}", model.num_classes);
    if (freeze_blocks > model.depth) fail("freeze_blocks must be in [0, depth = {}], got {}", model.depth, freeze_blocks);
    if (unfreeze_epoch > epochs) fail("unfreeze_epoch must be in [0, epochs = {}], got {}", epochs, unfreeze_epoch);
    if (init.empty() && init_heads > 0) {
        fail("finetune.num_heads (--heads) = {} is the head count of pretrained weights, but there are none "
             "(finetune.init); a new model's heads are model.num_heads", init_heads);
    }
    if (init.empty() && (freeze_embeddings || freeze_blocks > 0)) {
        fail("freezing (freeze_embeddings, freeze_blocks) needs pretrained weights to start from (finetune.init)");
    }
    Pipeline(train_transforms, model.channels, model.image_height, model.image_width);
    Pipeline(eval_transforms, model.channels, model.image_height, model.image_width);
}

const std::vector<std::string>& builtin_recipe_names() {
    static const std::vector<std::string> names = {"fashion-mnist", "cifar10"};
    return names;
}

Recipe builtin_recipe(const std::string& name) {
    Recipe r;
    r.name = name;
    if (name == "fashion-mnist") {
        r.dataset = {.kind = "fashion-mnist", .path = "/usr/share/datasets/fashion-mnist"};
        // Patch 7 (16 tokens), dim 96 and depth 3: a small model that sees many epochs in a few
        // minutes. Over that many epochs it overfits without augmentation, so the training images
        // are shifted by up to one pixel and mirrored.
        r.model = ViTConfig{.image_height = 28, .image_width = 28, .patch_size = 7, .channels = 1, .embed_dim = 96,
                            .depth = 3, .num_heads = 4, .mlp_dim = 192, .num_classes = 10};
        const Transform norm = make_normalize({0.2860f}, {0.3530f});
        r.train_transforms = crop_and_flip(28, 1);
        r.train_transforms.push_back(norm);
        r.eval_transforms = {norm};
        r.optimizer = {.kind = OptimizerKind::AdamW, .lr = 2e-3f, .weight_decay = 0.05f};
        r.warmup_epochs = 0.5;
        r.label_smoothing = 0.1f;
        // Mixed precision where the CPU has bf16 products (faster steps, the same accuracy); fp32
        // elsewhere.
        r.precision = bf16_supported() ? Precision::BF16 : Precision::F32;
        // 30 epochs evaluated with the mirror images (eval_flip): above 90% for each seed measured,
        // in under 3 minutes on 2 cores (docs/benchmarks.md: the accuracies and times per seed).
        r.epochs = 30;
        r.eval_flip = true;
        r.batch_size = 128;
        r.out_dir = "runs/fashion-mnist";
        return r;
    }
    if (name == "cifar10") {
        r.dataset = {.kind = "cifar10", .path = "data/cifar-10-batches-bin"};
        r.model = ViTConfig{.image_height = 32, .image_width = 32, .patch_size = 4, .channels = 3, .embed_dim = 192,
                            .depth = 6, .num_heads = 3, .mlp_dim = 384, .num_classes = 10, .drop_path_rate = 0.1f};
        const Transform norm = make_normalize({0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f});
        r.train_transforms = crop_and_flip(32, 4);
        r.train_transforms.push_back(norm);
        r.eval_transforms = {norm};
        r.optimizer = {.kind = OptimizerKind::AdamW, .lr = 1e-3f, .weight_decay = 0.05f};
        r.warmup_epochs = 5;
        r.epochs = 100;
        r.batch_size = 128;
        r.label_smoothing = 0.1f;
        r.out_dir = "runs/cifar10";
        return r;
    }
    fail("unknown recipe '{}' (built-in recipes: {}; or give a .json file)", name, fmt::join(builtin_recipe_names(), ", "));
}

namespace {

json to_json(const RecipeValue& v) {
    return std::visit([](const auto& x) { return json(x); }, v);
}

// A JSON value as a field's value, or nullopt when its JSON type is not the field's.
std::optional<RecipeValue> from_json(const json& v, RecipeField::Type type) {
    using Type = RecipeField::Type;
    switch (type) {
        case Type::Integer:
            if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
            if (v.is_number_integer()) return RecipeValue{v.get<int64_t>()};
            return std::nullopt;
        case Type::Number:
            if (v.is_number()) return RecipeValue{v.get<double>()};
            return std::nullopt;
        case Type::Boolean:
            if (v.is_boolean()) return RecipeValue{v.get<bool>()};
            return std::nullopt;
        case Type::Text:
        case Type::Choice:
            if (v.is_string()) return RecipeValue{v.get<std::string>()};
            return std::nullopt;
    }
    return std::nullopt;
}

// The fields of one section, read from j (an object) into r; unknown keys list the valid ones.
void read_section(const json& j, const std::string& section, const std::string& source, Recipe& r) {
    if (!j.is_object()) fail("recipe {}: '{}' must be an object, got {}", source, section, shown(j));
    std::vector<std::string> keys;
    for (const RecipeField& f : recipe_fields()) {
        if (f.section != section) continue;
        keys.push_back(f.key);
        auto it = j.find(f.key);
        if (it == j.end()) continue;
        const std::optional<RecipeValue> v = from_json(*it, f.type);
        if (!v) fail("recipe {}: '{}' must be {}, got {}", source, f.path(), f.expectation(), shown(*it));
        if (const std::string problem = f.check(*v); !problem.empty()) {
            fail("recipe {}: '{}' {}", source, f.path(), problem);
        }
        f.set(r, *v);
    }
    for (auto& [key, _] : j.items()) {
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
            fail("recipe {}: unknown key '{}.{}' (valid keys: {})", source, section, key, fmt::join(keys, ", "));
        }
    }
}

const std::vector<std::string> kSections = {"data", "optimizer", "schedule", "training", "finetune", "run"};

}  // namespace

std::string recipe_to_json(const Recipe& r) {
    json j;
    j["name"] = r.name;
    auto section = [&](const std::string& name) {
        json s = json::object();
        for (const RecipeField& f : recipe_fields()) {
            if (f.section == name) s[f.key] = to_json(f.get(r));
        }
        return s;
    };
    j["data"] = section("data");
    j["model"] = json::parse(r.model.to_json());
    j["train_transforms"] = json::array();
    for (const Transform& t : r.train_transforms) j["train_transforms"].push_back(transform_to_json(t));
    j["eval_transforms"] = json::array();
    for (const Transform& t : r.eval_transforms) j["eval_transforms"].push_back(transform_to_json(t));
    for (const char* name : {"optimizer", "schedule", "training", "finetune", "run"}) {
        j[name] = section(name);
    }
    return j.dump(2);
}

Recipe recipe_from_json(const std::string& text, const std::string& source, const Recipe& base) {
    json j = parse_json_input(text, "recipe " + source);
    if (j.is_discarded()) fail("recipe {}: not valid JSON", source);
    if (!j.is_object()) fail("recipe {}: must be a JSON object, got {}", source, shown(j));
    Recipe r = base;
    std::vector<std::string> top = {"name", "model", "train_transforms", "eval_transforms"};
    top.insert(top.end(), kSections.begin(), kSections.end());
    for (auto& [key, value] : j.items()) {
        if (std::find(top.begin(), top.end(), key) == top.end()) {
            fail("recipe {}: unknown key '{}' (valid keys: {})", source, key, fmt::join(top, ", "));
        }
    }
    if (j.contains("name")) {
        if (!j["name"].is_string()) fail("recipe {}: 'name' must be a string, got {}", source, shown(j["name"]));
        r.name = j["name"].get<std::string>();
    }
    for (const std::string& section : kSections) {
        if (j.contains(section)) read_section(j[section], section, source, r);
    }
    if (j.contains("model")) {
        const json& m = j["model"];
        if (!m.is_object()) fail("recipe {}: 'model' must be an object, got {}", source, shown(m));
        // "preset" picks the starting point; the other keys are ViTConfig fields.
        json merged = json::parse(r.model.to_json());
        if (m.contains("preset")) {
            if (!m["preset"].is_string()) fail("recipe {}: 'model.preset' must be a string", source);
            merged = json::parse(preset(m["preset"].get<std::string>()).to_json());
        }
        for (auto& [key, value] : m.items()) {
            if (key != "preset") merged[key] = value;
        }
        try {
            r.model = ViTConfig::from_json(merged.dump());
        } catch (const Error& e) {
            fail("recipe {}: {}", source, e.what());
        }
    }
    if (j.contains("train_transforms")) r.train_transforms = transforms_from_json(j["train_transforms"], "train_transforms", source);
    if (j.contains("eval_transforms")) r.eval_transforms = transforms_from_json(j["eval_transforms"], "eval_transforms", source);
    return r;
}

Recipe load_recipe(const std::string& name_or_path) {
    if (std::find(builtin_recipe_names().begin(), builtin_recipe_names().end(), name_or_path) !=
        builtin_recipe_names().end()) {
        return builtin_recipe(name_or_path);
    }
    if (!std::filesystem::exists(name_or_path)) {
        fail("recipe '{}' is neither a built-in recipe ({}) nor an existing file", name_or_path,
             fmt::join(builtin_recipe_names(), ", "));
    }
    const std::vector<uint8_t> text = read_file(name_or_path, kMaxRecipeBytes);
    const Recipe defaults;
    return recipe_from_json(std::string(text.begin(), text.end()), name_or_path, defaults);
}

}  // namespace vit
