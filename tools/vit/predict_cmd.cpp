// vit predict: top-k classes of images with any supported weight file.
#include <nlohmann/json.hpp>

#include "commands.h"
#include "vit/checkpoint.h"
#include "vit/class_names.h"
#include "vit/error.h"
#include "vit/predict.h"
#include "vit/threads.h"

namespace vit::tools {

InferenceModel load_for_inference(const ModelSource& source, Precision precision, bool non_strict) {
    InferenceModel m{.weights = open_weights(source.weights), .config = {}, .model = nullptr};
    m.config = resolve_config(source, m.weights);
    // bf16: the matrices are converted once while loading and only their bf16 copies are kept;
    // either way they are then packed for oneDNN's product kernels.
    m.model = std::make_unique<ViT>(m.config, inference_storage(precision));
    const LoadReport report = load_weights(*m.model, m.weights, {.strict = !non_strict});
    for (const std::string& name : report.missing) fmt::print(stderr, "warning: '{}' lacks '{}' (left zero)\n", source.weights, name);
    for (const std::string& name : report.unexpected) fmt::print(stderr, "warning: '{}' has unused tensor '{}'\n", source.weights, name);
    m.model->pack_for_inference();
    return m;
}

std::vector<std::string> class_names_for(const InferenceModel& m, const std::string& labels) {
    const int64_t K = m.config.num_classes;
    if (!labels.empty()) return read_class_names(labels, K);
    if (auto found = class_names_of(m.weights, K)) return *found;
    std::vector<std::string> names;
    for (int64_t k = 0; k < K; k++) names.push_back(fmt::format("class {}", k));
    return names;
}

int run_predict(const PredictCliOptions& options) {
    const ImageRunOptions& o = options.run;
    set_num_threads(o.threads > 0 ? o.threads : num_cores());
    const InferenceModel loaded = load_for_inference(o.model, o.precision, o.non_strict);
    const WeightSource& w = loaded.weights;
    const ViTConfig& c = loaded.config;
    ViT& model = *loaded.model;
    const std::vector<std::string> names = class_names_for(loaded, o.labels);
    const Pipeline pipe = eval_pipeline_for(w, c, o.preprocess);
    const std::vector<std::string> files = collect_images(o.inputs);
    PredictTiming timing;
    const std::vector<Prediction> results =
        predict_images(model, pipe, files, {.top_k = options.top_k, .batch = o.batch}, &timing);
    const double n = static_cast<double>(files.size());
    if (o.json) {
        nlohmann::ordered_json j;
        j["weights"] = o.model.weights;
        j["model"] = {{"image_size", {c.image_height, c.image_width}}, {"classes", c.num_classes},
                      {"precision", precision_name(o.precision)}};
        j["predictions"] = nlohmann::json::array();
        for (const Prediction& p : results) {
            nlohmann::ordered_json top = nlohmann::json::array();
            for (size_t i = 0; i < p.classes.size(); i++) {
                top.push_back({{"class", p.classes[i]}, {"label", names[static_cast<size_t>(p.classes[i])]},
                               {"probability", p.probabilities[i]}});
            }
            j["predictions"].push_back({{"path", p.path}, {"top", top}});
        }
        j["timing"] = {{"images", files.size()}, {"preprocess_s", timing.preprocess_s}, {"forward_s", timing.forward_s},
                       {"forward_ms_per_image", 1e3 * timing.forward_s / n}};
        // file names need not be UTF-8: their invalid bytes print as U+FFFD
        fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        return 0;
    }
    for (const Prediction& p : results) {
        fmt::print("{}\n", p.path);
        for (size_t i = 0; i < p.classes.size(); i++) {
            fmt::print("  {:>2}. {:6.2f}%  {} ({})\n", i + 1, 100.0 * p.probabilities[i],
                       names[static_cast<size_t>(p.classes[i])], p.classes[i]);
        }
    }
    fmt::print("{} image(s): preprocessing {:.1f} ms, forward {:.1f} ms ({:.1f} ms per image, batch {}, {})\n",
               files.size(), 1e3 * timing.preprocess_s, 1e3 * timing.forward_s, 1e3 * timing.forward_s / n, o.batch,
               precision_name(o.precision));
    return 0;
}

}  // namespace vit::tools
