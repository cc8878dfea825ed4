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

bool system_lib_dir(const std::string& dir) {
  for (const char* d :
       {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"})
    if (dir == d) return true;
  return false;
}

}  // namespace

std::vector<std::string> trainer_build_command(const std::string& source, const std::string& output) {
  std::vector<std::string> argv{SUBLINEAR_TRAINER_CXX};
  for (auto& f : split(SUBLINEAR_TRAINER_FLAGS)) argv.push_back(f);
  argv.push_back("-Wall");
  argv.push_back("-Wextra");
  const auto implicit_list = split(SUBLINEAR_TRAINER_IMPLICIT_INCLUDES);
  const std::set<std::string> implicit(implicit_list.begin(), implicit_list.end());
  std::set<std::string> seen;
  for (auto& dir : split(SUBLINEAR_TRAINER_INCLUDES)) {
    if (implicit.count(dir) || !seen.insert(dir).second) continue;
    argv.push_back(cat("-I", dir));
  }
  argv.push_back("-o");
  argv.push_back(output);
  argv.push_back(source);
  argv.push_back("-Wl,--start-group");
  for (auto& lib : split(SUBLINEAR_TRAINER_STATIC_LIBS)) argv.push_back(lib);
  argv.push_back("-Wl,--end-group");
  std::set<std::string> rpaths;
  for (auto& lib : split(SUBLINEAR_TRAINER_SHARED_LIBS)) {
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

BuildResult build_trainer(const std::string& source, const std::string& output) {
  BuildResult r;
  const std::vector<std::string> argv = trainer_build_command(source, output);
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
