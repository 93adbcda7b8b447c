// ViT::Plan: where every activation of one forward (and backward) pass lives, as pointers into
// the model's activation and scratch buffers. Private to src/model.
#pragma once

#include <vector>

#include "layers/backbone.h"
#include "layers/layers.h"
#include "vit/model.h"

namespace vit {

struct ViT::Plan {
    int64_t batch = 0;
    bool training = false;
    bool keep_attention = false;
    Precision precision = Precision::F32;
    uint64_t seed = 0;
    float* images = nullptr;  // the hybrid's input, kept for its stem's weight gradient
    layers::BackboneActs backbone;
    layers::BackboneScratch backbone_scratch;
    layers::EmbeddingActs embed;
    layers::EmbeddingScratch embed_scratch;
    std::vector<layers::BlockActs> blocks;
    layers::BlockScratch block_scratch;
    layers::HeadActs head;
    layers::HeadScratch head_scratch;
    float* dx = nullptr;
    float* output = nullptr;
};

}  // namespace vit
