// Column sums that do not depend on the thread count: the columns [0, N) of a row-major matrix
// are split among the threads at multiples of 16, and each thread walks its columns in runs of
// up to kColumnStrips strips of 16 (64 columns: 4 vector accumulators, 256 contiguous bytes a
// row), summing each column over the rows in order.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace vit::cpu {

inline constexpr int64_t kColumnStrips = 4;

// Calls run.template operator()<S>(n0, last) for every run of S strips starting at column n0,
// the last strip `last` columns wide, from each thread of a parallel region it opens.
template <typename Run>
void for_each_column_run(int64_t N, Run&& run) {
    const int64_t vectors = (N + 15) / 16;
#pragma omp parallel
    {
        const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
        const int64_t end = std::min(N, vectors * (t + 1) / T * 16);
        for (int64_t n0 = vectors * t / T * 16; n0 < end; n0 += 16 * kColumnStrips) {
            const int64_t width = std::min(16 * kColumnStrips, end - n0);
            const int64_t strips = (width + 15) / 16, last = width - 16 * (strips - 1);
            switch (strips) {
                case 1: run.template operator()<1>(n0, last); break;
                case 2: run.template operator()<2>(n0, last); break;
                case 3: run.template operator()<3>(n0, last); break;
                default: run.template operator()<4>(n0, last); break;
            }
        }
    }
}

}  // namespace vit::cpu
