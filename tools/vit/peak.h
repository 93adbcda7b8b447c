#pragma once

#include <optional>

namespace vit::tools {

// fp32 GFLOP/s of `threads` threads doing only vector FMAs for about `seconds`.
double measure_fp32_peak_gflops(int threads, double seconds);
// bf16 GFLOP/s (a multiply and an add per bf16 pair, accumulated in fp32) of `threads` threads
// doing only the CPU's bf16 dot-product instruction (vdpbf16ps) for about `seconds`; nullopt on
// a CPU without it. Not a fixed multiple of the fp32 peak: it differs between CPU generations.
std::optional<double> measure_bf16_peak_gflops(int threads, double seconds);

}  // namespace vit::tools
