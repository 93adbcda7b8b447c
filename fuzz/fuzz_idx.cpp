// IDX image and label files (MNIST, Fashion-MNIST), gzipped or not. The input is both files: a
// 4-byte little-endian length of the images file, the images file, then the labels file.
#include <algorithm>

#include "fuzz_input.h"
#include "vit/data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 4) return 0;
    const size_t n = std::min<size_t>(size - 4, data[0] | data[1] << 8 | data[2] << 16 | size_t{data[3]} << 24);
    vit::fuzz::InputFile images(data + 4, n, "images-idx3-ubyte");
    vit::fuzz::InputFile labels(data + 4 + n, size - 4 - n, "labels-idx1-ubyte");
    vit::fuzz::expect_only_vit_errors([&] {
        const vit::DatasetPtr d = vit::read_idx(images.path(), labels.path(), {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"});
        for (int64_t i = 0; i < std::min<int64_t>(d->size(), 4); i++) {
            d->load(i);
            d->label(i);
        }
    });
    return 0;
}
