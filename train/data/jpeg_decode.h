#pragma once
// JPEG decoding for the data sources, on libjpeg-turbo's libjpeg API. Rules: the output is always RGB
// (grayscale is replicated, CMYK/YCCK are converted, with Adobe's inverted CMYK recognised); a corrupt
// or truncated file is a std::runtime_error naming the file, never an exit (libjpeg's default) or a
// crash; warnings about recoverable damage (extraneous bytes) are tolerated as other decoders do. Only
// the part of the image a caller needs is decoded, at the coarsest DCT scale that still gives it
// enough pixels: that is most of the speed of an ImageNet pipeline.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sublinear::runtime::data {

// A region of the image in full-resolution pixel coordinates (fractional allowed), and the DCT
// scaling to decode it at: 1, 2, 4 or 8 decode at 1/scale_denom of the full size.
struct JpegRegion {
  double x = 0, y = 0, width = 0, height = 0;  // width or height <= 0: the whole image
  int scale_denom = 1;
};

struct JpegImage {
  int full_width = 0, full_height = 0;      // the image as stored
  int scale_denom = 1;
  int scaled_width = 0, scaled_height = 0;  // the size decoded at 1/scale_denom (rounded up)
  int x0 = 0, y0 = 0;                       // where `rgb` starts in the scaled image
  int width = 0, height = 0;                // the pixels decoded: a superset of the region asked for
  std::vector<uint8_t> rgb;                 // `height` rows of `width` RGB pixels
};

// Decodes `data` (called `name` in errors). `plan`, when given, is called with the full size once the
// header is read and returns the region to decode; without it the whole image is decoded. Throws
// std::runtime_error("cannot decode <name>: <why>") on corrupt data.
JpegImage decode_jpeg(const std::string& name, const uint8_t* data, size_t size,
                      const std::function<JpegRegion(int width, int height)>& plan = {});

}  // namespace sublinear::runtime::data
