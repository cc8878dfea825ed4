// Inputs a careless or hostile user writes, each once a crash, a hang or a wrapped value (issue 13):
// every one must be an error at the file, line and column that caused it, found in well under a
// second or two, never a signal. One test per class; the fuzz corpus repeats them in many forms.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "diag_util.h"

namespace sublinear {
namespace {

using namespace testing;

// A model whose linear layer's units is the expression `units`: line 3, the expression at column 23.
std::string with_units(const std::string& units) {
  return "snet 1;\nmodel m(x: f32[N, 4], labels: i32[N]) -> (loss) {\n  h = linear(x, units=" + units +
         ");\n  loss = softmax_cross_entropy(h, labels);\n}\n";
}

std::string repeated(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(HostileInput, InvalidUtf8IsAnErrorAtTheByte) {
  // A truncated three-byte sequence, and a lone Latin-1 byte: ANTLR's input stream aborted on both.
  EXPECT_TRUE(one_error(load_text("snet 1;\nparam p: int = \xe2\x82 3;\n"), 2, 16, "invalid UTF-8: byte 0xE2"));
  EXPECT_TRUE(one_error(load_text("snet 1;\n# caf\xe9\n"), 2, 6, "invalid UTF-8: byte 0xE9"));
  // Overlong encodings and surrogates are not characters either; valid multi-byte text is.
  EXPECT_TRUE(one_error(load_text("snet 1;\n# \xc0\xaf\n"), 2, 3, "invalid UTF-8"));
  EXPECT_TRUE(one_error(load_text("snet 1;\n# \xed\xa0\x80\n"), 2, 3, "invalid UTF-8"));
  EXPECT_TRUE(load_text(with_units("3") + "# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n", batch(2)).ok);
}

TEST(HostileInput, DeepNestingIsAnErrorNotAStackOverflow) {
  const auto t0 = std::chrono::steady_clock::now();
  // 20,000 parentheses and 10,000 minus signs crashed ANTLR's parser; the limit is at the token.
  auto parens = load_text(with_units(repeated("(", 20000) + "1" + repeated(")", 20000)), batch(2));
  // The model's `{` and linear's `(` are two of the 200 levels: the 199th parenthesis trips it.
  EXPECT_TRUE(one_error(parens, 3, 23 + 198, "nested deeper than 200 levels"));
  auto minus = load_text(with_units(repeated("-", 10000) + "1"), batch(2));
  EXPECT_TRUE(one_error(minus, 3, 23 + 198, "nested deeper than 200 levels"));
  // A sum of 7,000 terms parses, but the tree is 7,000 deep: the expander crashed evaluating it.
  std::string sum = "1";
  for (int i = 1; i < 7000; ++i) sum += "+1";
  auto deep = load_text(with_units(sum), batch(2));
  ASSERT_FALSE(deep.ok);
  ASSERT_EQ(deep.diags.size(), 1u) << deep.rendered;
  EXPECT_NE(deep.diags[0].message.find("nested deeper than 1000 levels"), std::string::npos) << deep.rendered;
  EXPECT_EQ(deep.diags[0].span.loc.line, 3);
  // Well inside the limits, all three still load.
  EXPECT_TRUE(load_text(with_units(repeated("(", 150) + "3" + repeated(")", 150)), batch(2)).ok);
  EXPECT_TRUE(load_text(with_units(repeated("-", 150) + "3"), batch(2)).ok);
  std::string ok_sum = "1";
  for (int i = 1; i < 500; ++i) ok_sum += "+1";
  EXPECT_TRUE(load_text(with_units(ok_sum), batch(2)).ok);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);
}

TEST(HostileInput, IntegerOverflowIsAnErrorAtTheOperator) {
  // INT64_MIN / -1 and % -1 raised SIGFPE; + - * and unary minus wrapped silently.
  EXPECT_TRUE(one_error(load_text(with_units("(-9223372036854775807 - 1) / -1"), batch(2)), 3, 50,
                        "integer overflow: -9223372036854775808 / -1"));
  EXPECT_TRUE(one_error(load_text(with_units("9223372036854775807 + 1"), batch(2)), 3, 43,
                        "integer overflow: 9223372036854775807 + 1"));
  EXPECT_TRUE(one_error(load_text(with_units("4611686018427387904 * 2"), batch(2)), 3, 43, "integer overflow"));
  EXPECT_TRUE(one_error(load_text(with_units("-(-9223372036854775807 - 1)"), batch(2)), 3, 23,
                        "integer overflow: -(-9223372036854775808)"));
  EXPECT_TRUE(one_error(load_text(with_units("floor(1e308)"), batch(2)), 3, 23, "floor(1e+308) does not fit"));
  // The remainder of INT64_MIN by -1 is 0 (as in Python), not a trap: units=0 is then the error.
  EXPECT_TRUE(one_error(load_text(with_units("(-9223372036854775807 - 1) % -1"), batch(2)), 3, 7,
                        "must be positive, got 0"));
  // Floor division and modulo keep their Python meaning.
  EXPECT_TRUE(load_text(with_units("-7 / -1 + (-7 % 3)"), batch(2)).ok);
}

TEST(HostileInput, RepeatsThatNeverEndHitALimitInSeconds) {
  const auto t0 = std::chrono::steady_clock::now();
  // hi - lo overflowed and slipped past the iteration check.
  auto wide = load_text(R"(snet 1;
model m(x: f32[N, 4], labels: i32[N]) -> (loss) {
  repeat i in (-9223372036854775807 - 1)..(9223372036854775807) { }
  loss = softmax_cross_entropy(linear(x, units=3), labels);
}
)",
                        batch(2));
  EXPECT_TRUE(one_error(wide, 3, 3, "repeat of 18446744073709551615 iterations is larger than sublinear expands"));
  // Two nested empty repeats of 100,000 ran until killed: the total over all repeats is bounded.
  auto nested = load_text(R"(snet 1;
model m(x: f32[N, 4], labels: i32[N]) -> (loss) {
  repeat i in 0..100000 { repeat j in 0..100000 { } }
  loss = softmax_cross_entropy(linear(x, units=3), labels);
}
)",
                          batch(2));
  EXPECT_TRUE(one_error(nested, 3, 27, "repeats run more than 500000 iterations in all"));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
}

TEST(HostileInput, SizesThatOverflowAreErrorsAtTheirSpan) {
  // ones(shape=[2^62 + 1, 4]) wrapped to 4 elements and trained into a segfault.
  auto wrapped = load_text(R"(snet 1;
model m(x: f32[N, 4], labels: i32[N]) -> (loss) {
  o = ones(shape=[4611686018427387905, 4]);
  loss = softmax_cross_entropy(linear(x, units=3), labels);
}
)",
                           batch(2));
  EXPECT_TRUE(one_error(wrapped, 3, 7, "more elements than a 64-bit count holds"));
  // An input of 10^22 elements printed a negative input memory.
  auto input = load_text(R"(snet 1;
model m(x: f32[N, 99999999999, 99999999999], labels: i32[N]) -> (loss) {
  loss = softmax_cross_entropy(linear(x[:, 0, 0], units=3), labels);
}
)",
                         batch(2));
  EXPECT_TRUE(one_error(input, 2, 12, "model input 'x': f32[2, 99999999999, 99999999999] has more elements"));
  // A batch that makes the inputs overflow, and one that fits in int64 but not in any memory: an error
  // at each input.
  for (const int64_t n : {int64_t{4611686018427387904}, int64_t{1} << 40}) {
    auto r = load_text(with_units("3"), batch(n));
    ASSERT_EQ(r.diags.size(), 2u) << r.rendered;
    EXPECT_EQ(where(r.diags[0]).substr(0, 15), "test.snet:2:12:") << r.rendered;
    EXPECT_NE(r.diags[0].message.find(n == int64_t{1} << 40 ? "more than the 1 TiB" : "more elements"),
              std::string::npos)
        << r.rendered;
    EXPECT_NE(r.diags[1].message.find("model input 'labels'"), std::string::npos) << r.rendered;
  }
  // A parameter too large to hold.
  EXPECT_TRUE(one_error(load_text(with_units("1099511627776"), batch(2)), 3, 7, "more than the 1 TiB"));
}

// Annotations that annotate nothing were accepted silently; a list passed where a tensor goes got a
// hint about attributes.
TEST(HostileInput, MisplacedAnnotationsAndListArgumentsSayWhatToDo) {
  auto inst = load_text(R"(snet 1;
model m(x: f32[N, 4], labels: i32[N]) -> (loss) {
  @recompute lin = linear(units=3);
  loss = softmax_cross_entropy(lin(x), labels);
}
)",
                        batch(2));
  ASSERT_TRUE(one_error(inst, 3, 3, "@recompute on the declaration of 'lin' annotates nothing"));
  EXPECT_TRUE(has_extra(inst.diags[0], "@recompute h = lin(x);"));
  auto weight = load_text(R"(snet 1;
model m(x: f32[N, 4], labels: i32[N]) -> (loss) {
  @checkpoint weight W: f32[4, 3];
  loss = softmax_cross_entropy(matmul(x, W), labels);
}
)",
                          batch(2));
  EXPECT_TRUE(one_error(weight, 3, 3, "@checkpoint on weight 'W' annotates nothing"));
  auto two = load_text(R"(snet 1;
block two(x: f32) { return x, x; }
model m(x: f32[N, 4], labels: i32[N]) -> (loss) {
  h = relu(two(x));
  loss = softmax_cross_entropy(linear(h, units=3), labels);
}
)",
                       batch(2));
  ASSERT_TRUE(one_error(two, 4, 12, "'relu' expects a tensor here, got list of 2"));
  EXPECT_TRUE(has_extra(two.diags[0], "unpack it first"));
  EXPECT_FALSE(has_extra(two.diags[0], "attributes are passed by name"));
}

}  // namespace
}  // namespace sublinear
