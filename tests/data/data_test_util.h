#pragma once
// Helpers for the data-source tests: models from .snet text, batch buffers for a source's inputs, a
// scratch directory that removes itself, and a JPEG writer (libjpeg's compressor) so the ImageNet
// tests read real files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <jpeglib.h>

#include "frontend/frontend.h"
#include "ir/diagnostic.h"
#include "train/data/dataset.h"

namespace sublinear {
namespace data = runtime::data;
}

namespace sublinear::testing {

// A model from .snet text at batch size `batch`; user errors fail the test with the diagnostics.
inline ir::Graph load_graph(const std::string& text, int64_t batch,
                            std::vector<std::pair<std::string, std::string>> sets = {}) {
  frontend::LoadOptions opts;
  opts.batch = batch;
  opts.sets = std::move(sets);
  SourceManager sources;
  try {
    return frontend::load_model_text("test.snet", text, opts, sources);
  } catch (const UserErrors& e) {
    std::string s;
    for (const auto& d : e.diagnostics()) s += format_diagnostic(d, sources, false);
    ADD_FAILURE() << s;
  } catch (const UserError& e) {
    ADD_FAILURE() << format_diagnostic(e.diagnostic(), sources, false);
  }
  return {};
}

inline ir::Graph load_example(const std::string& name, int64_t batch,
                              std::vector<std::pair<std::string, std::string>> sets = {}) {
  std::string path = std::string(SUBLINEAR_SOURCE_DIR) + "/examples/" + name;
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return load_graph(text, batch, std::move(sets));
}

// Host buffers for one batch of `inputs`, and the tensors viewing them.
struct Batch {
  std::vector<std::vector<uint64_t>> storage;  // 8-byte words: aligned for any element type
  std::vector<runtime::Tensor> tensors;

  explicit Batch(const std::vector<data::InputSpec>& inputs) {
    for (const auto& in : inputs) {
      storage.emplace_back(static_cast<size_t>((in.type.bytes() + 7) / 8), 0);
      runtime::Tensor t;
      t.data = storage.back().data();
      t.type = in.type;
      tensors.push_back(t);
    }
  }
  // The bytes of input k, for bitwise comparisons.
  std::string bytes(size_t k) const {
    return std::string(reinterpret_cast<const char*>(tensors[k].data), static_cast<size_t>(tensors[k].bytes()));
  }
  std::string all_bytes() const {
    std::string s;
    for (size_t k = 0; k < tensors.size(); ++k) s += bytes(k);
    return s;
  }
  const float* f32(size_t k) const { return tensors[k].f32(); }
  const int32_t* i32(size_t k) const { return tensors[k].i32(); }
};

// A fresh directory under the system temp dir, removed with everything in it at scope end.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    std::random_device rd;
    std::string name = "sublinear-";
    name += tag;
    name += '-';
    name += std::to_string(rd());
    name += std::to_string(rd());
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

enum class JpegKind { Rgb, Gray, AdobeCmyk };

// Writes a real JPEG with libjpeg. pixel(x, y, c) gives channel c (RGB; Gray uses c = 0 only;
// AdobeCmyk stores the RGB value in C, M, Y and 255 in K, which Adobe's inverted convention decodes
// back to that RGB).
inline void write_jpeg(const std::filesystem::path& path, int width, int height, JpegKind kind,
                       const std::function<int(int, int, int)>& pixel, int quality = 95, bool progressive = false,
                       bool subsample = true) {
  std::filesystem::create_directories(path.parent_path());
  FILE* f = std::fopen(path.string().c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  int comps = kind == JpegKind::Gray ? 1 : kind == JpegKind::Rgb ? 3 : 4;
  cinfo.input_components = comps;
  cinfo.in_color_space = kind == JpegKind::Gray ? JCS_GRAYSCALE : kind == JpegKind::Rgb ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  if (kind == JpegKind::Rgb && !subsample) {
    for (int c = 0; c < 3; ++c) cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;
  }
  if (progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  std::vector<JSAMPLE> row(static_cast<size_t>(width) * comps);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < comps; ++c)
        row[static_cast<size_t>(x) * comps + c] =
            static_cast<JSAMPLE>(kind == JpegKind::AdobeCmyk && c == 3 ? 255 : std::clamp(pixel(x, y, c), 0, 255));
    JSAMPROW r[1] = {row.data()};
    jpeg_write_scanlines(&cinfo, r, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(f);
}

inline std::vector<uint8_t> slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace sublinear::testing
