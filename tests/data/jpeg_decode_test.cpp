// The JPEG decoder and the crop/resize: RGB out of every colour space, partial and scaled decodes that
// agree with a full decode, clear errors for damaged files, and torchvision's crop rules.
#include <gtest/gtest.h>

#include <cmath>

#include "data_test_util.h"
#include "train/data/image_transform.h"
#include "train/data/jpeg_decode.h"
#include "train/data/source_util.h"

namespace sublinear {
namespace {

using testing::JpegKind;
using testing::ScratchDir;
using testing::slurp;
using testing::write_jpeg;

int pattern(int x, int y, int c) { return (x * 7 + y * 3 + c * 60 + ((x / 4 + y / 4) % 2) * 40) % 256; }

data::JpegImage decode_file(const std::filesystem::path& p, const std::function<data::JpegRegion(int, int)>& plan = {}) {
  auto bytes = slurp(p);
  return data::decode_jpeg(p.string(), bytes.data(), bytes.size(), plan);
}

TEST(JpegDecode, RgbGrayAndCmykComeOutRgb) {
  ScratchDir dir("jpeg");
  write_jpeg(dir.path() / "rgb.jpg", 20, 10, JpegKind::Rgb, [](int, int, int c) { return c == 0 ? 200 : c == 1 ? 100 : 30; });
  write_jpeg(dir.path() / "gray.jpg", 9, 13, JpegKind::Gray, [](int, int, int) { return 77; });
  write_jpeg(dir.path() / "cmyk.jpg", 16, 16, JpegKind::AdobeCmyk, [](int, int, int c) { return c == 0 ? 40 : c == 1 ? 220 : 120; });
  auto rgb = decode_file(dir.path() / "rgb.jpg");
  EXPECT_EQ(rgb.full_width, 20);
  EXPECT_EQ(rgb.full_height, 10);
  ASSERT_EQ(rgb.width, 20);
  ASSERT_EQ(rgb.height, 10);
  EXPECT_NEAR(rgb.rgb[0], 200, 3);
  EXPECT_NEAR(rgb.rgb[1], 100, 3);
  EXPECT_NEAR(rgb.rgb[2], 30, 3);
  auto gray = decode_file(dir.path() / "gray.jpg");
  ASSERT_EQ(gray.rgb.size(), 9u * 13u * 3u);
  for (size_t i = 0; i < gray.rgb.size(); ++i) EXPECT_NEAR(gray.rgb[i], 77, 2);
  auto cmyk = decode_file(dir.path() / "cmyk.jpg");
  ASSERT_EQ(cmyk.rgb.size(), 16u * 16u * 3u);
  EXPECT_NEAR(cmyk.rgb[0], 40, 4);
  EXPECT_NEAR(cmyk.rgb[1], 220, 4);
  EXPECT_NEAR(cmyk.rgb[2], 120, 4);
}

// A partial decode (crop and skipped rows) gives the full decode's pixels in the region asked for.
TEST(JpegDecode, RegionDecodeMatchesFullDecode) {
  ScratchDir dir("jpeg");
  for (bool progressive : {false, true}) {
    auto p = dir.path() / (progressive ? "p.jpg" : "b.jpg");
    write_jpeg(p, 157, 131, JpegKind::Rgb, pattern, 90, progressive);
    auto full = decode_file(p);
    auto part = decode_file(p, [](int, int) { return data::JpegRegion{37, 50, 61, 40, 1}; });
    EXPECT_EQ(part.scaled_width, 157);
    ASSERT_LE(part.x0, 37);
    ASSERT_LE(part.y0, 50);
    ASSERT_GE(part.x0 + part.width, 98);
    ASSERT_GE(part.y0 + part.height, 90);
    EXPECT_LT(part.width * part.height, 157 * 131 / 2);  // it really decoded less
    for (int y = 50; y < 90; ++y)
      for (int x = 37; x < 98; ++x)
        for (int c = 0; c < 3; ++c)
          ASSERT_EQ(part.rgb[((y - part.y0) * part.width + (x - part.x0)) * 3 + c], full.rgb[(y * 157 + x) * 3 + c])
              << "progressive " << progressive << " at " << x << "," << y;
  }
}

TEST(JpegDecode, ScaledDecodeHalvesTheSize) {
  ScratchDir dir("jpeg");
  auto p = dir.path() / "s.jpg";
  write_jpeg(p, 101, 64, JpegKind::Rgb, [](int x, int, int c) { return c == 0 ? x * 2 : 90; });
  auto img = decode_file(p, [](int w, int h) { return data::JpegRegion{0, 0, double(w), double(h), 2}; });
  EXPECT_EQ(img.scale_denom, 2);
  EXPECT_EQ(img.scaled_width, 51);
  EXPECT_EQ(img.scaled_height, 32);
  // Red rises left to right at half the rate per decoded pixel.
  EXPECT_NEAR(img.rgb[(10 * img.width + 20) * 3], 80, 6);
}

TEST(JpegDecode, DamagedFilesAreErrorsNamingTheFile) {
  ScratchDir dir("jpeg");
  auto p = dir.path() / "good.jpg";
  write_jpeg(p, 64, 64, JpegKind::Rgb, pattern);
  auto bytes = slurp(p);
  std::vector<uint8_t> garbage = {'n', 'o', 't', ' ', 'a', ' ', 'j', 'p', 'e', 'g'};
  std::vector<uint8_t> truncated(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2));
  struct Case {
    std::vector<uint8_t> data;
    const char* why;
  };
  // A marker in the middle of the scan: libjpeg warns ("Corrupt JPEG data: premature end of data
  // segment") and fills the rest with grey, which trained silently.
  std::vector<uint8_t> corrupt = bytes;
  corrupt[corrupt.size() / 2] = 0xFF;
  corrupt[corrupt.size() / 2 + 1] = 0xD3;
  for (const auto& [data_bytes, why] : {Case{garbage, "Not a JPEG file"}, Case{truncated, "truncated"}, Case{{}, "empty"},
                                        Case{corrupt, "corrupt"}}) {
    try {
      data::decode_jpeg("/some/dir/img_7.JPEG", data_bytes.data(), data_bytes.size());
      ADD_FAILURE() << "expected an error for " << why;
    } catch (const std::runtime_error& e) {
      std::string w = e.what();
      EXPECT_NE(w.find("cannot decode /some/dir/img_7.JPEG"), std::string::npos) << w;
      EXPECT_NE(w.find(why), std::string::npos) << w;
    }
  }
}

// A 16x16 file whose frame header claims 20000x20000: it trained with exit 0 (libjpeg filled the
// missing rows with grey and warned). Now it is an error before anything of the claimed size is
// allocated, for a full decode and for the crop the data source asks for; a header claiming only a bit
// more than the scan holds fails as truncated.
TEST(JpegDecode, HeaderClaimingMorePixelsThanTheScanHoldsIsAnError) {
  ScratchDir dir("jpeg");
  auto p = dir.path() / "small.jpg";
  write_jpeg(p, 16, 16, JpegKind::Rgb, pattern);
  auto bytes = slurp(p);
  size_t sof = 0;
  for (size_t i = 2; i + 9 < bytes.size(); ++i)
    if (bytes[i] == 0xFF && (bytes[i + 1] == 0xC0 || bytes[i + 1] == 0xC2)) {
      sof = i;
      break;
    }
  ASSERT_GT(sof, 0u) << "no frame header";
  // SOFn: FF Cn, length (2), precision (1), height (2), width (2).
  ASSERT_EQ(bytes[sof + 5] * 256 + bytes[sof + 6], 16);
  for (size_t at : {sof + 5, sof + 7}) {
    bytes[at] = 20000 >> 8;
    bytes[at + 1] = 20000 & 0xFF;
  }
  using Plan = std::function<data::JpegRegion(int, int)>;
  for (const Plan& plan : {Plan{}, Plan([](int w, int h) { return data::JpegRegion{w / 4.0, h / 4.0, w / 2.0, h / 2.0, 8}; })}) {
    try {
      auto img = data::decode_jpeg("/data/small.jpg", bytes.data(), bytes.size(), plan);
      ADD_FAILURE() << "decoded a " << img.full_width << "x" << img.full_height << " image from 16x16 pixels";
    } catch (const std::runtime_error& e) {
      std::string w = e.what();
      EXPECT_NE(w.find("cannot decode /data/small.jpg"), std::string::npos) << w;
      EXPECT_NE(w.find("header claims 20000x20000 pixels"), std::string::npos) << w;
    }
  }
  for (size_t at : {sof + 5, sof + 7}) {
    bytes[at] = 0;
    bytes[at + 1] = 40;
  }
  try {
    data::decode_jpeg("/data/small.jpg", bytes.data(), bytes.size());
    ADD_FAILURE() << "decoded 40x40 pixels from 16x16";
  } catch (const std::runtime_error& e) {
    std::string w = e.what();
    EXPECT_TRUE(w.find("truncated") != std::string::npos || w.find("corrupt") != std::string::npos) << w;
  }
}

TEST(ImageTransform, RandomResizedCropStaysInsideWithValidRatio) {
  uint64_t k = 0;
  for (int trial = 0; trial < 200; ++trial) {
    int w = 50 + trial * 7 % 400, h = 40 + trial * 13 % 300;
    auto uniform = [&](int d) { return data::hash_uniform(runtime::counter_hash(1, trial, k, d)); };
    auto c = data::random_resized_crop(w, h, 0.08, 1.0, uniform);
    ASSERT_GE(c.x, 0);
    ASSERT_GE(c.y, 0);
    ASSERT_LE(c.x + c.width, w);
    ASSERT_LE(c.y + c.height, h);
    double area = double(c.width) * c.height / (double(w) * h);
    EXPECT_LE(area, 1.0);
    EXPECT_GE(area, 0.05);
  }
  // A very wide image exhausts the tries (no draw fits 4:3 at most): centre crop clipped to 4:3.
  auto always_full = [](int d) { return d % 4 == 0 ? 0.999 : (d % 4 == 1 ? 0.0 : 0.5); };
  auto c = data::random_resized_crop(400, 50, 1.0, 1.0, always_full);
  EXPECT_EQ(c.height, 50);
  EXPECT_EQ(c.width, 67);
  EXPECT_EQ(c.x, (400 - 67) / 2);
}

TEST(ImageTransform, ResizeOfAFlatImageIsFlatAndNormalised) {
  data::JpegImage img;
  img.full_width = img.scaled_width = img.width = 40;
  img.full_height = img.scaled_height = img.height = 30;
  img.rgb.assign(40 * 30 * 3, 0);
  for (size_t i = 0; i < img.rgb.size(); i += 3) {
    img.rgb[i] = 255;
    img.rgb[i + 1] = 0;
    img.rgb[i + 2] = 51;
  }
  const float mean[3] = {0.5f, 0.5f, 0.5f}, stddev[3] = {0.5f, 0.25f, 1.0f};
  std::vector<float> out(3 * 8 * 8);
  for (auto crop : {data::CropBox{3, 2, 30, 20}, data::CropBox{10, 10, 5, 4}}) {
    data::resize_normalise(img, crop, 8, 8, true, mean, stddev, out.data());
    for (int i = 0; i < 64; ++i) {
      ASSERT_NEAR(out[i], 1.0f, 1e-5);
      ASSERT_NEAR(out[64 + i], -2.0f, 1e-5);
      ASSERT_NEAR(out[128 + i], -0.3f, 1e-5);
    }
  }
}

TEST(ImageTransform, FlipMirrorsAndShrinkAverages) {
  data::JpegImage img;
  img.full_width = img.scaled_width = img.width = 16;
  img.full_height = img.scaled_height = img.height = 4;
  img.rgb.assign(16 * 4 * 3, 0);
  for (int y = 0; y < 4; ++y)
    for (int x = 8; x < 16; ++x)
      for (int c = 0; c < 3; ++c) img.rgb[(y * 16 + x) * 3 + c] = 255;  // right half white
  const float mean[3] = {0, 0, 0}, one[3] = {1, 1, 1};
  std::vector<float> plain(2 * 2 * 3), flipped(2 * 2 * 3);
  data::resize_normalise(img, {0, 0, 16, 4}, 2, 2, false, mean, one, plain.data());
  data::resize_normalise(img, {0, 0, 16, 4}, 2, 2, true, mean, one, flipped.data());
  // Shrinking 8x: the triangle spans 8 source columns either side of an output pixel's centre, so the
  // left output pixel sees columns 0-11 with weights 1 - |x + 0.5 - 4| / 8: 6/7 of them black.
  EXPECT_NEAR(plain[0], 1.0f / 7, 1e-6);
  EXPECT_NEAR(plain[1], 6.0f / 7, 1e-6);
  EXPECT_NEAR(flipped[0], 6.0f / 7, 1e-6);
  EXPECT_NEAR(flipped[1], 1.0f / 7, 1e-6);
}

TEST(ImageTransform, DctScaleKeepsEnoughPixels) {
  EXPECT_EQ(data::dct_scale_for({0, 0, 500, 400}, 224, 224), 1);
  EXPECT_EQ(data::dct_scale_for({0, 0, 500, 460}, 224, 224), 2);
  EXPECT_EQ(data::dct_scale_for({0, 0, 300, 300}, 32, 32), 8);
  EXPECT_EQ(data::dct_scale_for({0, 0, 300, 100}, 32, 32), 2);
}

}  // namespace
}  // namespace sublinear
