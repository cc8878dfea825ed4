// JPEG decoding with libjpeg-turbo. libjpeg reports fatal errors through error_exit, which by default
// prints and calls exit(); here it formats the message and longjmps back into decode_region, a function
// that holds no C++ object needing destruction (so the jump skips no destructor), and decode_jpeg turns
// the failure into an exception naming the file. The decompressor is destroyed by a guard in
// decode_jpeg on every path.
#include "train/data/jpeg_decode.h"

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <stdexcept>

#include <jerror.h>
#include <jpeglib.h>

namespace sublinear::runtime::data {

namespace {

// Decoded pixels reach this far beyond the region asked for (where the image has them), because
// libjpeg's smooth chroma upsampling treats the edges of a partial decode as image edges, which changes
// the outermost pixel: with the margin, the pixels of the region are those of a full decode.
constexpr int kMargin = 2;

struct ErrorManager {
  jpeg_error_mgr pub;  // first, so libjpeg's pointer to it is a pointer to the whole
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  char first_warning[JMSG_LENGTH_MAX];
  bool truncated;
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are not printed but remembered: libjpeg warns where the data is corrupt (a damaged scan,
// extraneous bytes, a premature end) and goes on decoding garbage or grey, which would then be trained
// on silently. decode_jpeg makes the first warning an error naming the file.
void on_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;  // trace messages
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) err->truncated = true;
  if (cinfo->err->num_warnings == 0) (*cinfo->err->format_message)(cinfo, err->first_warning);
  cinfo->err->num_warnings++;
}

// Adobe applications write CMYK inverted (and flag it with their APP14 marker); plain CMYK is not.
void cmyk_to_rgb(const uint8_t* cmyk, uint8_t* rgb, int pixels, bool inverted) {
  for (int i = 0; i < pixels; ++i, cmyk += 4, rgb += 3) {
    int k = inverted ? cmyk[3] : 255 - cmyk[3];
    for (int c = 0; c < 3; ++c) {
      int v = inverted ? cmyk[c] : 255 - cmyk[c];
      rgb[c] = static_cast<uint8_t>((v * k + 127) / 255);
    }
  }
}

using Plan = std::function<JpegRegion(int, int)>;

// Every libjpeg call that can fail, between the setjmp and any longjmp. Returns false with
// err->message set when libjpeg failed.
bool decode_region(jpeg_decompress_struct* cinfo, ErrorManager* err, const uint8_t* data, size_t size,
                   const Plan* plan, JpegImage* out, std::vector<uint8_t>* row) {
  if (setjmp(err->jump)) return false;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  out->full_width = static_cast<int>(cinfo->image_width);
  out->full_height = static_cast<int>(cinfo->image_height);
  // Huffman coding spends at least one bit on every 8x8 block's DC coefficient (there are no runs across
  // blocks for DC), so a file smaller than that cannot hold the image its header claims: refused before
  // an allocation of the claimed size (a 700-byte file claiming 20000x20000 asked for 1.2 GB).
  // Arithmetic coding can go below a bit per block, so it is left to the truncation check.
  const uint64_t blocks = ((uint64_t{cinfo->image_width} + 7) / 8) * ((uint64_t{cinfo->image_height} + 7) / 8);
  if (!cinfo->arith_code && blocks > static_cast<uint64_t>(size) * 8) {
    std::snprintf(err->message, sizeof err->message,
                  "the header claims %ux%u pixels, more than its %zu bytes can hold (a damaged or forged header)",
                  static_cast<unsigned>(cinfo->image_width), static_cast<unsigned>(cinfo->image_height), size);
    return false;
  }
  JpegRegion region;
  if (*plan) region = (*plan)(out->full_width, out->full_height);
  if (region.width <= 0 || region.height <= 0) {
    region = JpegRegion{0, 0, static_cast<double>(out->full_width), static_cast<double>(out->full_height),
                        region.scale_denom};
  }
  int denom = region.scale_denom;
  out->scale_denom = denom == 2 || denom == 4 || denom == 8 ? denom : 1;
  cinfo->scale_num = 1;
  cinfo->scale_denom = static_cast<unsigned>(out->scale_denom);
  bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(cinfo);
  int sw = static_cast<int>(cinfo->output_width), sh = static_cast<int>(cinfo->output_height);
  out->scaled_width = sw;
  out->scaled_height = sh;

  // The region in scaled pixels, widened by the margin and clipped to the image.
  double fx = static_cast<double>(sw) / out->full_width, fy = static_cast<double>(sh) / out->full_height;
  int x0 = std::clamp(static_cast<int>(std::floor(region.x * fx)) - kMargin, 0, sw - 1);
  int x1 = std::clamp(static_cast<int>(std::ceil((region.x + region.width) * fx)) + kMargin, x0 + 1, sw);
  int y0 = std::clamp(static_cast<int>(std::floor(region.y * fy)) - kMargin, 0, sh - 1);
  int y1 = std::clamp(static_cast<int>(std::ceil((region.y + region.height) * fy)) + kMargin, y0 + 1, sh);
  JDIMENSION xoff = static_cast<JDIMENSION>(x0), cw = static_cast<JDIMENSION>(x1 - x0);
  if (x0 > 0 || x1 < sw) jpeg_crop_scanline(cinfo, &xoff, &cw);  // moves xoff left to an iMCU boundary
  out->x0 = static_cast<int>(xoff);
  out->y0 = y0;
  out->width = static_cast<int>(cinfo->output_width);
  out->height = y1 - y0;
  out->rgb.resize(static_cast<size_t>(out->width) * out->height * 3);
  if (y0 > 0) jpeg_skip_scanlines(cinfo, static_cast<JDIMENSION>(y0));
  int comps = cinfo->output_components;
  row->resize(static_cast<size_t>(out->width) * comps);
  for (int y = 0; y < out->height; ++y) {
    uint8_t* dst = out->rgb.data() + static_cast<size_t>(y) * out->width * 3;
    JSAMPROW rows[1] = {cmyk ? row->data() : dst};
    if (jpeg_read_scanlines(cinfo, rows, 1) != 1) {
      err->truncated = true;
      return true;
    }
    if (cmyk) cmyk_to_rgb(row->data(), dst, out->width, cinfo->saw_Adobe_marker);
  }
  // The rows below the region are never read, so the decompression is aborted rather than finished.
  jpeg_abort_decompress(cinfo);
  return true;
}

struct DecompressGuard {
  jpeg_decompress_struct* cinfo;
  ~DecompressGuard() { jpeg_destroy_decompress(cinfo); }
};

std::runtime_error decode_error(const std::string& name, const char* why) {
  std::string msg = "cannot decode ";
  msg += name;
  msg += ": ";
  msg += why;
  return std::runtime_error(msg);
}

}  // namespace

JpegImage decode_jpeg(const std::string& name, const uint8_t* data, size_t size, const Plan& plan) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.message[0] = '\0';
  err.first_warning[0] = '\0';
  err.truncated = false;
  jpeg_create_decompress(&cinfo);
  DecompressGuard guard{&cinfo};
  JpegImage out;
  std::vector<uint8_t> row;
  if (size == 0) throw decode_error(name, "the file is empty");
  if (!decode_region(&cinfo, &err, data, size, &plan, &out, &row)) throw decode_error(name, err.message);
  if (err.truncated) throw decode_error(name, "the file is truncated (premature end of JPEG data)");
  if (err.pub.num_warnings > 0)
    throw decode_error(name, (std::string("the data is corrupt (") + err.first_warning + ")").c_str());
  return out;
}

}  // namespace sublinear::runtime::data
