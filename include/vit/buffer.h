// FloatBuffer: an owning, 64-byte aligned, zero-initialised array of floats. The model keeps its
// parameters, gradients and activations in a few of these (one allocation per plan).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace vit {

class FloatBuffer {
  public:
    FloatBuffer() = default;
    explicit FloatBuffer(int64_t n) { resize(n); }
    FloatBuffer(const FloatBuffer&) = delete;
    FloatBuffer& operator=(const FloatBuffer&) = delete;
    FloatBuffer(FloatBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    FloatBuffer& operator=(FloatBuffer&& o) noexcept {
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
        return *this;
    }
    ~FloatBuffer() { std::free(data_); }

    // Replaces the contents with n zeros.
    void resize(int64_t n) {
        std::free(data_);
        data_ = nullptr;
        size_ = 0;
        if (n <= 0) {
            return;
        }
        size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
        data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
        if (data_ == nullptr) {
            throw std::bad_alloc();
        }
        std::memset(data_, 0, bytes);
        size_ = n;
    }
    void zero() {
        if (data_ != nullptr) {
            std::memset(data_, 0, static_cast<size_t>(size_) * sizeof(float));
        }
    }
    float* data() { return data_; }
    const float* data() const { return data_; }
    int64_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

  private:
    float* data_ = nullptr;
    int64_t size_ = 0;
};

}  // namespace vit
