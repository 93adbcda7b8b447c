// One thread runtime for the whole process: OpenMP, shared with oneDNN, so a thread count set
// here is honoured by every kernel and no pool oversubscribes another.
#pragma once

namespace vit {

// Sets the number of threads every later kernel uses. Throws vit::Error unless 1 <= n <= 1024.
void set_num_threads(int n);
int num_threads();
// The machine's hardware threads (at least 1): the thread count when none is asked for.
int num_cores();

}  // namespace vit
