// CIFAR binary batches (1 label byte for CIFAR-10, 2 for CIFAR-100; the input's size picks one).
#include <algorithm>

#include "fuzz_input.h"
#include "vit/data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    vit::fuzz::InputFile batch(data, size, "data_batch.bin");
    const int label_bytes = size % 2 == 0 ? 2 : 1;
    vit::fuzz::expect_only_vit_errors([&] {
        std::vector<std::string> names(label_bytes == 1 ? 10 : 100, "c");
        const vit::DatasetPtr d = vit::read_cifar({batch.path()}, label_bytes, names);
        for (int64_t i = 0; i < std::min<int64_t>(d->size(), 4); i++) {
            d->load(i);
            d->label(i);
        }
    });
    return 0;
}
