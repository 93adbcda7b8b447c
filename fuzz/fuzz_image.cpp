// JPEG (libjpeg-turbo) and PNG (libspng) decoding, with the pixel limit of a 1-megapixel image.
#include <vector>

#include "fuzz_input.h"
#include "vit/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<uint8_t> bytes(data, data + size);
    vit::fuzz::expect_only_vit_errors([&] {
        const vit::Image img = vit::decode_image(bytes, "fuzz", int64_t{1} << 20);
        if (static_cast<int64_t>(img.hwc.size()) != img.height * img.width * img.channels) std::abort();
    });
    return 0;
}
