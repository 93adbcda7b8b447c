// ViT::Plan: where every activation of one forward (and backward) pass lives, as pointers into
// the model's activation and scratch buffers; ViT::Views: the layers' views of the parameters.
// Private to src/model.
#pragma once

#include <vector>

#include "layers/backbone.h"
#include "layers/cpu_ops.h"
#include "layers/layers.h"
#include "vit/model.h"

namespace vit {

struct ViT::Plan {
    int64_t batch = 0;
    bool training = false;
    bool keep_attention = false;
    Precision precision = Precision::F32;
    layers::MaskKey masks;
    float* images = nullptr;  // the hybrid's input, kept for its stem's weight gradient (training)
    layers::BackboneActs backbone;
    layers::BackboneScratch backbone_scratch;
    layers::EmbeddingActs embed;
    layers::EmbeddingGrads embed_grads;
    std::vector<layers::BlockActs> blocks;  // training: one set per block
    layers::BlockGrads block_grads;         // training
    layers::BlockInferenceActs inference;   // inference: shared by the blocks
    std::vector<float*> probs;              // inference with keep_attention: per block
    layers::HeadActs head;
    layers::HeadGrads head_grads;
    float* dx = nullptr;  // training: the residual stream's gradient
    float* output = nullptr;
};

struct ViT::Backends {
    layers::CpuF32Ops f32;
    std::unique_ptr<layers::CpuBf16Ops> bf16;  // while the precision is bf16
};

struct ViT::Views {
    layers::BackboneParams backbone;
    layers::EmbeddingParams embed;
    std::vector<float> fixed_pos_embed;  // [N, D]: the sin-cos table (PosEmbed::SinCos2d)
    std::vector<layers::BlockParams> blocks;
    layers::HeadParams head;
};

}  // namespace vit
