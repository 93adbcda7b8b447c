// vit inspect's engine: attention rollout, the mean attention distance, and the pictures of a
// set of images (see inspect.h).
#include "vit/inspect.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <set>

#include "inspect_render.h"
#include "vit/error.h"
#include "vit/predict.h"

namespace vit {

namespace {

// Steps of an evaluation pipeline that give the picture the model sees, before normalisation.
Pipeline display_pipeline(const Pipeline& pipe, const ViTConfig& c) {
    std::vector<Transform> steps;
    for (const Transform& t : pipe.steps()) {
        if (t.op != TransformOp::Normalize && t.op != TransformOp::RandomErasing) steps.push_back(t);
    }
    return Pipeline(std::move(steps), c.channels, c.image_height, c.image_width);
}

// Output names: each image's file stem, numbered (_2, _3, ...) when already taken.
std::vector<std::string> output_stems(const std::vector<std::string>& names) {
    std::set<std::string> taken;
    std::vector<std::string> stems;
    for (const std::string& p : names) {
        const std::string stem = std::filesystem::path(p).stem().string();
        std::string name = stem;
        for (int n = 2; taken.count(name) > 0; n++) name = fmt::format("{}_{}", stem, n);
        taken.insert(name);
        stems.push_back(name);
    }
    return stems;
}

}  // namespace

ImageSource image_files(const std::vector<std::string>& paths, int64_t max_pixels) {
    return {.names = paths,
            .load = [paths, max_pixels](int64_t i) { return decode_image_file(paths[static_cast<size_t>(i)], max_pixels); }};
}

ImageSource dataset_images(DatasetPtr data, int64_t count, const std::string& split) {
    ImageSource source;
    for (int64_t i = 0; i < std::min(count, data->size()); i++) {
        std::string label = data->class_names()[static_cast<size_t>(data->label(i))];
        for (char& ch : label) {
            if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
        }
        source.names.push_back(fmt::format("{}_{}_{}", split, i, label));
    }
    source.load = [data](int64_t i) { return data->load(i); };
    return source;
}

std::vector<double> attention_rollout(const std::vector<const float*>& layers, int64_t heads, int64_t tokens) {
    const int64_t N = tokens;
    const size_t NN = static_cast<size_t>(N * N);
    std::vector<double> rollout(NN, 0.0), a(NN), next(NN);
    for (int64_t i = 0; i < N; i++) rollout[static_cast<size_t>(i * N + i)] = 1.0;
    for (const float* probs : layers) {
        // a = 0.5 * mean over heads + 0.5 * I, rows divided by their sums
        for (int64_t i = 0; i < N; i++) {
            double* row = a.data() + i * N;
            for (int64_t j = 0; j < N; j++) {
                double sum = 0.0;
                for (int64_t h = 0; h < heads; h++) sum += probs[(h * N + i) * N + j];
                row[j] = 0.5 * sum / static_cast<double>(heads) + (i == j ? 0.5 : 0.0);
            }
            double total = 0.0;
            for (int64_t j = 0; j < N; j++) total += row[j];
            for (int64_t j = 0; j < N; j++) row[j] /= total;
        }
        // rollout = a @ rollout
        std::fill(next.begin(), next.end(), 0.0);
        for (int64_t i = 0; i < N; i++) {
            for (int64_t k = 0; k < N; k++) {
                const double aik = a[static_cast<size_t>(i * N + k)];
                for (int64_t j = 0; j < N; j++) next[static_cast<size_t>(i * N + j)] += aik * rollout[static_cast<size_t>(k * N + j)];
            }
        }
        rollout.swap(next);
    }
    return rollout;
}

std::vector<double> mean_attention_distance(const std::vector<const float*>& layers, int64_t heads, const ViTConfig& c) {
    const int64_t gw = c.grid_width(), NP = c.num_patches(), N = c.num_tokens();
    // image pixels per token: the patch size, or for a hybrid the area a feature-map token covers
    const double py = static_cast<double>(c.image_height) / static_cast<double>(c.grid_height());
    const double px = static_cast<double>(c.image_width) / static_cast<double>(gw);
    std::vector<double> dist(static_cast<size_t>(NP * NP));  // between patch centres, in pixels
    for (int64_t p = 0; p < NP; p++) {
        for (int64_t k = 0; k < NP; k++) {
            const double dy = static_cast<double>(p / gw - k / gw) * py, dx = static_cast<double>(p % gw - k % gw) * px;
            dist[static_cast<size_t>(p * NP + k)] = std::sqrt(dy * dy + dx * dx);
        }
    }
    std::vector<double> out;
    for (const float* probs : layers) {
        for (int64_t h = 0; h < heads; h++) {
            double total = 0.0;
            for (int64_t p = 0; p < NP; p++) {
                const float* row = probs + (h * N + 1 + p) * N + 1;  // query patch p over the patch keys
                double weight = 0.0, weighted = 0.0;
                for (int64_t k = 0; k < NP; k++) {
                    weight += row[k];
                    weighted += row[k] * dist[static_cast<size_t>(p * NP + k)];
                }
                if (weight > 0.0) total += weighted / weight;
            }
            out.push_back(total / static_cast<double>(NP));
        }
    }
    return out;
}

InspectResult inspect_images(ViT& model, const Pipeline& pipe, const ImageSource& source, const InspectOptions& o) {
    const ViTConfig& c = model.config();
    const int64_t L = c.depth, H = c.num_heads, N = c.num_tokens(), K = c.num_classes;
    InspectResult result;
    result.layer = o.layer < 0 ? L + o.layer : o.layer;
    if (result.layer < 0 || result.layer >= L) {
        fail("layer {} is out of range: the model has {} layers (0 to {}, or -1 to -{} counting from the end)", o.layer,
             L, L - 1, L);
    }
    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    if (ec) fail("cannot create the output folder '{}': {}", o.out_dir, ec.message());
    const Pipeline display = display_pipeline(pipe, c);
    const std::vector<std::string> stems = output_stems(source.names);
    const int64_t count = static_cast<int64_t>(source.names.size()), per_image = pipe.sample_size();
    result.distance.assign(static_cast<size_t>(L * H), 0.0);
    for (int64_t start = 0; start < count; start += o.batch) {
        const int64_t B = std::min(o.batch, count - start);
        std::vector<float> inputs(static_cast<size_t>(B * per_image)), shown(inputs.size());
        for (int64_t b = 0; b < B; b++) {
            const std::string& name = source.names[static_cast<size_t>(start + b)];
            try {
                const Image img = source.load(start + b);
                Rng rng(0);  // evaluation transforms draw nothing
                pipe.apply(img, rng, inputs.data() + b * per_image);
                display.apply(img, rng, shown.data() + b * per_image);
            } catch (const Error& e) {
                const std::string what = e.what();
                fail("{}", what.find(name) != std::string::npos ? what : fmt::format("'{}': {}", name, what));
            }
        }
        const float* output = model.forward(inputs.data(), B, {.keep_attention = true});
        for (int64_t b = 0; b < B; b++) {
            std::vector<const float*> layers;
            for (int64_t l = 0; l < L; l++) layers.push_back(model.attention(l) + b * H * N * N);
            InspectedImage shot;
            shot.name = source.names[static_cast<size_t>(start + b)];
            if (K > 0) {
                const Prediction top = top_classes(output + b * K, K, 1);
                shot.top_class = top.classes[0];
                shot.top_probability = top.probabilities[0];
            }
            const std::vector<double> rollout = attention_rollout(layers, H, N);
            shot.rollout.assign(rollout.begin() + 1, rollout.begin() + N);  // the class token's row, patch keys
            const std::vector<double> distance = mean_attention_distance(layers, H, c);
            for (size_t i = 0; i < distance.size(); i++) result.distance[i] += distance[i] / static_cast<double>(count);

            // the class token's attention (row 0) over the patches, per head and averaged
            const float* chosen = layers[static_cast<size_t>(result.layer)];
            std::vector<HeatTile> tiles = {{.caption = "input", .grid = {}}, {.caption = "mean", .grid = {}}};
            std::vector<double> mean(static_cast<size_t>(N - 1), 0.0);
            for (int64_t h = 0; h < H; h++) {
                const float* row = chosen + h * N * N;
                shot.attention.emplace_back(row + 1, row + N);
                tiles.push_back({.caption = fmt::format("head {}", h), .grid = std::vector<double>(row + 1, row + N)});
                for (int64_t j = 1; j < N; j++) mean[static_cast<size_t>(j - 1)] += row[j] / static_cast<double>(H);
            }
            tiles[1].grid = mean;
            const DisplayImage img{shown.data() + b * per_image, c.channels, c.image_height, c.image_width};
            const std::string stem = (std::filesystem::path(o.out_dir) / stems[static_cast<size_t>(start + b)]).string();
            shot.attention_png = stem + "_attention.png";
            shot.rollout_png = stem + "_rollout.png";
            std::string predicted;
            if (shot.top_class >= 0) {
                const size_t k = static_cast<size_t>(shot.top_class);
                predicted = fmt::format("{}: predicted {} ({:.1f}%)", shot.name,
                                        k < o.class_names.size() ? o.class_names[k] : fmt::format("class {}", k),
                                        100.0 * shot.top_probability);
            }
            write_heatmap_tiles(shot.attention_png,
                                {.title = fmt::format("layer {}: the class token's attention over the patches", result.layer),
                                 .subtitle = predicted, .scale = "attention probability"},
                                img, c.grid_height(), c.grid_width(), tiles);
            write_heatmap_tiles(shot.rollout_png,
                                {.title = "attention rollout: how much the class token draws on each patch",
                                 .subtitle = predicted, .scale = "rollout weight"},
                                img, c.grid_height(), c.grid_width(),
                                {{.caption = "input", .grid = {}}, {.caption = "rollout", .grid = shot.rollout}});
            result.images.push_back(std::move(shot));
        }
    }
    result.distance_png = (std::filesystem::path(o.out_dir) / "attention_distance.png").string();
    write_distance_plot(result.distance_png, result.distance, L, H);
    return result;
}

}  // namespace vit
