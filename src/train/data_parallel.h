// Data-parallel training's collective steps, private to src/train: every rank holds the whole
// model and optimizer, computes the gradient of its part of each batch, and takes the same step
// with the sum. With one process each of these is a plain single-process step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vit/communicator.h"
#include "vit/data.h"
#include "vit/evaluate.h"
#include "vit/model.h"
#include "vit/optimizer.h"
#include "vit/transforms.h"

namespace vit {

// What must be the same on every rank before the first step: the resolved recipe (and run
// position), the training data's size and classes, the parameters, and the program. Throws
// vit::Error naming the ranks that differ from rank 0 and in what.
void check_ranks_agree(Communicator& ranks, const std::string& recipe_json, const Dataset& train, const ViT& model);

// A step's sum of the gradients over the ranks, in buckets of `bucket_floats` values from the
// end of the flat buffer, each started as soon as the backward pass has completed every
// parameter in it (block_done), while earlier blocks still back-propagate; finish() sums the
// rest and waits. The buckets and their order are fixed, so the sums repeat bit for bit. Built
// once per run; start() begins each step's sum.
class GradientSum {
  public:
    GradientSum(Communicator& ranks, ViT& model, int64_t bucket_floats);
    void start();
    void block_done(int64_t block);
    void finish();

  private:
    void mark_done(size_t param);
    void start_ready_buckets();

    Communicator& ranks_;
    float* grads_;
    int64_t size_, bucket_floats_;
    std::vector<std::vector<size_t>> block_params_;  // the parameters of each block
    std::vector<std::pair<int64_t, int64_t>> param_buckets_;  // the buckets [first, last] a parameter touches
    std::vector<int64_t> touching_;  // per bucket: the parameters in it
    std::vector<int64_t> pending_;   // per bucket: parameters not complete yet
    std::vector<bool> done_;        // per parameter
    int64_t next_bucket_ = 0;       // bucket k covers the k-th bucket_floats values from the end
};

// ---- ZeRO stage 1: each rank keeps the optimizer state of one part of the parameters ------------

// The consecutive parts of n values, rank r's from n r / N on.
std::vector<int64_t> parts_of(int64_t n, int ranks);
ParamRange part_of(const std::vector<int64_t>& parts, int rank);
// Clips the gradients of the owned part to a global norm of at most max_norm (the norm over
// every part, as clip_grad_norm's over the whole model).
void clip_gradient_part(Communicator& ranks, ViT& model, ParamRange owned, double max_norm);
// Every rank's model gets every rank's updated part; the bf16 copies are refreshed.
void share_parameters(Communicator& ranks, ViT& model, const std::vector<int64_t>& parts);
// Rank 0's `whole` optimizer gets every rank's part of the state and the step counts (to be
// written as one checkpoint); `whole` is used on rank 0 only.
void collect_optimizer(Communicator& ranks, Optimizer& part, Optimizer* whole, const std::vector<int64_t>& parts);
// The owned part of a whole optimizer's state (a checkpoint read back), and its step counts.
void take_part(Optimizer& whole, Optimizer& part);

// Evaluation spread over the ranks: rank r takes batches r, r + R, ... of the batches a single
// process would make, so every image goes through the same batch as alone and the counts summed
// are the single process's exactly (the summed loss may differ in its last bits).
EvalResult evaluate_on_ranks(Communicator& ranks, ViT& model, const DatasetPtr& data, const Pipeline& pipeline,
                             int64_t batch_size, int workers, bool flip);

}  // namespace vit
