#include "vit/threads.h"

#include <omp.h>

#include <algorithm>

#include "vit/error.h"

namespace vit {

void set_num_threads(int n) {
    if (n < 1 || n > 1024) {
        fail("thread count must be in [1, 1024], got {}", n);
    }
    omp_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

int num_cores() { return std::max(1, omp_get_num_procs()); }

}  // namespace vit
