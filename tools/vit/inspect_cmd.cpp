// vit inspect: what a model attends to in some images, as pictures and numbers.
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "commands.h"
#include "vit/error.h"
#include "vit/inspect.h"
#include "vit/predict.h"
#include "vit/recipe.h"
#include "vit/threads.h"

namespace vit::tools {

namespace {

// The image files and folders given, then the first --test-images images of the test split of
// the dataset in the weights' recipe.
ImageSource images_to_inspect(const InspectCliOptions& options, const InferenceModel& loaded) {
    const ImageRunOptions& o = options.run;
    if (o.inputs.empty() && options.test_images == 0) fail("no images: give image files or folders, or --test-images N");
    ImageSource files = o.inputs.empty() ? ImageSource{} : image_files(collect_images(o.inputs));
    if (options.test_images == 0) return files;
    const auto it = loaded.weights.metadata.find("vit.recipe");
    if (it == loaded.weights.metadata.end()) {
        fail("--test-images needs weights written by vit train (they name their dataset); '{}' carries no recipe",
             o.model.weights);
    }
    const Recipe defaults;
    const Recipe recipe = recipe_from_json(it->second, o.model.weights + " (vit.recipe metadata)", defaults);
    ImageSource test = dataset_images(open_dataset(recipe.dataset, Split::Test), options.test_images, "test");
    if (o.inputs.empty()) return test;
    const int64_t n_files = static_cast<int64_t>(files.names.size());
    files.names.insert(files.names.end(), test.names.begin(), test.names.end());
    files.load = [n_files, by_file = files.load, by_index = test.load](int64_t i) {
        return i < n_files ? by_file(i) : by_index(i - n_files);
    };
    return files;
}

}  // namespace

int run_inspect(const InspectCliOptions& options) {
    const ImageRunOptions& o = options.run;
    set_num_threads(o.threads > 0 ? o.threads : num_cores());
    const InferenceModel loaded = load_for_inference(o.model, o.precision, o.non_strict);
    const ViTConfig& c = loaded.config;
    const std::vector<std::string> names = class_names_for(loaded, o.labels);
    const Pipeline pipe = eval_pipeline_for(loaded.weights, c, o.preprocess);
    const InspectResult r = inspect_images(*loaded.model, pipe, images_to_inspect(options, loaded),
                                           {.layer = options.layer, .batch = o.batch, .out_dir = options.out,
                                            .class_names = names});
    const int64_t H = c.num_heads;
    if (o.json) {
        nlohmann::ordered_json j;
        j["weights"] = o.model.weights;
        j["layer"] = r.layer;
        j["grid"] = {c.grid_height(), c.grid_width()};
        j["images"] = nlohmann::json::array();
        for (const InspectedImage& img : r.images) {
            nlohmann::ordered_json e = {{"image", img.name}, {"attention_png", img.attention_png},
                                        {"rollout_png", img.rollout_png}, {"rollout", img.rollout},
                                        {"attention", img.attention}};
            if (img.top_class >= 0) {
                e["top"] = {{"class", img.top_class}, {"label", names[static_cast<size_t>(img.top_class)]},
                            {"probability", img.top_probability}};
            }
            j["images"].push_back(e);
        }
        nlohmann::json distance = nlohmann::json::array();
        for (int64_t l = 0; l < c.depth; l++) {
            distance.push_back(std::vector<double>(r.distance.begin() + l * H, r.distance.begin() + (l + 1) * H));
        }
        j["mean_attention_distance_px"] = distance;
        j["distance_png"] = r.distance_png;
        // file names need not be UTF-8: their invalid bytes print as U+FFFD
        fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        return 0;
    }
    for (const InspectedImage& img : r.images) {
        fmt::print("{}", img.name);
        if (img.top_class >= 0) {
            fmt::print(": {} ({:.1f}%)", names[static_cast<size_t>(img.top_class)], 100.0 * img.top_probability);
        }
        fmt::print("\n  layer {} attention: {}\n  rollout: {}\n", r.layer, img.attention_png, img.rollout_png);
    }
    fmt::print("mean attention distance (px), averaged over {} image(s) and the heads of each layer:\n", r.images.size());
    for (int64_t l = 0; l < c.depth; l++) {
        double sum = 0.0, lo = 1e300, hi = 0.0;
        for (int64_t h = 0; h < H; h++) {
            const double d = r.distance[static_cast<size_t>(l * H + h)];
            sum += d;
            lo = std::min(lo, d);
            hi = std::max(hi, d);
        }
        fmt::print("  layer {:>2}: {:6.1f}  (heads {:.1f} to {:.1f})\n", l, sum / static_cast<double>(H), lo, hi);
    }
    fmt::print("plot: {}\n", r.distance_png);
    return 0;
}

}  // namespace vit::tools
