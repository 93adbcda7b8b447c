// One training run per output folder.
#include "train/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "vit/error.h"

namespace vit {

namespace fs = std::filesystem;

namespace {

// What an interrupted atomic write of a run's files leaves: "<file>.tmp.<pid>" (safetensors) or
// "<file>.tmp" (PNG).
bool is_unfinished_write(const std::string& name) {
    for (const char* file : {"checkpoint.safetensors", "model.safetensors"}) {
        if (name.starts_with(std::string(file) + ".tmp.")) return true;
    }
    return name == "curves.png.tmp" || name == "samples.png.tmp";
}

std::string holder_of(int fd) {
    char text[32] = {};
    const ssize_t n = ::pread(fd, text, sizeof(text) - 1, 0);
    return n > 0 ? std::string(text, static_cast<size_t>(n)) : std::string("unknown");
}

}  // namespace

RunFolder::RunFolder(const std::string& dir, Use use) : dir_(dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) {
        fail("cannot create the output folder '{}': {}", dir, ec ? ec.message() : "a file of that name exists");
    }
    const std::string lock = file(".vit-train.lock");
    lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) {
        fail("cannot open the lock file '{}': {}", lock, std::strerror(errno));
    }
    try {
        hold(use, lock);
    } catch (...) {  // the destructor does not run when the constructor throws
        ::close(lock_fd_);
        throw;
    }
}

void RunFolder::hold(Use use, const std::string& lock) {
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        if (err == EWOULDBLOCK) {
            fail("the output folder '{}' is in use by another vit train run (process {}); wait for it to end or "
                 "choose another --out", dir_, holder_of(lock_fd_));
        }
        fail("cannot lock '{}': {}", lock, std::strerror(err));
    }
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        fail("cannot write the lock file '{}': {}", lock, std::strerror(errno));
    }
    if (use == Use::New) {
        for (const char* name : {"checkpoint.safetensors", "model.safetensors"}) {
            if (fs::exists(file(name))) {
                fail("the output folder '{}' already holds a run ({}); continue it with --resume {}, choose another "
                     "--out, or pass --overwrite to replace it", dir_, name, file("checkpoint.safetensors"));
            }
        }
    }
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(dir_, ec)) {
        if (e.is_regular_file() && is_unfinished_write(e.path().filename().string())) {
            fs::remove(e.path(), ec);
        }
    }
}

RunFolder::RunFolder(RunFolder&& other) noexcept : dir_(std::move(other.dir_)), lock_fd_(other.lock_fd_) {
    other.lock_fd_ = -1;
}

RunFolder::~RunFolder() {
    if (lock_fd_ >= 0) {
        ::close(lock_fd_);  // releases the flock
    }
}

std::string RunFolder::file(const std::string& name) const { return (fs::path(dir_) / name).string(); }

}  // namespace vit
