// Class names for predictions: ImageNet-1k's shipped with vit, names stored in a checkpoint, a
// Hugging Face config.json beside the weights, or a text file of one name per line.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "vit/weights.h"

namespace vit {

const std::vector<std::string>& imagenet1k_class_names();

// One name per line (blank lines and a trailing newline ignored); throws vit::Error naming the
// file when it cannot be read or holds another count than `num_classes`.
std::vector<std::string> read_class_names(const std::string& path, int64_t num_classes);

// The names for a model's classes, first found of: "vit.class_names" metadata (vit train), the
// id2label of a config.json beside a Hugging Face file, ImageNet-1k's for 1000 classes; else
// nullopt.
std::optional<std::vector<std::string>> class_names_of(const WeightSource& weights, int64_t num_classes);

}  // namespace vit
