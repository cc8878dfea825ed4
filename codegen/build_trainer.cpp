#include "codegen/build_trainer.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <string_view>

#include "codegen/cpp_text.h"
#include "codegen/toolchain_config.h"

extern char** environ;

namespace sublinear::codegen {

namespace {

std::vector<std::string> split(std::string_view list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(';', start);
    if (end == std::string_view::npos) end = list.size();
    if (end > start) out.emplace_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// An installed CLI (P/bin/sublinear) builds against P/include/sublinear and P/lib/sublinear when both are
// there; otherwise against the tree it was built in.
struct Layout {
  std::string include_root = SUBLINEAR_TRAINER_SOURCE_DIR;
  std::string lib_dir;  // empty: the build tree's own paths
};

Layout find_layout() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  Layout l;
  if (ec) return l;
  const fs::path prefix = exe.parent_path().parent_path();
  if (fs::exists(prefix / "lib" / "sublinear" / "libsublinear_runtime.a", ec) &&
      fs::exists(prefix / "include" / "sublinear" / "codegen" / "program_support.h", ec)) {
    l.include_root = (prefix / "include" / "sublinear").string();
    l.lib_dir = (prefix / "lib" / "sublinear").string();
  }
  return l;
}

const Layout& layout() {
  static const Layout l = find_layout();
  return l;
}

// A static library of this build where the layout keeps it.
std::string static_lib(const std::string& built) {
  if (layout().lib_dir.empty()) return built;
  return (std::filesystem::path(layout().lib_dir) / std::filesystem::path(built).filename()).string();
}

bool system_lib_dir(const std::string& dir) {
  for (const char* d :
       {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"})
    if (dir == d) return true;
  return false;
}

}  // namespace

bool backend_available(Backend backend) { return backend == Backend::Cpu || SUBLINEAR_TRAINER_HAVE_CUDA; }

std::string trainer_library_dir() {
  if (!layout().lib_dir.empty()) return layout().lib_dir;
  return std::filesystem::path(split(SUBLINEAR_TRAINER_STATIC_LIBS).front()).parent_path().string();
}

std::vector<std::string> trainer_build_command(const std::string& source, const std::string& output,
                                               Backend backend) {
  const bool cuda = backend == Backend::Cuda;
  std::vector<std::string> argv{SUBLINEAR_TRAINER_CXX};
  for (auto& f : split(SUBLINEAR_TRAINER_FLAGS)) argv.push_back(f);
  argv.push_back("-Wall");
  argv.push_back("-Wextra");
  const auto implicit_list = split(SUBLINEAR_TRAINER_IMPLICIT_INCLUDES);
  const std::set<std::string> implicit(implicit_list.begin(), implicit_list.end());
  std::set<std::string> seen;
  for (auto dir : split(SUBLINEAR_TRAINER_INCLUDES)) {
    if (dir == SUBLINEAR_TRAINER_SOURCE_DIR) dir = layout().include_root;
    if (implicit.count(dir) || !seen.insert(dir).second) continue;
    argv.push_back(cat("-I", dir));
  }
  // Under mpirun a trainer opens the MPI plug-in of the build that compiled it (train/workers).
  const std::filesystem::path mpi_plugin = std::filesystem::path(trainer_library_dir()) / "libsublinear_mpi.so";
  std::error_code ec;
  if (std::filesystem::exists(mpi_plugin, ec))  // a C string literal, so any path survives quoting and escapes
    argv.push_back(cat("-DSUBLINEAR_MPI_PLUGIN_PATH=", cpp_string(mpi_plugin.string())));
  argv.push_back("-o");
  argv.push_back(output);
  argv.push_back(source);
  argv.push_back("-Wl,--start-group");
  if (cuda)
    for (auto& lib : split(SUBLINEAR_TRAINER_CUDA_STATIC_LIBS)) argv.push_back(static_lib(lib));
  for (auto& lib : split(SUBLINEAR_TRAINER_STATIC_LIBS)) argv.push_back(static_lib(lib));
  argv.push_back("-Wl,--end-group");
  std::vector<std::string> shared = split(SUBLINEAR_TRAINER_SHARED_LIBS);
  if (cuda)
    for (auto& lib : split(SUBLINEAR_TRAINER_CUDA_SHARED_LIBS)) shared.push_back(lib);
  std::set<std::string> rpaths;
  for (auto& lib : shared) {
    argv.push_back(lib);
    if (lib.empty() || lib[0] != '/') continue;
    const std::string dir = std::filesystem::path(lib).parent_path().string();
    if (!system_lib_dir(dir) && rpaths.insert(dir).second) argv.push_back(cat("-Wl,-rpath,", dir));
  }
  return argv;
}

std::string shell_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-_./=+,:@%", c) != nullptr;
    });
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      if (c == '\'') out += "'\\''";
      else out += c;
    }
    out += '\'';
  }
  return out;
}

BuildResult build_trainer(const std::string& source, const std::string& output, Backend backend) {
  BuildResult r;
  const std::vector<std::string> argv = trainer_build_command(source, output, backend);
  r.command = shell_command(argv);
  const auto t0 = std::chrono::steady_clock::now();

  int fds[2];
  if (pipe(fds) != 0) {
    r.output = std::string("cannot create a pipe: ") + std::strerror(errno);
    return r;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    r.output = std::string("cannot start the compiler: ") + std::strerror(rc);
    return r;
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    r.output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.ok = r.exit_code == 0;
  return r;
}

}  // namespace sublinear::codegen
