// Learning-rate schedules: linear warmup, then cosine decay, step decay or a constant rate.
//
// Example:
//   vit::Schedule s{.kind = vit::ScheduleKind::Cosine, .base_lr = 1e-3f, .warmup_steps = 100,
//                   .total_steps = 5000};
//   opt.step(s.lr(step));   // step counts from 0
#pragma once

#include <cstdint>
#include <string>

namespace vit {

enum class ScheduleKind { Cosine, Step, Constant };

// "cosine", "step", "constant"; parse throws vit::Error listing the valid names.
const char* schedule_name(ScheduleKind kind);
ScheduleKind parse_schedule(const std::string& name);

struct Schedule {
    ScheduleKind kind = ScheduleKind::Cosine;
    float base_lr = 1e-3f;
    int64_t warmup_steps = 0;  // lr rises linearly to base_lr over these steps
    int64_t total_steps = 1;   // cosine: reaches min_lr here
    float min_lr = 0.0f;       // cosine floor
    int64_t step_size = 1;     // step: multiply by gamma every step_size steps (after warmup)
    float gamma = 0.1f;

    // The rate for optimizer step `step` (0-based).
    float lr(int64_t step) const;
};

}  // namespace vit
