// Fused scaled dot-product attention, the FlashAttention idea on this planner: the forward keeps only
// the output and each query row's log-sum-exp of the scores, never the [Tq, Tk] score or probability
// matrix, and the backward recomputes the probabilities from q, k and the log-sum-exp. The planner then
// sees O(T) saved memory per head instead of O(T^2).
//
// Layout (PyTorch's scaled_dot_product_attention): q f32[..., Tq, D], k f32[..., Tk, D], v f32[..., Tk,
// Dv], the leading axes (batch, heads) equal in all three; y f32[..., Tq, Dv]. causal=true masks key j
// for query i when j > i (top-left aligned when Tq != Tk, as PyTorch's is_causal). scale defaults to
// 1 / sqrt(D).
#include <cmath>

#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

const char* kOp = "attention";

}  // namespace

void register_attention_ops(OpRegistry& r) {
  OpDef d;
  d.name = kOp;
  d.doc = "Fused softmax(q k^T * scale [causal mask]) v over the last two axes; saves only y and the row "
          "log-sum-exp";
  d.category = "linear";
  d.min_inputs = d.max_inputs = 3;
  d.input_names = {"q", "k", "v"};
  d.attrs = {optional_attr("causal", AttrKind::Bool, false, "mask keys after the query's position"),
             optional_attr("scale", AttrKind::Float, 0.0, "score multiplier; 0 means 1 / sqrt(D)")};
  d.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    expect_input_count(kOp, in, 3);
    const char* names[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; ++i) {
      expect_rank(kOp, names[i], in[i], 2, -1, "[..., T, D]");
      expect_dtype(kOp, names[i], in[i], DType::F32);
    }
    const TensorType &q = in[0], &k = in[1], &v = in[2];
    const size_t rank = static_cast<size_t>(q.rank());
    auto lead = [&](const TensorType& t) { return Shape(t.shape.begin(), t.shape.end() - 2); };
    if (static_cast<size_t>(k.rank()) != rank || static_cast<size_t>(v.rank()) != rank || lead(k) != lead(q) ||
        lead(v) != lead(q))
      fail(std::string(kOp) + ": q, k and v need the same leading axes (batch, heads)",
           {"q: " + q.str(), "k: " + k.str(), "v: " + v.str()});
    if (k.shape[rank - 1] != q.shape[rank - 1])
      fail(std::string(kOp) + ": q and k need the same last axis (the head dimension)", {"q: " + q.str(), "k: " + k.str()});
    if (v.shape[rank - 2] != k.shape[rank - 2])
      fail(std::string(kOp) + ": k and v need the same number of positions (axis -2)", {"k: " + k.str(), "v: " + v.str()});
    const double scale = attrs.get_float("scale");
    if (!(scale >= 0) || !std::isfinite(scale))
      fail(std::string(kOp) + ": scale must be positive (or 0 for 1 / sqrt(D)), got " + std::to_string(scale));
    Shape y = lead(q);
    y.push_back(q.shape[rank - 2]);
    y.push_back(v.shape[rank - 1]);
    Shape lse(q.shape.begin(), q.shape.end() - 1);
    return std::vector<TensorType>{{DType::F32, y}, {DType::F32, lse}};
  };
  d.visible_outputs = 1;  // output 1, the row log-sum-exp, exists for the backward
  d.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs& attrs) {
    const Shape& q = in[0].shape;
    const int64_t rank = static_cast<int64_t>(q.size());
    const int64_t rows = num_elements(q) / q[rank - 1];  // batch * heads * Tq
    const int64_t tk = in[1].shape[rank - 2], dk = q[rank - 1], dv = in[2].shape[rank - 1];
    // Scores and the weighted sum (2 flops per multiply-add each), exp and normalisation per score;
    // causal skips about half.
    int64_t per_row = tk * (2 * dk + 2 * dv + 4);
    if (attrs.get_bool("causal")) per_row /= 2;
    return Cost{rows * per_row, io_bytes(in, out)};
  };
  d.backward = {{0, 1, 2}, {0, 1}};
  r.add(std::move(d));
}

}  // namespace sublinear::ir
