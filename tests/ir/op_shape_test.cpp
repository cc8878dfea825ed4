// Shape inference, parameter creation, error messages and metadata of the built-in ops.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "ir/op_registry.h"

namespace sublinear::ir {
// Readable gtest failures: "f32[2, 3]" instead of a byte dump.
void PrintTo(const TensorType& t, std::ostream* os) { *os << t.str(); }
}  // namespace sublinear::ir

namespace ir = sublinear::ir;
using ir::DType;
using ir::Shape;
using ir::TensorType;
using AttrList = std::vector<std::pair<std::string, ir::AttrValue>>;
using Types = std::vector<TensorType>;

namespace {

TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }
TensorType i32(Shape s) { return {DType::I32, std::move(s)}; }
ir::AttrValue ints(std::vector<int64_t> v) { return v; }
ir::AttrValue i64(int64_t v) { return v; }

const ir::OpDef& def(const std::string& name) {
  const ir::OpDef* d = ir::OpRegistry::global().find(name);
  if (!d) throw std::runtime_error("op not registered: " + name);
  return *d;
}

// What the frontend does for one call: validate attributes, create parameters, infer over data
// inputs followed by parameters.
struct Inst {
  ir::Attrs attrs;
  std::vector<ir::ParamSpec> params;
  Types inputs;
  Types outputs;
};

Inst instantiate(const std::string& op, const Types& data, const AttrList& attrs = {}) {
  const ir::OpDef& d = def(op);
  Inst r;
  r.attrs = ir::validate_attrs(d, attrs);
  r.inputs = data;
  if (d.params) {
    r.params = d.params(data, r.attrs);
    for (const auto& p : r.params) r.inputs.push_back(p.type);
  }
  r.outputs = d.infer(r.inputs, r.attrs);
  return r;
}

Types infer(const std::string& op, const Types& data, const AttrList& attrs = {}) {
  return instantiate(op, data, attrs).outputs;
}

// The ShapeError's message and extra lines, one per line; "" (and a test failure) if none was thrown.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ir::ShapeError& e) {
    std::string out = e.what();
    for (const auto& line : e.extra()) out += "\n" + line;
    return out;
  }
  ADD_FAILURE() << "expected a ShapeError";
  return "";
}

std::string infer_error(const std::string& op, const Types& data, const AttrList& attrs = {}) {
  return error_of([&] { instantiate(op, data, attrs); });
}

#define EXPECT_CONTAINS(haystack, needle)                                  \
  do {                                                                     \
    const std::string h_ = (haystack);                                     \
    EXPECT_NE(h_.find(needle), std::string::npos) << "in: " << h_;         \
  } while (0)

void expect_param(const ir::ParamSpec& p, const std::string& name, const TensorType& type,
                  const std::string& init, bool trainable = true) {
  EXPECT_EQ(p.name, name);
  EXPECT_EQ(p.type, type) << p.name << " is " << p.type.str();
  EXPECT_EQ(p.init, init) << p.name;
  EXPECT_EQ(p.trainable, trainable) << p.name;
}

// --- validate_attrs ------------------------------------------------------------------------------------

TEST(ValidateAttrs, FillsDefaultsAndBroadcastsInts) {
  ir::Attrs a = ir::validate_attrs(def("conv2d"), {{"out", i64(8)}, {"kernel", i64(3)}});
  EXPECT_EQ(a.get_int_list("kernel"), std::vector<int64_t>{3});
  EXPECT_EQ(a.get_ints("kernel", 2), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(a.get_ints("stride", 2), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(a.get_int("groups"), 1);
  EXPECT_TRUE(a.get_bool("bias"));
  ir::Attrs s = ir::validate_attrs(def("scale"), {{"factor", i64(2)}});
  EXPECT_DOUBLE_EQ(s.get_float("factor"), 2.0);
}

TEST(ValidateAttrs, UnknownAttributeSuggests) {
  std::string e = error_of([] { ir::validate_attrs(def("conv2d"), {{"kernal", i64(3)}}); });
  EXPECT_CONTAINS(e, "unknown attribute 'kernal'");
  EXPECT_CONTAINS(e, "did you mean 'kernel'");
}

TEST(ValidateAttrs, WrongKind) {
  std::string e = error_of([] {
    ir::validate_attrs(def("conv2d"), {{"out", std::string("wide")}, {"kernel", i64(3)}});
  });
  EXPECT_CONTAINS(e, "'out'");
  EXPECT_CONTAINS(e, "expects int");
}

TEST(ValidateAttrs, MissingRequired) {
  std::string e = error_of([] { ir::validate_attrs(def("conv2d"), {{"kernel", i64(3)}}); });
  EXPECT_CONTAINS(e, "missing required attribute 'out'");
}

TEST(ValidateAttrs, BadChoice) {
  std::string e = error_of([] {
    ir::validate_attrs(def("softmax_cross_entropy"), {{"reduction", std::string("avg")}});
  });
  EXPECT_CONTAINS(e, "must be one of");
  EXPECT_CONTAINS(e, "\"avg\"");
}

// --- sources -------------------------------------------------------------------------------------------

TEST(SourceOps, InputAndParam) {
  EXPECT_EQ(infer("input", {}, {{"shape", ints({32, 3, 224, 224})}})[0], f32({32, 3, 224, 224}));
  EXPECT_EQ(infer("input", {}, {{"shape", ints({32})}, {"dtype", std::string("i32")}})[0], i32({32}));
  Inst p = instantiate("param", {}, {{"shape", ints({10, 5})}, {"init", std::string("xavier")}});
  EXPECT_EQ(p.outputs, Types{f32({10, 5})});
  EXPECT_EQ(p.attrs.get_string("init"), "xavier");
  EXPECT_TRUE(p.attrs.get_bool("trainable"));
  EXPECT_DOUBLE_EQ(p.attrs.get_float("std"), 0.01);
  EXPECT_TRUE(def("input").is_source);
  EXPECT_TRUE(def("param").is_source);
  EXPECT_FALSE(def("param").recomputable);
  EXPECT_FALSE(def("input").differentiable);
}

TEST(SourceOps, Errors) {
  EXPECT_CONTAINS(infer_error("input", {}, {{"shape", ints({32, 0})}}), "[32, 0]");
  EXPECT_CONTAINS(infer_error("input", {}, {}), "missing required attribute 'shape'");
  EXPECT_CONTAINS(infer_error("param", {}, {{"shape", ints({3})}, {"init", std::string("he")}}),
                  "must be one of");
}

TEST(SourceOps, Fills) {
  EXPECT_EQ(infer("zeros", {})[0], f32({}));
  EXPECT_EQ(infer("ones", {}, {{"shape", ints({2, 3})}, {"dtype", std::string("i32")}})[0], i32({2, 3}));
  EXPECT_EQ(infer("full", {}, {{"shape", ints({4})}, {"value", 0.5}})[0], f32({4}));
  EXPECT_CONTAINS(infer_error("full", {}, {{"shape", ints({4})}}), "missing required attribute 'value'");
  EXPECT_FALSE(def("zeros").is_source);
  EXPECT_TRUE(def("full").cheap);
}

// --- conv2d --------------------------------------------------------------------------------------------

TEST(Conv2d, ShapesAndParams) {
  Inst c = instantiate("conv2d", {f32({32, 3, 224, 224})},
                       {{"out", i64(64)}, {"kernel", i64(7)}, {"stride", i64(2)}, {"pad", i64(3)}});
  EXPECT_EQ(c.outputs, Types{f32({32, 64, 112, 112})});
  ASSERT_EQ(c.params.size(), 2u);
  expect_param(c.params[0], "weight", f32({64, 3, 7, 7}), "kaiming");
  EXPECT_EQ(c.params[0].fan_in, 3 * 7 * 7);
  expect_param(c.params[1], "bias", f32({64}), "zeros");

  Inst g = instantiate("conv2d", {f32({2, 32, 10, 12})},
                       {{"out", i64(64)}, {"kernel", ints({3, 1})}, {"groups", i64(4)},
                        {"dilation", ints({2, 1})}, {"bias", false}});
  EXPECT_EQ(g.outputs, Types{f32({2, 64, 6, 12})});
  ASSERT_EQ(g.params.size(), 1u);
  expect_param(g.params[0], "weight", f32({64, 8, 3, 1}), "kaiming");
  EXPECT_EQ(g.params[0].fan_in, 8 * 3);
}

TEST(Conv2d, Cost) {
  Inst c = instantiate("conv2d", {f32({1, 4, 8, 8})},
                       {{"out", i64(8)}, {"kernel", i64(3)}, {"pad", i64(1)}, {"groups", i64(2)}});
  ir::Cost cost = def("conv2d").cost(c.inputs, c.outputs, c.attrs);
  int64_t outs = 1 * 8 * 8 * 8;
  EXPECT_EQ(cost.flops, 2 * outs * 2 * 3 * 3 + outs);
  EXPECT_EQ(cost.bytes, 4 * (4 * 64 + 8 * 2 * 9 + 8 + outs));
}

TEST(Conv2d, Errors) {
  AttrList k3{{"out", i64(8)}, {"kernel", i64(3)}};
  EXPECT_CONTAINS(infer_error("conv2d", {f32({2, 3, 8})}, k3), "rank 4");
  EXPECT_CONTAINS(infer_error("conv2d", {f32({2, 3, 8})}, k3), "f32[2, 3, 8]");
  EXPECT_CONTAINS(infer_error("conv2d", {i32({2, 3, 8, 8})}, k3), "must be f32");
  std::string e = infer_error("conv2d", {f32({2, 6, 8, 8})},
                              {{"out", i64(8)}, {"kernel", i64(3)}, {"groups", i64(4)}});
  EXPECT_CONTAINS(e, "input channels 6");
  EXPECT_CONTAINS(e, "groups=4");
  EXPECT_CONTAINS(infer_error("conv2d", {f32({2, 8, 8, 8})},
                              {{"out", i64(6)}, {"kernel", i64(3)}, {"groups", i64(4)}}),
                  "out=6");
  e = infer_error("conv2d", {f32({2, 3, 4, 4})}, {{"out", i64(8)}, {"kernel", i64(5)}});
  EXPECT_CONTAINS(e, "does not fit");
  EXPECT_CONTAINS(e, "f32[2, 3, 4, 4]");
  // Overhanging by less than a stride must not round up to one output.
  EXPECT_CONTAINS(infer_error("conv2d", {f32({1, 1, 4, 4})},
                              {{"out", i64(1)}, {"kernel", i64(5)}, {"stride", i64(2)}}),
                  "does not fit");
  EXPECT_CONTAINS(infer_error("conv2d", {f32({2, 3, 8, 8})}, {{"out", i64(0)}, {"kernel", i64(3)}}),
                  "'out' must be positive");
  EXPECT_CONTAINS(infer_error("conv2d", {f32({2, 3, 8, 8})},
                              {{"out", i64(4)}, {"kernel", i64(3)}, {"stride", i64(0)}}),
                  "'stride'");
  EXPECT_CONTAINS(infer_error("conv2d", {f32({2, 3, 8, 8})},
                              {{"out", i64(4)}, {"kernel", ints({3, 3, 3})}}),
                  "needs 1 or 2 entries");
  // params() reports the same problem before any parameter exists.
  ir::Attrs a = ir::validate_attrs(def("conv2d"), k3);
  EXPECT_CONTAINS(error_of([&] { def("conv2d").params({f32({3, 8, 8})}, a); }), "rank 4");
  // A parameter of the wrong shape is caught by infer.
  EXPECT_CONTAINS(error_of([&] {
                    def("conv2d").infer({f32({2, 3, 8, 8}), f32({8, 3, 5, 5}), f32({8})}, a);
                  }),
                  "parameter 'weight'");
}

// --- batch_norm ----------------------------------------------------------------------------------------

TEST(BatchNorm, ShapesAndParams) {
  Inst b = instantiate("batch_norm", {f32({8, 16, 5, 5})});
  EXPECT_EQ(b.outputs, (Types{f32({8, 16, 5, 5}), f32({16}), f32({16})}));
  ASSERT_EQ(b.params.size(), 4u);
  expect_param(b.params[0], "gamma", f32({16}), "ones");
  expect_param(b.params[1], "beta", f32({16}), "zeros");
  expect_param(b.params[2], "running_mean", f32({16}), "zeros", false);
  expect_param(b.params[3], "running_var", f32({16}), "ones", false);
  EXPECT_EQ(infer("batch_norm", {f32({8, 3})})[0], f32({8, 3}));
  const ir::OpDef& d = def("batch_norm");
  EXPECT_EQ(d.visible_outputs, 1);
  EXPECT_EQ(d.backward.inputs, (std::vector<int>{0, 1}));
  EXPECT_EQ(d.backward.outputs, (std::vector<int>{1, 2}));
  EXPECT_TRUE(d.inplace.empty());
  EXPECT_TRUE(d.cheap);
}

TEST(BatchNorm, ChannelAxis) {
  Inst b = instantiate("batch_norm", {f32({8, 100, 16})}, {{"axis", i64(-1)}});
  EXPECT_EQ(b.outputs, (Types{f32({8, 100, 16}), f32({16}), f32({16})}));
  expect_param(b.params[0], "gamma", f32({16}), "ones");
  expect_param(b.params[3], "running_var", f32({16}), "ones", false);
  EXPECT_EQ(infer("batch_norm", {f32({8, 3, 7, 7})}, {{"axis", i64(2)}})[1], f32({7}));
  EXPECT_CONTAINS(infer_error("batch_norm", {f32({8, 3})}, {{"axis", i64(0)}}), "is the batch axis");
  EXPECT_CONTAINS(infer_error("batch_norm", {f32({8, 3})}, {{"axis", i64(-2)}}), "is the batch axis");
  EXPECT_CONTAINS(infer_error("batch_norm", {f32({8, 3})}, {{"axis", i64(2)}}), "axis");
}

TEST(BatchNorm, Errors) {
  EXPECT_CONTAINS(infer_error("batch_norm", {f32({8})}), "rank 2 to 5");
  EXPECT_CONTAINS(infer_error("batch_norm", {f32({1, 2, 3, 4, 5, 6})}), "f32[1, 2, 3, 4, 5, 6]");
  EXPECT_CONTAINS(infer_error("batch_norm", {f32({8, 3})}, {{"eps", 0.0}}), "eps");
  ir::Attrs a = ir::validate_attrs(def("batch_norm"), {});
  std::string e = error_of([&] {
    def("batch_norm").infer({f32({8, 3}), f32({3}), f32({4}), f32({3}), f32({3})}, a);
  });
  EXPECT_CONTAINS(e, "parameter 'beta'");
  EXPECT_CONTAINS(e, "f32[4]");
  EXPECT_CONTAINS(error_of([&] { def("batch_norm").infer({f32({8, 3})}, a); }), "expected 5 inputs");
}

// --- activations ---------------------------------------------------------------------------------------

TEST(Activations, ShapesAndMetadata) {
  for (const char* op : {"relu", "sigmoid", "tanh", "dropout"}) {
    SCOPED_TRACE(op);
    EXPECT_EQ(infer(op, {f32({4, 5})})[0], f32({4, 5}));
    EXPECT_CONTAINS(infer_error(op, {i32({4, 5})}), "must be f32, got i32[4, 5]");
    const ir::OpDef& d = def(op);
    ASSERT_EQ(d.inplace.size(), 1u);
    EXPECT_TRUE(d.cheap);
    EXPECT_TRUE(d.backward.inputs.empty());
  }
  EXPECT_EQ(def("relu").backward.outputs, std::vector<int>{0});
  EXPECT_EQ(def("tanh").backward.outputs, std::vector<int>{0});
  EXPECT_TRUE(def("dropout").backward.outputs.empty());
}

TEST(Activations, DropoutRate) {
  EXPECT_EQ(infer("dropout", {f32({3})}, {{"rate", 0.0}})[0], f32({3}));
  EXPECT_CONTAINS(infer_error("dropout", {f32({3})}, {{"rate", 1.0}}), "[0, 1)");
  EXPECT_CONTAINS(infer_error("dropout", {f32({3})}, {{"rate", -0.1}}), "rate");
}

// --- pooling -------------------------------------------------------------------------------------------

TEST(Pool, Shapes) {
  EXPECT_EQ(infer("max_pool", {f32({2, 64, 112, 112})},
                  {{"kernel", i64(3)}, {"stride", i64(2)}, {"pad", i64(1)}})[0],
            f32({2, 64, 56, 56}));
  // Stride defaults to the kernel.
  EXPECT_EQ(infer("avg_pool", {f32({2, 4, 8, 9})}, {{"kernel", i64(2)}})[0], f32({2, 4, 4, 4}));
  EXPECT_EQ(infer("avg_pool", {f32({2, 4, 8, 9})}, {{"kernel", ints({2, 3})}})[0], f32({2, 4, 4, 3}));
  EXPECT_EQ(infer("global_avg_pool", {f32({2, 512, 7, 7})})[0], f32({2, 512}));
  EXPECT_EQ(def("max_pool").backward.inputs, std::vector<int>{0});
  EXPECT_EQ(def("max_pool").backward.outputs, std::vector<int>{0});
  EXPECT_TRUE(def("avg_pool").backward.inputs.empty());
  EXPECT_TRUE(def("avg_pool").backward.outputs.empty());
  Inst p = instantiate("avg_pool", {f32({1, 1, 4, 4})}, {{"kernel", i64(2)}});
  EXPECT_TRUE(p.attrs.get_bool("count_include_pad"));
}

TEST(Pool, Errors) {
  EXPECT_CONTAINS(infer_error("max_pool", {f32({2, 4, 8})}, {{"kernel", i64(2)}}), "rank 4");
  EXPECT_CONTAINS(infer_error("max_pool", {f32({2, 4, 8, 8})}, {{"kernel", i64(3)}, {"pad", i64(2)}}),
                  "at most half the kernel");
  std::string e = infer_error("avg_pool", {f32({2, 4, 2, 2})}, {{"kernel", i64(3)}});
  EXPECT_CONTAINS(e, "does not fit");
  EXPECT_CONTAINS(e, "f32[2, 4, 2, 2]");
  EXPECT_CONTAINS(infer_error("global_avg_pool", {f32({2, 4})}), "rank 4");
  EXPECT_CONTAINS(infer_error("max_pool", {f32({2, 4, 8, 8})}, {{"kernal", i64(3)}}),
                  "did you mean 'kernel'");
}

// --- linear, matmul, embedding -------------------------------------------------------------------------

TEST(Linear, ShapesAndParams) {
  Inst l = instantiate("linear", {f32({32, 2048})}, {{"units", i64(1000)}});
  EXPECT_EQ(l.outputs, Types{f32({32, 1000})});
  ASSERT_EQ(l.params.size(), 2u);
  expect_param(l.params[0], "weight", f32({1000, 2048}), "xavier");
  EXPECT_EQ(l.params[0].fan_in, 2048);
  expect_param(l.params[1], "bias", f32({1000}), "zeros");
  ir::Cost c = def("linear").cost(l.inputs, l.outputs, l.attrs);
  EXPECT_EQ(c.flops, 2 * 32 * 2048 * 1000 + 32 * 1000);

  Inst seq = instantiate("linear", {f32({4, 7, 16})}, {{"units", i64(8)}, {"bias", false}});
  EXPECT_EQ(seq.outputs, Types{f32({4, 7, 8})});
  EXPECT_EQ(seq.params.size(), 1u);
}

TEST(Linear, Errors) {
  EXPECT_CONTAINS(infer_error("linear", {f32({16})}, {{"units", i64(4)}}), "rank >= 2");
  EXPECT_CONTAINS(infer_error("linear", {f32({2, 16})}, {{"units", i64(-4)}}), "'units' must be positive");
  EXPECT_CONTAINS(infer_error("linear", {f32({2, 16})}, {}), "missing required attribute 'units'");
}

TEST(Matmul, Shapes) {
  EXPECT_EQ(infer("matmul", {f32({3, 4}), f32({4, 5})})[0], f32({3, 5}));
  EXPECT_EQ(infer("matmul", {f32({2, 3, 4}), f32({4, 5})})[0], f32({2, 3, 5}));
  EXPECT_EQ(infer("matmul", {f32({2, 3, 4}), f32({2, 4, 5})})[0], f32({2, 3, 5}));
  EXPECT_EQ(infer("matmul", {f32({4, 3}), f32({5, 4})}, {{"transpose_a", true}, {"transpose_b", true}})[0],
            f32({3, 5}));
  Inst m = instantiate("matmul", {f32({2, 3, 4}), f32({4, 5})});
  EXPECT_EQ(def("matmul").cost(m.inputs, m.outputs, m.attrs).flops, 2 * 2 * 3 * 4 * 5);
}

TEST(Matmul, Errors) {
  std::string e = infer_error("matmul", {f32({3, 4}), f32({5, 6})});
  EXPECT_CONTAINS(e, "f32[3, 4]");
  EXPECT_CONTAINS(e, "f32[5, 6]");
  EXPECT_CONTAINS(e, "inner dimensions");
  EXPECT_CONTAINS(infer_error("matmul", {f32({2, 3, 4}), f32({3, 4, 5})}), "leading");
  EXPECT_CONTAINS(infer_error("matmul", {f32({3, 4}), f32({4})}), "rank 2");
  EXPECT_CONTAINS(infer_error("matmul", {f32({4}), f32({4, 2})}), "rank >= 2");
  EXPECT_CONTAINS(infer_error("matmul", {f32({3, 4}), i32({4, 2})}), "must be f32");
}

TEST(Embedding, ShapesAndParams) {
  Inst e = instantiate("embedding", {i32({32, 20})}, {{"vocab", i64(10000)}, {"dim", i64(256)}});
  EXPECT_EQ(e.outputs, Types{f32({32, 20, 256})});
  ASSERT_EQ(e.params.size(), 1u);
  expect_param(e.params[0], "weight", f32({10000, 256}), "normal");
  EXPECT_EQ(def("embedding").backward.inputs, std::vector<int>{0});
  EXPECT_CONTAINS(infer_error("embedding", {f32({32})}, {{"vocab", i64(10)}, {"dim", i64(4)}}),
                  "must be i32, got f32[32]");
  EXPECT_CONTAINS(infer_error("embedding", {i32({32})}, {{"vocab", i64(10)}}),
                  "missing required attribute 'dim'");
}

// --- elementwise ---------------------------------------------------------------------------------------

TEST(Elementwise, Broadcasting) {
  EXPECT_EQ(infer("add", {f32({2, 3}), f32({2, 3})})[0], f32({2, 3}));
  EXPECT_EQ(infer("sub", {f32({4, 1, 3}), f32({5, 1})})[0], f32({4, 5, 3}));
  EXPECT_EQ(infer("mul", {f32({}), f32({2, 3})})[0], f32({2, 3}));
  EXPECT_EQ(infer("add", {f32({8, 16, 4, 4}), f32({16, 1, 1})})[0], f32({8, 16, 4, 4}));
}

TEST(Elementwise, Errors) {
  std::string e = infer_error("add", {f32({2, 3}), f32({3, 2})});
  EXPECT_CONTAINS(e, "add: shapes f32[2, 3] and f32[3, 2] do not broadcast");
  EXPECT_CONTAINS(e, "left:  f32[2, 3]");
  EXPECT_CONTAINS(e, "right: f32[3, 2]");
  EXPECT_CONTAINS(infer_error("mul", {f32({2}), i32({2})}), "f32[2] and i32[2]");
  EXPECT_CONTAINS(infer_error("sub", {i32({2}), i32({2})}), "must be f32");
}

TEST(Elementwise, WhereBroadcastsAllThree) {
  EXPECT_EQ(infer("where", {i32({2, 1}), f32({2, 3}), f32({})})[0], f32({2, 3}));
  EXPECT_EQ(infer("where", {f32({4, 1, 1}), f32({3, 1}), f32({5})})[0], f32({4, 3, 5}));
  EXPECT_CONTAINS(infer_error("where", {i32({2}), f32({3}), f32({3})}), "do not broadcast");
  EXPECT_CONTAINS(infer_error("where", {i32({3}), i32({3}), f32({3})}), "must be f32");
}

TEST(Elementwise, ScaleAndAddN) {
  EXPECT_EQ(infer("scale", {f32({2, 3})}, {{"factor", 0.5}})[0], f32({2, 3}));
  EXPECT_CONTAINS(infer_error("scale", {f32({2})}), "missing required attribute 'factor'");
  EXPECT_EQ(infer("add_n", {f32({2, 3}), f32({2, 3}), f32({2, 3})})[0], f32({2, 3}));
  EXPECT_EQ(infer("add_n", {f32({7})})[0], f32({7}));
  std::string e = infer_error("add_n", {f32({2, 3}), f32({2, 3}), f32({3, 2})});
  EXPECT_CONTAINS(e, "input 2 is f32[3, 2]");
  EXPECT_CONTAINS(e, "f32[2, 3]");
  Inst a = instantiate("add_n", {f32({10}), f32({10}), f32({10})});
  EXPECT_EQ(def("add_n").cost(a.inputs, a.outputs, a.attrs).flops, 20);
  EXPECT_EQ(def("add_n").max_inputs, -1);
  EXPECT_EQ(def("mul").backward.inputs, (std::vector<int>{0, 1}));
  EXPECT_TRUE(def("add").backward.inputs.empty());
  EXPECT_EQ(def("sub").inplace.size(), 2u);
}

// --- shape ops -----------------------------------------------------------------------------------------

TEST(ShapeOps, ReshapeFlattenTranspose) {
  EXPECT_EQ(infer("reshape", {f32({2, 3, 4})}, {{"shape", ints({6, -1})}})[0], f32({6, 4}));
  EXPECT_EQ(infer("reshape", {i32({2, 3})}, {{"shape", ints({6})}})[0], i32({6}));
  std::string e = infer_error("reshape", {f32({2, 3, 4})}, {{"shape", ints({5, 5})}});
  EXPECT_CONTAINS(e, "f32[2, 3, 4]");
  EXPECT_CONTAINS(e, "[5, 5]");
  EXPECT_CONTAINS(infer_error("reshape", {f32({2, 3})}, {{"shape", ints({-1, -1})}}), "at most one -1");
  EXPECT_CONTAINS(infer_error("reshape", {f32({2, 3})}, {{"shape", ints({4, -1})}}), "not divisible");
  EXPECT_CONTAINS(infer_error("reshape", {f32({2, 3})}, {{"shape", ints({0, 6})}}), "positive");

  EXPECT_EQ(infer("flatten", {f32({2, 3, 4, 5})})[0], f32({2, 60}));
  EXPECT_EQ(infer("flatten", {f32({2, 3, 4, 5})}, {{"axis", i64(-1)}})[0], f32({24, 5}));
  EXPECT_EQ(infer("flatten", {f32({2, 3})}, {{"axis", i64(0)}})[0], f32({1, 6}));
  EXPECT_CONTAINS(infer_error("flatten", {f32({2, 3})}, {{"axis", i64(4)}}), "out of range");

  EXPECT_EQ(infer("transpose", {f32({2, 3, 4})}, {{"perm", ints({2, 0, 1})}})[0], f32({4, 2, 3}));
  EXPECT_CONTAINS(infer_error("transpose", {f32({2, 3, 4})}, {{"perm", ints({0, 0, 1})}}),
                  "not a permutation");
  EXPECT_CONTAINS(infer_error("transpose", {f32({2, 3, 4})}, {{"perm", ints({1, 0})}}), "f32[2, 3, 4]");
}

TEST(ShapeOps, ConcatStack) {
  EXPECT_EQ(infer("concat", {f32({2, 3, 4}), f32({2, 5, 4})})[0], f32({2, 8, 4}));
  EXPECT_EQ(infer("concat", {f32({2, 3}), f32({2, 3})}, {{"axis", i64(-1)}})[0], f32({2, 6}));
  std::string e = infer_error("concat", {f32({2, 3, 4}), f32({2, 5, 6})});
  EXPECT_CONTAINS(e, "f32[2, 3, 4]");
  EXPECT_CONTAINS(e, "f32[2, 5, 6]");
  EXPECT_CONTAINS(infer_error("concat", {f32({2, 3}), i32({2, 3})}), "i32[2, 3]");
  EXPECT_CONTAINS(infer_error("concat", {f32({2, 3})}, {{"axis", i64(2)}}), "out of range");

  EXPECT_EQ(infer("stack", {f32({2, 3}), f32({2, 3})})[0], f32({2, 2, 3}));
  EXPECT_EQ(infer("stack", {f32({2, 3}), f32({2, 3}), f32({2, 3})}, {{"axis", i64(2)}})[0],
            f32({2, 3, 3}));
  EXPECT_EQ(infer("stack", {f32({2, 3})}, {{"axis", i64(-1)}})[0], f32({2, 3, 1}));
  EXPECT_CONTAINS(infer_error("stack", {f32({2, 3}), f32({3, 2})}), "f32[3, 2]");
  EXPECT_CONTAINS(infer_error("stack", {f32({2, 3})}, {{"axis", i64(3)}}), "out of range");
}

TEST(ShapeOps, SplitSliceSelect) {
  Types parts = infer("split", {f32({2, 6, 4})}, {{"parts", i64(3)}});
  EXPECT_EQ(parts, (Types{f32({2, 2, 4}), f32({2, 2, 4}), f32({2, 2, 4})}));
  EXPECT_CONTAINS(infer_error("split", {f32({2, 6, 4})}, {{"parts", i64(4)}}), "not divisible");
  EXPECT_CONTAINS(infer_error("split", {f32({2, 6, 4})}, {{"parts", i64(2)}, {"axis", i64(3)}}),
                  "out of range");

  EXPECT_EQ(infer("slice", {f32({4, 10})}, {{"axis", i64(1)}, {"start", i64(2)}, {"end", i64(5)}})[0],
            f32({4, 3}));
  EXPECT_EQ(infer("slice", {f32({4, 10})}, {{"axis", i64(1)}, {"end", i64(-1)}})[0], f32({4, 9}));
  EXPECT_EQ(infer("slice", {f32({4, 10})}, {{"axis", i64(-1)}, {"start", i64(-3)}, {"end", i64(10)}})[0],
            f32({4, 3}));
  EXPECT_CONTAINS(infer_error("slice", {f32({4, 10})}, {{"axis", i64(1)}, {"start", i64(5)}, {"end", i64(5)}}),
                  "f32[4, 10]");
  EXPECT_CONTAINS(infer_error("slice", {f32({4, 10})}, {{"axis", i64(1)}, {"end", i64(11)}}),
                  "out of bounds");
  // Stepped: ceil((end - start) / step) elements, x[1:10:3] -> 1, 4, 7.
  EXPECT_EQ(infer("slice", {f32({4, 10})}, {{"axis", i64(1)}, {"start", i64(1)}, {"step", i64(3)}, {"end", i64(10)}})[0],
            f32({4, 3}));
  EXPECT_EQ(infer("slice", {f32({4, 10})}, {{"axis", i64(0)}, {"step", i64(2)}, {"end", i64(4)}})[0], f32({2, 10}));
  EXPECT_EQ(infer("slice", {f32({4, 10})}, {{"axis", i64(1)}, {"step", i64(100)}, {"end", i64(10)}})[0], f32({4, 1}));
  EXPECT_CONTAINS(infer_error("slice", {f32({4, 10})}, {{"axis", i64(1)}, {"step", i64(0)}, {"end", i64(4)}}),
                  "step must be positive");
  EXPECT_CONTAINS(infer_error("slice", {f32({4, 10})}, {{"axis", i64(1)}, {"step", i64(-1)}, {"end", i64(4)}}),
                  "step must be positive");

  EXPECT_EQ(infer("select", {f32({4, 10, 3})}, {{"axis", i64(1)}, {"index", i64(-1)}})[0], f32({4, 3}));
  std::string e = infer_error("select", {f32({4, 10})}, {{"axis", i64(0)}, {"index", i64(4)}});
  EXPECT_CONTAINS(e, "index 4");
  EXPECT_CONTAINS(e, "f32[4, 10]");
}

// --- losses and reductions -----------------------------------------------------------------------------

TEST(LossOps, Softmax) {
  EXPECT_EQ(infer("softmax", {f32({4, 10})})[0], f32({4, 10}));
  EXPECT_CONTAINS(infer_error("softmax", {f32({4, 10})}, {{"axis", i64(2)}}), "out of range");
  EXPECT_EQ(def("softmax").backward.outputs, std::vector<int>{0});
  EXPECT_FALSE(def("softmax").cheap);
}

TEST(LossOps, SoftmaxCrossEntropy) {
  Types out = infer("softmax_cross_entropy", {f32({32, 10}), i32({32})});
  EXPECT_EQ(out, (Types{f32({}), f32({32, 10})}));
  out = infer("softmax_cross_entropy", {f32({4, 7, 10}), i32({4, 7})}, {{"reduction", std::string("none")}});
  EXPECT_EQ(out, (Types{f32({4, 7}), f32({4, 7, 10})}));
  std::string e = infer_error("softmax_cross_entropy", {f32({32, 10}), i32({16})});
  EXPECT_CONTAINS(e, "f32[32, 10]");
  EXPECT_CONTAINS(e, "i32[16]");
  EXPECT_CONTAINS(infer_error("softmax_cross_entropy", {f32({32, 10}), f32({32})}), "must be i32");
  const ir::OpDef& d = def("softmax_cross_entropy");
  EXPECT_EQ(d.visible_outputs, 1);
  // The logits, not the probabilities: keeping the node for its loss must not keep them (loss_ops.cpp).
  EXPECT_EQ(d.backward.inputs, (std::vector<int>{0, 1}));
  EXPECT_TRUE(d.backward.outputs.empty());
}

TEST(LossOps, Reductions) {
  EXPECT_EQ(infer("mean", {f32({2, 3, 4})})[0], f32({}));
  EXPECT_EQ(infer("sum", {f32({2, 3, 4})}, {{"axes", ints({0, -1})}})[0], f32({3}));
  EXPECT_EQ(infer("mean", {f32({2, 3, 4})}, {{"axes", i64(1)}, {"keepdims", true}})[0], f32({2, 1, 4}));
  EXPECT_CONTAINS(infer_error("sum", {f32({2, 3})}, {{"axes", ints({1, -1})}}), "twice");
  EXPECT_CONTAINS(infer_error("mean", {f32({2, 3})}, {{"axes", i64(2)}}), "f32[2, 3]");
}

TEST(LossOps, Accuracy) {
  EXPECT_EQ(infer("accuracy", {f32({32, 10}), i32({32})})[0], f32({}));
  EXPECT_CONTAINS(infer_error("accuracy", {f32({32, 10}), i32({32, 10})}), "i32[32, 10]");
  EXPECT_FALSE(def("accuracy").differentiable);
  EXPECT_EQ(def("accuracy").max_inputs, 2);
}

// --- every op ------------------------------------------------------------------------------------------

struct Sample {
  Types data;
  AttrList attrs;
};

// One valid call per op; the test below fails for an op without one so new ops get covered.
const std::map<std::string, Sample>& samples() {
  static const std::map<std::string, Sample> s = {
      {"input", {{}, {{"shape", ints({2, 3})}}}},
      {"param", {{}, {{"shape", ints({2, 3})}}}},
      {"zeros", {{}, {{"shape", ints({2, 3})}}}},
      {"ones", {{}, {{"shape", ints({2, 3})}}}},
      {"full", {{}, {{"shape", ints({2, 3})}, {"value", 1.5}}}},
      {"conv2d", {{f32({2, 3, 8, 8})}, {{"out", i64(4)}, {"kernel", i64(3)}}}},
      {"batch_norm", {{f32({2, 3, 8, 8})}, {}}},
      {"batch_norm_relu", {{f32({2, 3, 8, 8})}, {}}},
      {"lstm_cell", {{f32({2, 12}), f32({2, 3})}, {}}},
      {"relu", {{f32({2, 3})}, {}}},
      {"sigmoid", {{f32({2, 3})}, {}}},
      {"tanh", {{f32({2, 3})}, {}}},
      {"dropout", {{f32({2, 3})}, {}}},
      {"max_pool", {{f32({2, 3, 8, 8})}, {{"kernel", i64(2)}}}},
      {"avg_pool", {{f32({2, 3, 8, 8})}, {{"kernel", i64(2)}}}},
      {"global_avg_pool", {{f32({2, 3, 8, 8})}, {}}},
      {"linear", {{f32({2, 3})}, {{"units", i64(4)}}}},
      {"matmul", {{f32({2, 3}), f32({3, 4})}, {}}},
      {"embedding", {{i32({2, 3})}, {{"vocab", i64(10)}, {"dim", i64(4)}}}},
      {"add", {{f32({2, 3}), f32({2, 3})}, {}}},
      {"sub", {{f32({2, 3}), f32({2, 3})}, {}}},
      {"mul", {{f32({2, 3}), f32({2, 3})}, {}}},
      {"scale", {{f32({2, 3})}, {{"factor", 2.0}}}},
      {"add_n", {{f32({2, 3}), f32({2, 3})}, {}}},
      {"reshape", {{f32({2, 3})}, {{"shape", ints({3, 2})}}}},
      {"flatten", {{f32({2, 3, 4})}, {}}},
      {"transpose", {{f32({2, 3})}, {{"perm", ints({1, 0})}}}},
      {"concat", {{f32({2, 3}), f32({2, 3})}, {}}},
      {"stack", {{f32({2, 3}), f32({2, 3})}, {}}},
      {"split", {{f32({2, 4})}, {{"parts", i64(2)}}}},
      {"slice", {{f32({2, 4})}, {{"axis", i64(1)}, {"end", i64(2)}}}},
      {"select", {{f32({2, 4})}, {{"axis", i64(1)}, {"index", i64(2)}}}},
      {"softmax", {{f32({2, 4})}, {}}},
      {"softmax_cross_entropy", {{f32({2, 4}), i32({2})}, {}}},
      {"mean", {{f32({2, 4})}, {}}},
      {"sum", {{f32({2, 4})}, {}}},
      {"accuracy", {{f32({2, 4}), i32({2})}, {}}},
      {"layer_norm", {{f32({2, 3, 4})}, {}}},
      {"rms_norm", {{f32({2, 3, 4})}, {{"axis", i64(1)}}}},
      {"exp", {{f32({2, 3})}, {}}},
      {"log", {{f32({2, 3})}, {}}},
      {"sqrt", {{f32({2, 3})}, {}}},
      {"rsqrt", {{f32({2, 3})}, {}}},
      {"abs", {{f32({2, 3})}, {}}},
      {"neg", {{f32({2, 3})}, {}}},
      {"sin", {{f32({2, 3})}, {}}},
      {"cos", {{f32({2, 3})}, {}}},
      {"affine", {{f32({2, 3})}, {{"factor", 2.0}, {"offset", 1.0}}}},
      {"pow", {{f32({2, 3})}, {{"exponent", 3.0}}}},
      {"gelu", {{f32({2, 3})}, {}}},
      {"silu", {{f32({2, 3})}, {}}},
      {"div", {{f32({2, 3}), f32({2, 3})}, {}}},
      {"maximum", {{f32({2, 3}), f32({2, 3})}, {}}},
      {"minimum", {{f32({2, 3}), f32({2, 3})}, {}}},
      {"where", {{i32({2, 1}), f32({2, 3}), f32({2, 3})}, {}}},
      {"take", {{f32({5, 3}), i32({2, 4})}, {}}},
      {"causal_mask", {{f32({2, 3, 3})}, {}}},
      {"attention", {{f32({2, 3, 4}), f32({2, 5, 4}), f32({2, 5, 6})}, {{"causal", true}}}},
      {"upsample", {{f32({2, 3, 4, 4})}, {}}},
      {"arange", {{}, {{"n", i64(5)}}}},
      {"argmax", {{f32({2, 3})}, {}}},
      {"conv_transpose2d", {{f32({2, 3, 4, 4})}, {{"out", i64(4)}, {"kernel", i64(2)}, {"stride", i64(2)}}}},
  };
  return s;
}

TEST(AllOps, MetadataAndSampleInstantiation) {
  auto all = ir::OpRegistry::global().all();
  EXPECT_EQ(all.size(), samples().size());
  const std::vector<std::string> categories = {"source", "conv",  "norm",  "activation", "pool",  "linear",
                                               "elementwise", "math", "shape", "loss", "reduce"};
  for (const ir::OpDef* d : all) {
    SCOPED_TRACE(d->name);
    EXPECT_TRUE(d->infer);
    EXPECT_TRUE(d->cost);
    EXPECT_FALSE(d->doc.empty());
    EXPECT_EQ(d->doc.find('\n'), std::string::npos);
    EXPECT_NE(std::find(categories.begin(), categories.end(), d->category), categories.end());
    for (const auto& a : d->attrs) EXPECT_FALSE(a.doc.empty()) << a.name;
    EXPECT_EQ(d->recomputable, !d->is_source);

    auto it = samples().find(d->name);
    ASSERT_NE(it, samples().end()) << "no sample call for " << d->name;
    const Sample& s = it->second;
    int n = static_cast<int>(s.data.size());
    EXPECT_GE(n, d->min_inputs);
    if (d->max_inputs >= 0) {
      EXPECT_LE(n, d->max_inputs);
    }
    if (!d->is_source && d->min_inputs > 0) {
      EXPECT_FALSE(d->input_names.empty());
    }

    Inst inst = instantiate(d->name, s.data, s.attrs);
    EXPECT_EQ(inst.params.empty(), !d->params);
    ASSERT_FALSE(inst.outputs.empty());
    if (d->visible_outputs >= 0) {
      EXPECT_LE(d->visible_outputs, static_cast<int>(inst.outputs.size()));
    }
    for (int i : d->backward.inputs) {
      EXPECT_GE(i, 0);
      EXPECT_LT(i, static_cast<int>(inst.inputs.size()));
    }
    for (int o : d->backward.outputs) {
      EXPECT_GE(o, 0);
      EXPECT_LT(o, static_cast<int>(inst.outputs.size()));
    }
    for (const auto& ip : d->inplace) {
      ASSERT_LT(ip.input, static_cast<int>(inst.inputs.size()));
      ASSERT_LT(ip.output, static_cast<int>(inst.outputs.size()));
      // Every sample uses equal shapes, so each in-place option must be usable there.
      EXPECT_EQ(inst.inputs[ip.input].bytes(), inst.outputs[ip.output].bytes());
    }
    ir::Cost c = d->cost(inst.inputs, inst.outputs, inst.attrs);
    EXPECT_GE(c.flops, 0);
    EXPECT_GE(c.bytes, 0);
    if (!d->is_source) {
      EXPECT_GT(c.bytes, 0);
    }
  }
}

TEST(AllOps, CheapAndDifferentiableSets) {
  const std::vector<std::string> cheap = {
      "batch_norm", "batch_norm_relu", "relu",  "sigmoid", "tanh",    "dropout", "max_pool", "avg_pool", "global_avg_pool",
      "add",        "sub",   "mul",     "scale",   "add_n",   "reshape",  "flatten",  "transpose",
      "concat",     "stack", "split",   "slice",   "select",  "zeros",    "ones",     "full",
      // The Transformer-era ops: memory-bound, cheap to recompute.
      "layer_norm", "rms_norm", "exp", "log", "sqrt", "rsqrt", "abs", "neg", "sin", "cos", "affine", "pow", "gelu",
      "silu", "div", "maximum", "minimum", "where", "take", "causal_mask", "upsample", "arange", "argmax",
      "lstm_cell"};
  const std::vector<std::string> not_differentiable = {"input", "param", "zeros", "ones", "full",
                                                       "accuracy", "arange", "argmax"};
  for (const ir::OpDef* d : ir::OpRegistry::global().all()) {
    SCOPED_TRACE(d->name);
    EXPECT_EQ(d->cheap, std::find(cheap.begin(), cheap.end(), d->name) != cheap.end());
    EXPECT_EQ(d->differentiable, std::find(not_differentiable.begin(), not_differentiable.end(),
                                           d->name) == not_differentiable.end());
  }
}

TEST(AllOps, SimilarNamesForTypos) {
  auto s = ir::OpRegistry::global().similar("conv2");
  EXPECT_NE(std::find(s.begin(), s.end(), "conv2d"), s.end());
}

}  // namespace
