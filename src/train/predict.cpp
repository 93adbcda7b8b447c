// vit predict's engine: image collection, the evaluation pipeline of weights, batched top-k.
#include "vit/predict.h"

#include <nlohmann/json.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "vit/error.h"
#include "vit/image_io.h"
#include "vit/preprocess.h"
#include "vit/recipe.h"

namespace vit {

namespace {

bool is_image_name(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<std::string> collect_images(const std::vector<std::string>& inputs) {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    for (const std::string& in : inputs) {
        std::error_code ec;
        if (fs::is_directory(in, ec)) {
            std::vector<std::string> found;
            for (auto it = fs::recursive_directory_iterator(in, ec); !ec && it != fs::recursive_directory_iterator();
                 it.increment(ec)) {
                if (it->is_regular_file(ec) && is_image_name(it->path())) found.push_back(it->path().string());
            }
            if (ec) fail("cannot list folder '{}': {}", in, ec.message());
            if (found.empty()) fail("folder '{}' holds no .jpg, .jpeg or .png files", in);
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
        } else if (fs::exists(in, ec)) {
            files.push_back(in);
        } else {
            fail("image '{}' does not exist", in);
        }
    }
    if (files.empty()) fail("no images given");
    return files;
}

// The preset matching where weights come from: torchvision's for torchvision names, hf for
// Hugging Face names, timm's otherwise (timm and the JAX release share it).
std::string default_preprocess(NameScheme scheme) {
    switch (scheme) {
        case NameScheme::Torchvision: return "torchvision";
        case NameScheme::HuggingFace: return "hf";
        case NameScheme::Timm:
        case NameScheme::Jax: return "timm";
    }
    return "timm";
}

Pipeline eval_pipeline_for(const WeightSource& w, const ViTConfig& c, const std::string& preset) {
    if (!preset.empty()) {
        return preprocess_pipeline(preset, c.image_height, c.image_width, c.channels);
    }
    if (auto it = w.metadata.find("vit.recipe"); it != w.metadata.end()) {
        const Recipe recipe = recipe_from_json(it->second, w.path + " (vit.recipe metadata)", Recipe{});
        // A recipe whose images all had the model's size (Fashion-MNIST's 28x28) evaluates without
        // a resize; the images a user brings get one to the model's size first.
        std::vector<Transform> steps = recipe.eval_transforms;
        const bool sized = std::any_of(steps.begin(), steps.end(), [](const Transform& t) {
            return t.op == TransformOp::Resize || t.op == TransformOp::CenterCrop ||
                   t.op == TransformOp::RandomResizedCrop || t.op == TransformOp::RandomCrop;
        });
        if (!sized) steps.insert(steps.begin(), make_resize(c.image_height, c.image_width, Interpolation::Bilinear));
        return Pipeline(steps, c.channels, c.image_height, c.image_width);
    }
    return preprocess_pipeline(default_preprocess(w.scheme), c.image_height, c.image_width, c.channels);
}

Prediction top_classes(const float* z, int64_t K, int64_t k) {
    const float zmax = *std::max_element(z, z + K);
    double sum = 0.0;
    for (int64_t j = 0; j < K; j++) sum += std::exp(static_cast<double>(z[j] - zmax));
    std::vector<int64_t> order(static_cast<size_t>(K));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [z](int64_t a, int64_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
    Prediction p;
    for (int64_t j = 0; j < k; j++) {
        const int64_t cls = order[static_cast<size_t>(j)];
        p.classes.push_back(cls);
        p.probabilities.push_back(static_cast<float>(std::exp(static_cast<double>(z[cls] - zmax)) / sum));
    }
    return p;
}

std::string predictions_json(const std::string& weights, const ViTConfig& c, Precision precision,
                             const std::vector<Prediction>& predictions, const std::vector<std::string>& names,
                             const std::optional<PredictTiming>& timing) {
    nlohmann::ordered_json j;
    j["weights"] = weights;
    j["model"] = {{"image_size", {c.image_height, c.image_width}}, {"classes", c.num_classes},
                  {"precision", precision_name(precision)}};
    j["predictions"] = nlohmann::json::array();
    for (const Prediction& p : predictions) {
        if (!p.error.empty()) {
            j["predictions"].push_back({{"path", p.path}, {"error", p.error}});
            continue;
        }
        nlohmann::ordered_json top = nlohmann::json::array();
        for (size_t i = 0; i < p.classes.size(); i++) {
            top.push_back({{"class", p.classes[i]}, {"label", names[static_cast<size_t>(p.classes[i])]},
                           {"probability", p.probabilities[i]}});
        }
        j["predictions"].push_back({{"path", p.path}, {"top", top}});
    }
    if (timing) {
        const double n = static_cast<double>(predictions.size());
        j["timing"] = {{"images", predictions.size()}, {"preprocess_s", timing->preprocess_s},
                       {"forward_s", timing->forward_s}, {"forward_ms_per_image", 1e3 * timing->forward_s / n}};
    }
    // file names need not be UTF-8: their invalid bytes print as U+FFFD
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<Prediction> predict_images(ViT& model, const Pipeline& pipe, const std::vector<std::string>& paths,
                                       const PredictOptions& o, PredictTiming* timing) {
    const ViTConfig& c = model.config();
    if (c.num_classes == 0) {
        fail("the model has no classifier head (num_classes 0); it returns features, not classes");
    }
    const int64_t K = c.num_classes, k = std::min(o.top_k, K), per_image = pipe.sample_size();
    const int64_t N = static_cast<int64_t>(paths.size());
    std::vector<Prediction> out(static_cast<size_t>(N));
    std::vector<float> batch(static_cast<size_t>(std::min(o.batch, N) * per_image));
    PredictTiming t;
    const int64_t shorter_side = decode_shorter_side(pipe.steps());
    for (int64_t start = 0; start < N; start += o.batch) {
        const int64_t B = std::min(o.batch, N - start);
        auto t0 = std::chrono::steady_clock::now();
        std::vector<std::string> errors(static_cast<size_t>(B));
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t b = 0; b < B; b++) {
            try {
                Rng rng(0);  // evaluation transforms draw nothing
                pipe.apply(decode_image_file(paths[static_cast<size_t>(start + b)], o.max_pixels, shorter_side), rng,
                           batch.data() + b * per_image);
            } catch (const std::exception& e) {
                errors[static_cast<size_t>(b)] = e.what();
                std::fill_n(batch.data() + b * per_image, per_image, 0.0f);
            }
        }
        t.preprocess_s += seconds_since(t0);
        t0 = std::chrono::steady_clock::now();
        const float* logits = model.forward(batch.data(), B, {});  // a failed image's row is ignored
        t.forward_s += seconds_since(t0);
        for (int64_t b = 0; b < B; b++) {
            Prediction& p = out[static_cast<size_t>(start + b)];
            const std::string& path = paths[static_cast<size_t>(start + b)];
            const std::string& e = errors[static_cast<size_t>(b)];
            if (e.empty()) {
                p = top_classes(logits + b * K, K, k);
            } else {  // named by its file
                p.error = e.find(path) != std::string::npos ? e : fmt::format("'{}': {}", path, e);
            }
            p.path = path;
        }
    }
    if (timing != nullptr) *timing = t;
    return out;
}

}  // namespace vit
