#pragma once
// The ImageNet training augmentation, as torchvision's RandomResizedCrop + RandomHorizontalFlip +
// Normalize: a crop drawn in full-resolution pixels, resized with an antialiased bilinear (triangle)
// filter like PIL's, optionally mirrored, then (x / 255 - mean) / std into CHW floats. Random draws
// come from a caller-given function of a draw number, so a sample's augmentation is a pure function of
// its seed and does not depend on which thread produces it.
#include <functional>

#include "train/data/jpeg_decode.h"

namespace sublinear::runtime::data {

struct CropBox {
  int x = 0, y = 0, width = 0, height = 0;  // full-resolution pixels
};

// torchvision's RandomResizedCrop.get_params: up to 10 tries of an area fraction uniform in
// [min_scale, max_scale] and a log-uniform aspect ratio in [3/4, 4/3], then a centre crop clipped to
// that ratio range. `uniform(k)` is the k-th uniform draw in [0, 1) of this sample.
CropBox random_resized_crop(int width, int height, double min_scale, double max_scale,
                            const std::function<double(int)>& uniform);

// The coarsest JPEG DCT scale (1, 2, 4 or 8) at which the crop still has at least out_w x out_h
// pixels, so decoding is cheaper and the resize only ever shrinks by less than 2x or enlarges.
int dct_scale_for(const CropBox& crop, int out_w, int out_h);

// Resizes `crop` of `img` (whose pixels must cover it) to out_w x out_h, mirrors it when `flip`, and
// writes (x / 255 - mean[c]) / std[c] as 3 planes of out_h x out_w floats to `dst`.
void resize_normalise(const JpegImage& img, const CropBox& crop, int out_w, int out_h, bool flip,
                      const float mean[3], const float stddev[3], float* dst);

}  // namespace sublinear::runtime::data
