#pragma once
// Which backend a trainer is compiled for: what `sublinear compile --backend` takes, what the generated
// source includes and links, and which experiments its trainer accepts (device: cpu, device: cuda:N).

namespace sublinear::codegen {

enum class Backend { Cpu, Cuda };

constexpr const char* backend_name(Backend b) { return b == Backend::Cuda ? "cuda" : "cpu"; }

}  // namespace sublinear::codegen
