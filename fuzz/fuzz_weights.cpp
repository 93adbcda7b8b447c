// Weight files of every format (safetensors, PyTorch zip + pickle, NumPy .npz): opening, renaming,
// config inference, and loading into a model when the inferred model is small.
#include "fuzz_input.h"
#include "vit/checkpoint.h"
#include "vit/params.h"
#include "vit/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    vit::fuzz::InputFile file(data, size, "weights");
    vit::fuzz::expect_only_vit_errors([&] {
        const vit::WeightSource w = vit::open_weights(file.path());
        const vit::ViTConfig c = vit::config_from_weights(w);
        int64_t params = 0;
        for (const vit::ParamInfo& p : vit::param_table_build(c)) params += p.numel;
        if (params <= (int64_t{1} << 20) && c.num_tokens() <= 1024) {  // a model small enough to build
            vit::ViT model(c);
            vit::load_weights(model, w, {.strict = false});
        }
    });
    return 0;
}
