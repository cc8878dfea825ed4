#pragma once
// The `data:` section of an experiment (train/experiment_config.h parses it from YAML).
#include <cstdint>
#include <string>
#include <vector>

#include "train/config_error.h"

namespace sublinear::runtime::data {

struct DataConfig {
  std::string kind = "synthetic";  // synthetic | imagenet | text
  std::string root;                // imagenet: a folder of class folders, root/<class>/*.JPEG
  std::string path;                // text: a file
  std::string level = "char";      // text: "char" (vocabulary = the file's distinct bytes) or "byte" (256)
  int workers = 4;                 // decoding threads (imagenet)
  int prefetch = 4;                // batches prepared ahead of the trainer
  bool shuffle = true;
  // imagenet: what a file that cannot be read or decoded does. "error" stops the run naming the file;
  // "skip" replaces the sample by the next image of the epoch's order that decodes, and the trainer
  // counts and logs what was replaced.
  std::string bad_images = "error";
  // imagenet augmentation: random-resized-crop of area fraction [min_scale, max_scale] and aspect ratio
  // [3/4, 4/3] resized to the model's input size, horizontal flip, then (x / 255 - mean) / std.
  double min_scale = 0.08;
  double max_scale = 1.0;
  bool flip = true;
  std::vector<double> mean = {0.485, 0.456, 0.406};
  std::vector<double> std = {0.229, 0.224, 0.225};
  ConfigLocs locs;                 // where each data.* key was set, for errors raised when opening
};

}  // namespace sublinear::runtime::data
