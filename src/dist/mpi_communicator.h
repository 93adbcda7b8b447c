// MPI's world as a Communicator (mpi_communicator.cpp), or its absence in a build without MPI
// (mpi_absent.cpp): CMake compiles one of the two.
#pragma once

#include <memory>

#include "vit/communicator.h"

namespace vit {

bool mpi_available();
// Initialises MPI and returns its world; throws vit::Error when MPI cannot start.
std::unique_ptr<Communicator> join_mpi(const LaunchOptions& options);

}  // namespace vit
