// Crop, resize, flip and normalise for the ImageNet source. The resize is separable: each output
// column (then row) is a normalised triangle-filter average of source pixels whose support widens with
// the shrink factor, as PIL's bilinear resize does, so shrinking does not alias. The filter only reads
// pixels inside the crop, as torchvision's crop-then-resize does; values stay float until normalised.
#include "train/data/image_transform.h"

#include <algorithm>
#include <cmath>

namespace sublinear::runtime::data {

namespace {

constexpr int kCropTries = 10;

// Filter taps of one output axis: output o reads count[o] source pixels from start[o] with weights
// weights[o * stride ...].
struct Taps {
  std::vector<int> start, count;
  std::vector<float> weights;
  int stride = 0;
};

// box0 and box_len: the crop along this axis in source pixels (fractional when the JPEG was decoded
// scaled); [lo, hi): the source pixels the filter may read.
Taps make_taps(double box0, double box_len, int lo, int hi, int out) {
  Taps t;
  double scale = box_len / out;
  double support = std::max(scale, 1.0);  // the triangle's half-width, in source pixels
  t.stride = static_cast<int>(std::ceil(2 * support)) + 2;
  t.start.resize(out);
  t.count.resize(out);
  t.weights.assign(static_cast<size_t>(out) * t.stride, 0.0f);
  for (int o = 0; o < out; ++o) {
    double center = box0 + (o + 0.5) * scale;
    int first = std::max(lo, static_cast<int>(std::floor(center - support)));
    int last = std::min(hi, static_cast<int>(std::ceil(center + support)));  // one past
    last = std::min(last, first + t.stride);
    float* w = &t.weights[static_cast<size_t>(o) * t.stride];
    double sum = 0;
    for (int x = first; x < last; ++x) {
      double v = std::max(0.0, 1.0 - std::abs((x + 0.5 - center) / support));
      w[x - first] = static_cast<float>(v);
      sum += v;
    }
    if (sum <= 0) {  // the crop is thinner than a pixel here: take the nearest one
      first = std::clamp(static_cast<int>(std::floor(center)), lo, hi - 1);
      last = first + 1;
      w[0] = 1.0f;
      sum = 1.0;
    }
    for (int x = first; x < last; ++x) w[x - first] = static_cast<float>(w[x - first] / sum);
    t.start[o] = first;
    t.count[o] = last - first;
  }
  return t;
}

}  // namespace

CropBox random_resized_crop(int width, int height, double min_scale, double max_scale,
                            const std::function<double(int)>& uniform) {
  const double log_lo = std::log(3.0 / 4.0), log_hi = std::log(4.0 / 3.0);
  double area = static_cast<double>(width) * height;
  for (int t = 0; t < kCropTries; ++t) {
    double target = area * (min_scale + (max_scale - min_scale) * uniform(4 * t));
    double ratio = std::exp(log_lo + (log_hi - log_lo) * uniform(4 * t + 1));
    auto w = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    auto h = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      CropBox c{0, 0, w, h};
      c.y = std::min(height - h, static_cast<int>(uniform(4 * t + 2) * (height - h + 1)));
      c.x = std::min(width - w, static_cast<int>(uniform(4 * t + 3) * (width - w + 1)));
      return c;
    }
  }
  // Centre crop, clipped to the aspect-ratio range.
  double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < 3.0 / 4.0) h = std::min(height, static_cast<int>(std::lround(w / (3.0 / 4.0))));
  else if (in_ratio > 4.0 / 3.0) w = std::min(width, static_cast<int>(std::lround(h * (4.0 / 3.0))));
  return CropBox{(width - w) / 2, (height - h) / 2, std::max(w, 1), std::max(h, 1)};
}

int dct_scale_for(const CropBox& crop, int out_w, int out_h) {
  for (int d : {8, 4, 2})
    if (crop.width >= static_cast<int64_t>(out_w) * d && crop.height >= static_cast<int64_t>(out_h) * d) return d;
  return 1;
}

void resize_normalise(const JpegImage& img, const CropBox& crop, int out_w, int out_h, bool flip,
                      const float mean[3], const float stddev[3], float* dst) {
  // The crop in the decoded pixels: scaled, and relative to where the decoded part starts.
  double fx = static_cast<double>(img.scaled_width) / img.full_width;
  double fy = static_cast<double>(img.scaled_height) / img.full_height;
  auto bound = [](double v, int origin, int size) { return std::clamp(static_cast<int>(v) - origin, 0, size); };
  int x_lo = bound(std::floor(crop.x * fx), img.x0, img.width - 1);
  int x_hi = std::max(x_lo + 1, bound(std::ceil((crop.x + crop.width) * fx), img.x0, img.width));
  int y_lo = bound(std::floor(crop.y * fy), img.y0, img.height - 1);
  int y_hi = std::max(y_lo + 1, bound(std::ceil((crop.y + crop.height) * fy), img.y0, img.height));
  Taps hx = make_taps(crop.x * fx - img.x0, crop.width * fx, x_lo, x_hi, out_w);
  Taps vy = make_taps(crop.y * fy - img.y0, crop.height * fy, y_lo, y_hi, out_h);

  // Horizontal pass over the rows the vertical pass reads.
  int row_first = vy.start.front(), row_last = vy.start.back() + vy.count.back();
  for (int o = 0; o < out_h; ++o) {
    row_first = std::min(row_first, vy.start[o]);
    row_last = std::max(row_last, vy.start[o] + vy.count[o]);
  }
  size_t row_floats = static_cast<size_t>(out_w) * 3;
  std::vector<float> tmp(static_cast<size_t>(row_last - row_first) * row_floats);
  // Each source pixel feeds several taps: convert a row's crop to float once.
  std::vector<float> src(static_cast<size_t>(x_hi) * 3);
  for (int r = row_first; r < row_last; ++r) {
    const uint8_t* bytes = img.rgb.data() + static_cast<size_t>(r) * img.width * 3;
    for (size_t i = static_cast<size_t>(x_lo) * 3; i < src.size(); ++i) src[i] = bytes[i];
    float* out = tmp.data() + static_cast<size_t>(r - row_first) * row_floats;
    for (int o = 0; o < out_w; ++o) {
      const float* w = &hx.weights[static_cast<size_t>(o) * hx.stride];
      const float* s = src.data() + static_cast<size_t>(hx.start[o]) * 3;
      float a0 = 0, a1 = 0, a2 = 0;
      for (int k = 0; k < hx.count[o]; ++k) {
        a0 += w[k] * s[3 * k];
        a1 += w[k] * s[3 * k + 1];
        a2 += w[k] * s[3 * k + 2];
      }
      out[3 * o] = a0;
      out[3 * o + 1] = a1;
      out[3 * o + 2] = a2;
    }
  }

  // Vertical pass, then normalise into planes (mirrored when flipping).
  float scale[3], bias[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0f / (255.0f * stddev[c]);
    bias[c] = -mean[c] / stddev[c];
  }
  size_t plane = static_cast<size_t>(out_w) * out_h;
  std::vector<float> acc(row_floats);
  for (int o = 0; o < out_h; ++o) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const float* w = &vy.weights[static_cast<size_t>(o) * vy.stride];
    for (int k = 0; k < vy.count[o]; ++k) {
      const float* row = tmp.data() + static_cast<size_t>(vy.start[o] + k - row_first) * row_floats;
      for (size_t i = 0; i < row_floats; ++i) acc[i] += w[k] * row[i];
    }
    for (int x = 0; x < out_w; ++x) {
      size_t at = static_cast<size_t>(o) * out_w + (flip ? out_w - 1 - x : x);
      for (int c = 0; c < 3; ++c) dst[c * plane + at] = acc[3 * static_cast<size_t>(x) + c] * scale[c] + bias[c];
    }
  }
}

}  // namespace sublinear::runtime::data
