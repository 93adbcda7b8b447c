// vit::Error and the VIT_CHECK family.
//
// Two kinds of failure:
//  - user or environment errors (a bad file, flag, shape): throw vit::Error with a message that
//    names the thing, what was expected and what was found. The CLI catches it, prints
//    "error: <message>" and exits non-zero.
//  - broken internal invariants: VIT_CHECK (always on) or VIT_DCHECK (debug builds, kernels).
//
// Example:
//   if (dim % heads != 0) vit::fail("embed_dim ({}) must be divisible by num_heads ({})", dim, heads);
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace vit {

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Throws vit::Error with a formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
    throw Error(fmt::format(format, std::forward<Args>(args)...));
}

namespace detail {
[[noreturn]] void check_failed(const char* file, int line, const char* expr, const std::string& msg);
}  // namespace detail

}  // namespace vit

#define VIT_CHECK(cond, ...)                                                               \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            ::vit::detail::check_failed(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
        }                                                                                  \
    } while (0)

#ifdef NDEBUG
#define VIT_DCHECK(cond) ((void)0)
#else
#define VIT_DCHECK(cond) VIT_CHECK(cond, "debug check")
#endif
