// The output folder of a training run, held for the run's lifetime: one run per folder (an
// exclusive flock on `.vit-train.lock`, which the kernel drops when the process ends, however it
// ends), a started or finished run is not replaced unless asked, and the half-written files of
// an interrupted run's atomic writes are removed. Private to src/train.
#pragma once

#include <string>

namespace vit {

class RunFolder {
  public:
    // New: the folder must not hold a run (model.safetensors or checkpoint.safetensors) yet;
    // Resume: continuing the run there; Overwrite: a run there is replaced.
    enum class Use { New, Resume, Overwrite };

    // Creates the folder if needed and locks it. Throws vit::Error naming the folder when it
    // cannot be created, another process holds it, or (Use::New) it holds a run.
    RunFolder(const std::string& dir, Use use);
    ~RunFolder();
    RunFolder(RunFolder&& other) noexcept;
    RunFolder(const RunFolder&) = delete;
    RunFolder& operator=(const RunFolder&) = delete;
    RunFolder& operator=(RunFolder&&) = delete;

    std::string file(const std::string& name) const;  // a path inside the folder

  private:
    void hold(Use use, const std::string& lock);  // with the lock file open: lock it, check the folder, clear debris

    std::string dir_;
    int lock_fd_ = -1;
};

}  // namespace vit
