// Recipes: every section, the model config inside, transforms; a recipe that reads is valid and
// survives its own round trip.
#include "fuzz_input.h"
#include "vit/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    vit::fuzz::expect_only_vit_errors([&] {
        const vit::Recipe r = vit::recipe_from_json(text, "fuzz.json", vit::Recipe{});
        r.validate();
        const vit::Recipe again = vit::recipe_from_json(vit::recipe_to_json(r), "round trip", vit::Recipe{});
        if (vit::recipe_to_json(again) != vit::recipe_to_json(r)) std::abort();
    });
    return 0;
}
