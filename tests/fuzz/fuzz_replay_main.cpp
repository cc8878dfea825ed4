// Runs a fuzz target over files, for builds without libFuzzer (GCC, the normal test build): every seed
// and every input that ever crashed (tests/fuzz/corpus/*/) stays a regression test in ctest.
// Usage: <target>_replay FILE_OR_DIR...   exits 0 when every input ran within the time limit (2 s, or
// FUZZ_REPLAY_SECONDS: a sanitizer build runs 3 to 10 times slower); a fault aborts as it would fuzzing.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    if (fs::is_directory(argv[i])) {
      for (const auto& e : fs::recursive_directory_iterator(argv[i]))
        if (e.is_regular_file()) files.push_back(e.path());
    } else {
      files.emplace_back(argv[i]);
    }
  }
  std::sort(files.begin(), files.end());
  const char* limit_env = std::getenv("FUZZ_REPLAY_SECONDS");
  const double limit = limit_env ? std::atof(limit_env) : 2.0;
  int slow = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", f.c_str());
      return 2;
    }
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto t0 = std::chrono::steady_clock::now();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > limit) {
      std::fprintf(stderr, "%s took %.2f s, more than %.1f s\n", f.c_str(), s, limit);
      ++slow;
    }
  }
  std::printf("%zu inputs ran, %d slower than %.1f s\n", files.size(), slow, limit);
  return files.empty() || slow > 0 ? 1 : 0;
}
