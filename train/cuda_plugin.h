#pragma once
// The CLI's wiring of the CUDA plug-in (runtime/cuda_backend.h) into the training application:
// `device: cuda:N` and an auto budget on a CUDA device go through it. Both load the plug-in when first
// called and throw std::runtime_error with the reason when it cannot be loaded; a build without the
// plug-in registers nothing, so the trainer says the build has no CUDA backend.
namespace sublinear::runtime::train {

void register_cuda_backend_plugin();

}  // namespace sublinear::runtime::train
