// Learning-rate schedules.
#include "vit/schedule.h"

#include <algorithm>
#include <cmath>

#include "vit/error.h"

namespace vit {

const char* schedule_name(ScheduleKind kind) {
    switch (kind) {
        case ScheduleKind::Cosine: return "cosine";
        case ScheduleKind::Step: return "step";
        case ScheduleKind::Constant: return "constant";
    }
    return "?";
}

ScheduleKind parse_schedule(const std::string& name) {
    for (ScheduleKind k : {ScheduleKind::Cosine, ScheduleKind::Step, ScheduleKind::Constant}) {
        if (name == schedule_name(k)) return k;
    }
    fail("unknown schedule '{}' (expected one of: cosine, step, constant)", name);
}

float Schedule::lr(int64_t step) const {
    if (step < warmup_steps) {
        return base_lr * static_cast<float>(step + 1) / static_cast<float>(warmup_steps);
    }
    const int64_t t = step - warmup_steps;
    switch (kind) {
        case ScheduleKind::Cosine: {
            const int64_t span = std::max<int64_t>(1, total_steps - warmup_steps);
            const double progress = std::min(1.0, static_cast<double>(t) / static_cast<double>(span));
            return static_cast<float>(min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(M_PI * progress)));
        }
        case ScheduleKind::Step:
            return base_lr * std::pow(gamma, static_cast<float>(t / std::max<int64_t>(1, step_size)));
        case ScheduleKind::Constant: return base_lr;
    }
    return base_lr;
}

}  // namespace vit
