#pragma once
// Why a path the user named is not a file sublinear can read: so that a directory, a device such as
// /dev/zero (which would be read forever) or a pipe is called what it is, not "no such file".
#include <string>

namespace sublinear::ir {

// "" for a regular file (or a symbolic link to one); else "no such file", "is a directory", or "is not a
// regular file (a device, pipe or socket)".
std::string regular_file_problem(const std::string& path);

}  // namespace sublinear::ir
