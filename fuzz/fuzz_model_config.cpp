// Model configs (vit bench --config, the vit.config metadata of weight files): a config that
// reads survives its own round trip.
#include "fuzz_input.h"
#include "vit/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    vit::fuzz::expect_only_vit_errors([&] {
        const vit::ViTConfig c = vit::ViTConfig::from_json(text);
        if (vit::ViTConfig::from_json(c.to_json()).to_json() != c.to_json()) std::abort();
        c.forward_flops();
    });
    return 0;
}
