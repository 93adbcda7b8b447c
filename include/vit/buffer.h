// Buffer<T>: an owning, 64-byte aligned, zero-initialised array of a trivial type. The model keeps
// its parameters, gradients and activations in a few of these (one allocation per plan).
// Buffers of 4 MiB and more are aligned to 2 MiB and asked to be backed by huge pages (Linux
// transparent huge pages in "madvise" mode): kernels that walk rows thousands of bytes apart
// (attention's q, k and v slices) would otherwise touch a new 4 KiB page, and miss the TLB, at
// every row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <type_traits>
#include <utility>

#include "vit/bf16.h"

namespace vit {

template <typename T>
class Buffer {
    static_assert(std::is_trivially_copyable_v<T>);

  public:
    Buffer() = default;
    explicit Buffer(int64_t n) { resize(n); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer(Buffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    Buffer& operator=(Buffer&& o) noexcept {
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
        return *this;
    }
    ~Buffer() { std::free(data_); }

    // Replaces the contents with n zeros.
    void resize(int64_t n) {
        std::free(data_);
        data_ = nullptr;
        size_ = 0;
        if (n <= 0) {
            return;
        }
        const bool huge = static_cast<size_t>(n) * sizeof(T) >= 2 * kHugePage;
        const size_t alignment = huge ? kHugePage : 64;
        size_t bytes = (static_cast<size_t>(n) * sizeof(T) + alignment - 1) / alignment * alignment;
        data_ = static_cast<T*>(std::aligned_alloc(alignment, bytes));
        if (data_ == nullptr) {
            throw std::bad_alloc();
        }
#if defined(MADV_HUGEPAGE)
        if (huge) {
            madvise(data_, bytes, MADV_HUGEPAGE);  // advice only: without it, 4 KiB pages
        }
#endif
        std::memset(data_, 0, bytes);
        size_ = n;
    }
    void zero() {
        if (data_ != nullptr) {
            std::memset(data_, 0, static_cast<size_t>(size_) * sizeof(T));
        }
    }
    T* data() { return data_; }
    const T* data() const { return data_; }
    int64_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

  private:
    static constexpr size_t kHugePage = size_t{2} << 20;
    T* data_ = nullptr;
    int64_t size_ = 0;
};

using FloatBuffer = Buffer<float>;
using Bf16Buffer = Buffer<bf16>;

}  // namespace vit
