#include "ir/path_check.h"

#include <filesystem>

namespace sublinear::ir {

std::string regular_file_problem(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return "no such file";
  if (fs::is_directory(st)) return "is a directory";
  if (!fs::is_regular_file(st)) return "is not a regular file (a device, pipe or socket)";
  return {};
}

}  // namespace sublinear::ir
