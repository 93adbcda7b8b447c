// Training checkpoints: the recipe, the config and the training state in a safetensors file's
// metadata.
#include "fuzz_input.h"
#include "vit/checkpoint.h"
#include "vit/safetensors.h"
#include "vit/train_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    vit::fuzz::InputFile file(data, size, "checkpoint.safetensors");
    vit::fuzz::expect_only_vit_errors([&] { vit::recipe_from_checkpoint(file.path()); });
    vit::fuzz::expect_only_vit_errors([&] {
        const vit::SafetensorsFile f = vit::SafetensorsFile::open(file.path());
        vit::config_from_safetensors(f);
        for (const vit::TensorEntry& t : f.tensors()) {
            if (t.numel() <= (1 << 16)) f.read_f32(t.name);
        }
    });
    return 0;
}
