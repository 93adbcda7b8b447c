// A build without MPI: every launch is one process.
#include "dist/mpi_communicator.h"
#include "vit/error.h"

namespace vit {

bool mpi_available() { return false; }

std::unique_ptr<Communicator> join_mpi(const LaunchOptions&) { fail("this vit was built without MPI"); }

}  // namespace vit
