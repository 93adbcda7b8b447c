#include "vit/error.h"

namespace vit::detail {

void check_failed(const char* file, int line, const char* expr, const std::string& msg) {
    throw Error(fmt::format("internal check failed at {}:{}: {} ({})", file, line, expr, msg));
}

}  // namespace vit::detail
