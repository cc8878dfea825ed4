// reshape, flatten, transpose, concat, stack, split, slice and select on the CPU: pure data movement.
// Rules: forwards move elements of any dtype by their size; gradients are f32 (nothing else is
// differentiated). reshape and flatten may run in place (out over in, dx over dy): then there is
// nothing to move. Every joining/cutting op is a copy of blocks between a [outer, axis, inner] view of
// the big tensor and [outer, part, inner] views of the pieces; gradient blocks are written in input
// order, so two dx that are one buffer (concat(x, x)) get the first written and the second added.
#include <cstring>

#include "ir/check.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/cpu_util.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cpu {

namespace {

// Bytes one task copies at most, so that a single large block still spreads over the threads.
constexpr int64_t kCopyChunk = int64_t{1} << 16;

// For o in [0, outer): `bytes` from src + o * src_stride to dst + o * dst_stride (all in bytes).
void copy_blocks(char* dst, int64_t dst_stride, const char* src, int64_t src_stride, int64_t outer,
                 int64_t bytes) {
  const int64_t parts = (bytes + kCopyChunk - 1) / kCopyChunk;
  parallel_for(outer * parts, std::min(bytes, kCopyChunk) / 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / parts, b0 = (t % parts) * kCopyChunk, len = std::min(kCopyChunk, bytes - b0);
      std::memcpy(dst + o * dst_stride + b0, src + o * src_stride + b0, static_cast<size_t>(len));
    }
  });
}

// The gradient form of copy_blocks, in floats: dx blocks (+)= dy blocks; zeros (or untouched when
// accumulating) when dy is absent.
void grad_blocks(float* dx, int64_t dx_stride, const float* dy, int64_t dy_stride, int64_t outer, int64_t n,
                 bool accumulate) {
  if (dy == nullptr && accumulate) return;
  parallel_for(outer, n, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      float* d = dx + o * dx_stride;
      const float* s = dy == nullptr ? nullptr : dy + o * dy_stride;
      if (s == nullptr) std::fill(d, d + n, 0.0f);
      else if (accumulate)
        for (int64_t j = 0; j < n; ++j) d[j] += s[j];
      else if (d != s)
        std::memcpy(d, s, static_cast<size_t>(n) * sizeof(float));
    }
  });
}

const float* maybe_f32(const Tensor& t) { return t.present() ? t.f32() : nullptr; }

void expect_f32_gradient(const OpCall& c, size_t i) {
  SL_CHECK(c.dx[i].type.dtype == ir::DType::F32)
      << c.node->op << ": gradient of a " << c.dx[i].type.str() << " input requested";
}

// --- reshape, flatten ----------------------------------------------------------------------------------

void view_forward(const OpCall& c) {
  if (c.out[0].data == c.in[0].data) return;
  copy_blocks(static_cast<char*>(c.out[0].data), 0, static_cast<const char*>(c.in[0].data), 0, 1,
              c.in[0].bytes());
}

void view_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  expect_f32_gradient(c, 0);
  grad_blocks(c.dx[0].f32(), 0, maybe_f32(c.dy[0]), 0, 1, c.dx[0].numel(), grad_accumulates(c, 0));
}

// --- transpose -----------------------------------------------------------------------------------------

// f(out_offset, in_offset, n, in_step) for each run of n consecutive output elements; in_step is Step1
// for a contiguous run (so the copy vectorises) and the input stride otherwise.
template <typename F>
void for_each_transpose_run(const TransposePlan& p, const F& f) {
  const size_t outer_axes = p.dims.empty() ? 0 : p.dims.size() - 1;
  const int64_t inner = p.dims.empty() ? 1 : p.dims.back();
  const int64_t step = p.dims.empty() ? 1 : p.strides.back();
  int64_t rows = 1;
  for (size_t k = 0; k < outer_axes; ++k) rows *= p.dims[k];
  auto run = [&](auto in_step) {
    parallel_for(rows, inner, [&](int64_t r0, int64_t r1) {
      std::vector<int64_t> idx(outer_axes);
      int64_t off = 0, rem = r0;
      for (size_t k = outer_axes; k-- > 0;) {
        idx[k] = rem % p.dims[k];
        rem /= p.dims[k];
        off += idx[k] * p.strides[k];
      }
      for (int64_t r = r0; r < r1; ++r) {
        f(r * inner, off, inner, in_step);
        for (size_t k = outer_axes; k-- > 0;) {
          off += p.strides[k];
          if (++idx[k] < p.dims[k]) break;
          off -= idx[k] * p.strides[k];
          idx[k] = 0;
        }
      }
    });
  };
  if (step == 1) run(Step1{});
  else run(step);
}

template <typename T>
void transpose_copy(const OpCall& c, const TransposePlan& p) {
  const T* x = static_cast<const T*>(c.in[0].data);
  T* y = static_cast<T*>(c.out[0].data);
  for_each_transpose_run(p, [&](int64_t o, int64_t ia, int64_t n, auto step) {
    for (int64_t j = 0; j < n; ++j) y[o + j] = x[ia + j * step];
  });
}

void transpose_forward(const OpCall& c) {
  const TransposePlan p = make_transpose_plan(c.in[0].type.shape, c.node->attrs.get_int_list("perm"));
  switch (ir::dtype_size(c.in[0].type.dtype)) {
    case 2: transpose_copy<uint16_t>(c, p); break;
    case 4: transpose_copy<uint32_t>(c, p); break;
    default: SL_CHECK(false) << "transpose: unsupported element type " << c.in[0].type.str();
  }
}

void transpose_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  expect_f32_gradient(c, 0);
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) {
    zero_gradient(c.dx[0], acc);
    return;
  }
  // dx is dy moved back: every dx element is written by exactly one run.
  const TransposePlan p = make_transpose_plan(c.dx[0].type.shape, c.node->attrs.get_int_list("perm"));
  const float* g = c.dy[0].f32();
  float* dx = c.dx[0].f32();
  for_each_transpose_run(p, [&](int64_t o, int64_t ia, int64_t n, auto step) {
    if (acc) {
      for (int64_t j = 0; j < n; ++j) dx[ia + j * step] += g[o + j];
    } else {
      for (int64_t j = 0; j < n; ++j) dx[ia + j * step] = g[o + j];
    }
  });
}

// --- concat, stack, split ----------------------------------------------------------------------------

// Piece i <-> its block of the big tensor; `to_big` chooses the direction. Bytes of any dtype.
void move_piece(const Pieces& p, size_t i, char* big, char* piece, int64_t elem, bool to_big) {
  const int64_t row = p.extent[i] * p.inner * elem, big_row = p.total * p.inner * elem;
  char* b = big + p.start[i] * p.inner * elem;
  if (to_big) copy_blocks(b, big_row, piece, row, p.outer, row);
  else copy_blocks(piece, row, b, big_row, p.outer, row);
}

void join_forward(const OpCall& c) {
  const Pieces p = join_pieces(c, c.in);
  const int64_t elem = ir::dtype_size(c.out[0].type.dtype);
  for (size_t i = 0; i < c.in.size(); ++i)
    move_piece(p, i, static_cast<char*>(c.out[0].data), static_cast<char*>(c.in[i].data), elem, true);
}

void join_backward(const OpCall& c) {
  const Pieces p = join_pieces(c, c.dx);
  const float* g = maybe_f32(c.dy[0]);
  for (size_t i = 0; i < c.dx.size(); ++i) {
    if (!grad_wanted(c, i)) continue;
    expect_f32_gradient(c, i);
    const int64_t row = p.extent[i] * p.inner;
    grad_blocks(c.dx[i].f32(), row, g == nullptr ? nullptr : g + p.start[i] * p.inner, p.total * p.inner,
                p.outer, row, grad_accumulates(c, i));
  }
}

void split_forward(const OpCall& c) {
  const Pieces p = split_pieces(c);
  const int64_t elem = ir::dtype_size(c.in[0].type.dtype);
  for (size_t i = 0; i < c.out.size(); ++i)
    move_piece(p, i, static_cast<char*>(c.in[0].data), static_cast<char*>(c.out[i].data), elem, false);
}

void split_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  expect_f32_gradient(c, 0);
  const Pieces p = split_pieces(c);
  const bool acc = grad_accumulates(c, 0);
  float* dx = c.dx[0].f32();
  // The pieces tile dx, so each block is written once; an absent dy[i] is a block of zeros.
  for (size_t i = 0; i < c.dy.size(); ++i) {
    const int64_t row = p.extent[i] * p.inner;
    grad_blocks(dx + p.start[i] * p.inner, p.total * p.inner, maybe_f32(c.dy[i]), row, p.outer, row, acc);
  }
}

// --- slice, select -----------------------------------------------------------------------------------

// A stepped slice as rows: row (o, k) of `inner` elements is x's row o * dim + begin + k * step.
template <typename F>
void for_each_stepped_row(const Range& r, const F& f) {
  const int64_t count = r.count();
  parallel_for(r.outer * count, r.inner, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t o = q / count, k = q % count;
      f(q * r.inner, (o * r.dim + r.begin + k * r.step) * r.inner);
    }
  });
}

void take_forward(const OpCall& c) {
  const Range r = taken_range(c);
  const int64_t elem = ir::dtype_size(c.in[0].type.dtype);
  if (r.step > 1) {
    char* y = static_cast<char*>(c.out[0].data);
    const char* x = static_cast<const char*>(c.in[0].data);
    const size_t row = static_cast<size_t>(r.inner * elem);
    for_each_stepped_row(r, [&](int64_t yo, int64_t xo) { std::memcpy(y + yo * elem, x + xo * elem, row); });
    return;
  }
  const int64_t row = (r.end - r.begin) * r.inner * elem;
  copy_blocks(static_cast<char*>(c.out[0].data), row,
              static_cast<const char*>(c.in[0].data) + r.begin * r.inner * elem, r.dim * r.inner * elem, r.outer,
              row);
}

void take_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  expect_f32_gradient(c, 0);
  const Range r = taken_range(c);
  const bool acc = grad_accumulates(c, 0);
  float* dx = c.dx[0].f32();
  if (r.step > 1) {
    // Zeros between the taken rows, then each taken row (+)= its dy row: no dx element is written twice.
    const float* dy = maybe_f32(c.dy[0]);
    if (!acc) fill_f32(dx, 0.0f, c.dx[0].numel());
    if (dy == nullptr) return;
    for_each_stepped_row(r, [&](int64_t yo, int64_t xo) {
      for (int64_t j = 0; j < r.inner; ++j) dx[xo + j] += dy[yo + j];
    });
    return;
  }
  const int64_t stride = r.dim * r.inner, row = (r.end - r.begin) * r.inner;
  if (!acc) {
    // Outside the range the gradient is zero.
    grad_blocks(dx, stride, nullptr, 0, r.outer, r.begin * r.inner, false);
    grad_blocks(dx + r.end * r.inner, stride, nullptr, 0, r.outer, (r.dim - r.end) * r.inner, false);
  }
  grad_blocks(dx + r.begin * r.inner, stride, maybe_f32(c.dy[0]), row, r.outer, row, acc);
}

}  // namespace

void register_shape_kernels(KernelTable& t) {
  t.add("reshape", {view_forward, view_backward});
  t.add("flatten", {view_forward, view_backward});
  t.add("transpose", {transpose_forward, transpose_backward});
  t.add("concat", {join_forward, join_backward});
  t.add("stack", {join_forward, join_backward});
  t.add("split", {split_forward, split_backward});
  t.add("slice", {take_forward, take_backward});
  t.add("select", {take_forward, take_backward});
}

}  // namespace sublinear::runtime::cpu
