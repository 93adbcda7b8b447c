// Data-parallel training's collective steps, private to src/train: every rank holds the whole
// model and optimizer, computes the gradient of its part of each batch, and takes the same step
// with the sum. With one process each of these is a plain single-process step.
#pragma once

#include <cstdint>
#include <string>

#include "vit/communicator.h"
#include "vit/data.h"
#include "vit/evaluate.h"
#include "vit/model.h"
#include "vit/transforms.h"

namespace vit {

// What must be the same on every rank before the first step: the resolved recipe (and run
// position), the training data's size and classes, the parameters, and the program. Throws
// vit::Error naming the ranks that differ from rank 0 and in what.
void check_ranks_agree(Communicator& ranks, const std::string& recipe_json, const Dataset& train, const ViT& model);

// Replaces every rank's gradients by their sum over the ranks, `bucket_floats` values per
// collective.
void sum_gradients(Communicator& ranks, ViT& model, int64_t bucket_floats);

// Evaluation spread over the ranks: rank r takes batches r, r + R, ... of the batches a single
// process would make, so every image goes through the same batch as alone and the counts summed
// are the single process's exactly (the summed loss may differ in its last bits).
EvalResult evaluate_on_ranks(Communicator& ranks, ViT& model, const DatasetPtr& data, const Pipeline& pipeline,
                             int64_t batch_size, int workers, bool flip);

}  // namespace vit
