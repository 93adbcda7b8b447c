// Classifying image files with a loaded model: decoding and preprocessing on every core, batched
// forward passes, softmax and the top-k classes of each image.
//
// Example:
//   std::vector<std::string> files = vit::collect_images({"photos/", "cat.jpg"});
//   vit::Pipeline pipe = vit::eval_pipeline_for(weights, model.config(), "");
//   auto results = vit::predict_images(model, pipe, files, {.top_k = 5, .batch = 16});
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vit/image_io.h"
#include "vit/model.h"
#include "vit/transforms.h"
#include "vit/weights.h"

namespace vit {

// The files named, and the JPEG/PNG files under the folders named (recursively, sorted).
// Throws vit::Error for a path that does not exist or when no image is found.
std::vector<std::string> collect_images(const std::vector<std::string>& inputs);

// The evaluation transforms for weights: `preset` when given (see preprocess.h); else the
// eval transforms of the recipe a `vit train` checkpoint carries; else the preset of the
// weights' naming scheme.
Pipeline eval_pipeline_for(const WeightSource& weights, const ViTConfig& config, const std::string& preset);

struct PredictOptions {
    int64_t top_k = 5;
    int64_t batch = 16;
    int64_t max_pixels = kMaxImagePixels;
};

struct Prediction {
    std::string path;
    std::vector<int64_t> classes;        // top-k, most probable first
    std::vector<float> probabilities;    // softmax of the logits
    std::string error;                   // why the image could not be read (then no classes); else empty
};

// The k most probable of K classes for one row of logits (ties: the lower class first), with
// their softmax probabilities; path left empty.
Prediction top_classes(const float* logits, int64_t K, int64_t k);

struct PredictTiming {
    double preprocess_s = 0.0;  // decoding and transforms
    double forward_s = 0.0;
};

// vit predict --json's object: the weights, the model's input size, classes and precision, each
// prediction's top classes with `names` (or its error), and the timing when given.
std::string predictions_json(const std::string& weights, const ViTConfig& config, Precision precision,
                             const std::vector<Prediction>& predictions, const std::vector<std::string>& names,
                             const std::optional<PredictTiming>& timing);

// Throws vit::Error naming the file for an image that cannot be decoded, and for a model
// without classes.
std::vector<Prediction> predict_images(ViT& model, const Pipeline& pipe, const std::vector<std::string>& paths,
                                       const PredictOptions& options, PredictTiming* timing = nullptr);

}  // namespace vit
