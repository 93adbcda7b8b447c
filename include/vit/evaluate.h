// Evaluation of a classifier over a dataset: loss, top-1 and top-5 accuracy, per-class accuracy
// and the confusion matrix.
//
// Example:
//   vit::DataLoader loader(test, eval_pipeline, {.batch_size = 256});
//   vit::EvalResult r = vit::evaluate(model, loader);
//   fmt::print("top-1 {:.2f}%\n", 100 * r.top1);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vit/loader.h"
#include "vit/model.h"

namespace vit {

struct EvalResult {
    int64_t samples = 0;
    double loss = 0.0;   // mean cross-entropy (no smoothing)
    double top1 = 0.0;   // fractions in [0, 1]
    double top5 = 0.0;   // top-min(5, K)
    std::vector<std::string> class_names;
    std::vector<int64_t> class_counts;        // samples per true class
    std::vector<double> class_accuracy;       // top-1 per true class (0 for empty classes)
    std::vector<int64_t> confusion;           // [K true, K predicted], row-major
};

// Runs the whole epoch 0 of `loader` through the model in inference mode. With `flip`, each
// image's logits are the mean of the logits of the image and of its mirror image (left-right
// test-time augmentation). Throws vit::Error when the dataset's class count differs from the
// model's.
EvalResult evaluate(ViT& model, DataLoader& loader, bool flip = false);

// The counts behind an EvalResult, which add up over the parts of a dataset that processes
// evaluate apart: evaluate() is eval_result(evaluate_sums(...)).
struct EvalSums {
    int64_t samples = 0, top1_hits = 0, topk_hits = 0;
    double loss = 0.0;                  // the sum of the cross-entropies
    std::vector<int64_t> class_counts;  // [K]
    std::vector<int64_t> confusion;     // [K, K]
};
EvalSums evaluate_sums(ViT& model, DataLoader& loader, bool flip = false);
EvalResult eval_result(const EvalSums& sums, std::vector<std::string> class_names);

// {"samples", "loss", "top1", "top5", "classes": [{"name", "count", "accuracy"}], "confusion"}.
std::string eval_to_json(const EvalResult& result);

}  // namespace vit
