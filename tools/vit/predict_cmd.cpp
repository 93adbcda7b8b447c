// vit predict: top-k classes of images with any supported weight file.
#include <algorithm>

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
    if (non_strict) {
        m.model->init_weights(0);  // what the file lacks keeps its initial value, as in PyTorch
    }
    const LoadReport report = load_weights(*m.model, m.weights, {.strict = !non_strict});
    for (const std::string& name : report.missing) {
        fmt::print(stderr, "warning: '{}' lacks '{}' (left at its initial value)\n", source.weights, name);
    }
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

namespace {
// Exit status: 0 when every image was classified; else each bad one was reported and this says
// how many, with status 1.
int failed_images(const std::vector<Prediction>& results) {
    const auto failed = std::count_if(results.begin(), results.end(), [](const Prediction& p) { return !p.error.empty(); });
    if (failed == 0) return 0;
    fmt::print(stderr, "error: {} of {} images could not be read; the others were classified\n", failed, results.size());
    return 1;
}
}  // namespace

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
        fmt::print("{}\n", predictions_json(o.model.weights, c, o.precision, results, names, timing));
        return failed_images(results);
    }
    for (const Prediction& p : results) {
        if (!p.error.empty()) {
            fmt::print(stderr, "error: {}\n", p.error);
            continue;
        }
        fmt::print("{}\n", p.path);
        for (size_t i = 0; i < p.classes.size(); i++) {
            fmt::print("  {:>2}. {:6.2f}%  {} ({})\n", i + 1, 100.0 * p.probabilities[i],
                       names[static_cast<size_t>(p.classes[i])], p.classes[i]);
        }
    }
    fmt::print("{} image(s): preprocessing {:.1f} ms, forward {:.1f} ms ({:.1f} ms per image, batch {}, {})\n",
               files.size(), 1e3 * timing.preprocess_s, 1e3 * timing.forward_s, 1e3 * timing.forward_s / n, o.batch,
               precision_name(o.precision));
    return failed_images(results);
}

}  // namespace vit::tools
