// Column sums that do not depend on the thread count. The rows are cut into chunks of
// kSumChunk; each chunk sums its columns in row order into a row of scratch, and the chunk sums
// are then added in chunk order. The threads take whole chunks, so each streams through
// contiguous rows (summing down columns instead, 64 at a time, ran 2-2.5x slower on the bias
// gradients of qkv and fc1 at 6400 x 576 and 6400 x 384).
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace vit::cpu {

inline constexpr int64_t kSumChunk = 64;

// Calls add(n, total) for each n in [0, width), total being sums[c * width + n] added over
// c = 0 .. chunks - 1 in that order. The columns are shared among the threads of the enclosing
// parallel region (an orphaned loop: outside one it runs on the calling thread alone).
template <typename Add>
void add_chunk_sums(const float* sums, int64_t chunks, int64_t width, Add&& add) {
#pragma omp for schedule(static)
    for (int64_t n = 0; n < width; n++) {
        float total = 0.0f;
        for (int64_t c = 0; c < chunks; c++) total += sums[c * width + n];
        add(n, total);
    }
}

// Calls chunk(m0, rows, sums) for every chunk of rows [m0, m0 + rows), from the threads of one
// parallel region; chunk writes the `width` column sums of its rows to sums. Then calls
// add(n, total) for each n in [0, width), total being the chunk sums of column n added in chunk
// order.
template <typename Chunk, typename Add>
void sum_row_chunks(int64_t M, int64_t width, Chunk&& chunk, Add&& add) {
    const int64_t chunks = (M + kSumChunk - 1) / kSumChunk;
    thread_local std::vector<float> chunk_sums;
    if (static_cast<int64_t>(chunk_sums.size()) < chunks * width) {
        chunk_sums.resize(static_cast<size_t>(chunks * width));
    }
    float* sums = chunk_sums.data();
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int64_t c = 0; c < chunks; c++) {
            const int64_t m0 = c * kSumChunk;
            chunk(m0, std::min(kSumChunk, M - m0), sums + c * width);
        }
        add_chunk_sums(sums, chunks, width, add);
    }
}

}  // namespace vit::cpu
