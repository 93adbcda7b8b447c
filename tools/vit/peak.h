#pragma once

namespace vit::tools {

// fp32 GFLOP/s of `threads` threads doing only vector FMAs for about `seconds`.
double measure_fp32_peak_gflops(int threads, double seconds);

}  // namespace vit::tools
