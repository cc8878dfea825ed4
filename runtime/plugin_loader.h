#pragma once
// Optional backends as plug-ins: shared objects opened with dlopen only when a run asks for them (the CUDA
// backend for `device: cuda:N`, MPI for a run launched by mpirun), so a run that does not use them never
// maps their libraries. Rules:
// - A plug-in is found at $<env> if set, else next to the executable (the build tree, a device bundle),
//   else in ../lib/sublinear beside it (an installed tree).
// - It exports one extern "C" function returning a pointer to its API, a struct whose first member is
//   `const char* build_id`. It must come from the same build as the executable (C++ types cross the
//   boundary): a different build id is refused with both ids named.
// - The caller loads each plug-in once per process and never closes it.
#include <string>

namespace sublinear::runtime {

struct PluginSpec {
  const char* what;    // "the CUDA backend": how messages name it
  const char* file;    // "libsublinear_cuda_backend.so"
  const char* symbol;  // the extern "C" entry
  const char* env;     // the variable that overrides where it is looked for
};

// The API the plug-in's entry returns; nullptr with `why` set when it is not found, not loadable (a
// library it needs is missing), not a sublinear plug-in, or from another build.
const void* load_plugin(const PluginSpec& spec, std::string* why);

}  // namespace sublinear::runtime
