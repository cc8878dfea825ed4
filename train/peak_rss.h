#pragma once
// Process memory as the kernel accounts it, for the metrics log (what a user compares with the planner's
// arena figures: the process also holds parameters, data buffers and the allocator's slack).
#include <cstdint>

namespace sublinear::runtime::train {

// High-water mark of resident memory, in bytes: /proc/self/status VmHWM, or getrusage's ru_maxrss where
// /proc is not mounted. 0 when neither is available.
int64_t peak_rss_bytes();

// Resident memory now (VmRSS), in bytes; 0 when /proc is not available.
int64_t current_rss_bytes();

}  // namespace sublinear::runtime::train
