#pragma once
// Number formatting shared by reports (summary, planner, CLI). Output is locale-independent so golden
// tests stay stable across machines.
#include <cstdint>
#include <string>

namespace sublinear::ir {

// "512 B", "1.50 KiB", "6.00 GiB" (binary units, two decimals above 1 KiB).
std::string human_bytes(int64_t bytes);

// "1,234,567"; negative numbers keep their sign ("-1,000").
std::string with_commas(int64_t value);

}  // namespace sublinear::ir
