// Evaluation: inference over a dataset, counting top-k hits and the confusion matrix.
#include "vit/evaluate.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "vit/error.h"

namespace vit {

namespace {

// images [B, C, H, W] mirrored left-right.
std::vector<float> mirrored(const float* images, int64_t B, const ViTConfig& c) {
    const int64_t H = c.image_height, W = c.image_width, rows = B * c.channels * H;
    std::vector<float> out(static_cast<size_t>(rows * W));
    for (int64_t r = 0; r < rows; r++) {
        std::reverse_copy(images + r * W, images + (r + 1) * W, out.begin() + r * W);
    }
    return out;
}

}  // namespace

EvalSums evaluate_sums(ViT& model, DataLoader& loader, bool flip) {
    const int64_t K = model.config().num_classes;
    const Dataset& data = loader.dataset();
    if (data.num_classes() != K) {
        fail("the model has {} classes but the dataset has {}", K, data.num_classes());
    }
    EvalSums s;
    s.class_counts.assign(static_cast<size_t>(K), 0);
    s.confusion.assign(static_cast<size_t>(K * K), 0);
    const int64_t k = std::min<int64_t>(5, K);
    loader.start_epoch(0);
    while (const Batch* b = loader.next()) {
        const float* logits = model.forward(b->images.data(), b->size, {});
        std::vector<float> averaged;
        if (flip) {
            averaged.assign(logits, logits + b->size * K);
            const std::vector<float> mirror = mirrored(b->images.data(), b->size, model.config());
            const float* flipped = model.forward(mirror.data(), b->size, {});
            for (size_t i = 0; i < averaged.size(); i++) averaged[i] = 0.5f * (averaged[i] + flipped[i]);
            logits = averaged.data();
        }
        for (int64_t i = 0; i < b->size; i++) {
            const float* row = logits + i * K;
            const int32_t target = b->labels[static_cast<size_t>(i)];
            const int64_t predicted = std::max_element(row, row + K) - row;
            // rank of the target: how many classes score strictly higher
            const int64_t above = std::count_if(row, row + K, [&](float v) { return v > row[target]; });
            s.top1_hits += predicted == target;
            s.topk_hits += above < k;
            const float m = row[predicted];
            double sum = 0.0;
            for (int64_t c = 0; c < K; c++) sum += std::exp(static_cast<double>(row[c] - m));
            s.loss += std::log(sum) - static_cast<double>(row[target] - m);
            s.class_counts[static_cast<size_t>(target)]++;
            s.confusion[static_cast<size_t>(target * K + predicted)]++;
        }
        s.samples += b->size;
    }
    return s;
}

EvalResult eval_result(const EvalSums& s, std::vector<std::string> class_names) {
    const int64_t K = static_cast<int64_t>(s.class_counts.size());
    EvalResult r;
    r.samples = s.samples;
    r.class_names = std::move(class_names);
    r.class_counts = s.class_counts;
    r.confusion = s.confusion;
    const double n = static_cast<double>(std::max<int64_t>(1, s.samples));
    r.loss = s.loss / n;
    r.top1 = static_cast<double>(s.top1_hits) / n;
    r.top5 = static_cast<double>(s.topk_hits) / n;
    for (int64_t c = 0; c < K; c++) {
        const int64_t count = r.class_counts[static_cast<size_t>(c)];
        r.class_accuracy.push_back(count > 0 ? static_cast<double>(r.confusion[static_cast<size_t>(c * K + c)]) /
                                                   static_cast<double>(count)
                                             : 0.0);
    }
    return r;
}

EvalResult evaluate(ViT& model, DataLoader& loader, bool flip) {
    return eval_result(evaluate_sums(model, loader, flip), loader.dataset().class_names());
}

std::string eval_to_json(const EvalResult& r) {
    nlohmann::ordered_json j;
    j["samples"] = r.samples;
    j["loss"] = r.loss;
    j["top1"] = r.top1;
    j["top5"] = r.top5;
    j["classes"] = nlohmann::ordered_json::array();
    for (size_t c = 0; c < r.class_names.size(); c++) {
        j["classes"].push_back({{"name", r.class_names[c]}, {"count", r.class_counts[c]}, {"accuracy", r.class_accuracy[c]}});
    }
    const size_t K = r.class_names.size();
    j["confusion"] = nlohmann::ordered_json::array();
    for (size_t t = 0; t < K; t++) {
        j["confusion"].push_back(std::vector<int64_t>(r.confusion.begin() + static_cast<std::ptrdiff_t>(t * K),
                                                      r.confusion.begin() + static_cast<std::ptrdiff_t>((t + 1) * K)));
    }
    return j.dump();
}

}  // namespace vit
