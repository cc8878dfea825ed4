// How errors are reported: the rendered text with expansion notes, one report per source location
// however often it expands, and poisoning, so independent mistakes are all found while what depends on
// a failed statement stays quiet.
#include <gtest/gtest.h>

#include "diag_util.h"

namespace sublinear {
namespace {

using namespace testing;

TEST(Reporting, RenderedTextWithExpansionNotes) {
  auto r = load_text(R"(snet 1;
block blk(x: f32) {
  return linear(x, units=0);
}
model m(x: f32[N, 4]) -> (loss) {
  h = x;
  repeat i in 0..2 {
    h = blk(h);
  }
  loss = mean(h);
}
)");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.rendered,
            "test.snet:3:10: error: linear: attribute 'units' must be positive, got 0\n"
            "    return linear(x, units=0);\n"
            "           ^~~~~~\n"
            "test.snet:8:9: note: in expansion of block blk at test.snet:8:9\n"
            "test.snet:7:3: note: in repeat[0] (iteration of repeat at test.snet:7:3)\n");
}

TEST(Reporting, ErrorInBlockCalledHundredTimesReportedOnce) {
  auto r = load_text(R"(snet 1;
block blk(x: f32) {
  y = relu(x, x);
  return y;
}
model m(x: f32[N, 4]) -> (loss) {
  h = x;
  repeat i in 0..100 {
    h = blk(h);
  }
  loss = mean(h);
}
)");
  ASSERT_TRUE(one_error(r, 3, 7, "'relu' takes 1 tensor input (x), got 2"));
  // The first expansion is the one reported.
  ASSERT_TRUE(r.diags[0].span.frames);
  EXPECT_EQ(r.diags[0].span.frame_path(), "repeat[0]/blk");
}

TEST(Reporting, IndependentErrorsBothReportedDependentsNot) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  a = relu(xx);
  b = linear(x, unit=4);
  c = a + b;
  d = linear(c, units=4);
  loss = mean(d);
}
)");
  ASSERT_FALSE(r.ok);
  ASSERT_EQ(r.diags.size(), 2u) << r.rendered;
  EXPECT_EQ(r.diags[0].span.loc.str(), "test.snet:3:12");
  EXPECT_NE(r.diags[0].message.find("undefined name 'xx'"), std::string::npos);
  EXPECT_EQ(r.diags[1].span.loc.str(), "test.snet:4:17");
  EXPECT_NE(r.diags[1].message.find("unknown attribute 'unit'"), std::string::npos);
}

TEST(Reporting, FailedLoopCarriedUpdatePoisonsTheCarriedValue) {
  // The update of h fails; what is computed from h afterwards must not be checked against the stale
  // f32[N, 4] it had before the loop (that would report a bogus shape mismatch with w).
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4], w: f32[N, 8]) -> (loss) {
  h = x;
  repeat i in 0..2 {
    h = linear(h, unit=8);
  }
  s = h + w;
  loss = mean(s);
}
)");
  EXPECT_TRUE(one_error(r, 5, 19, "unknown attribute 'unit' for op 'linear'"));
}

TEST(Reporting, FailedYieldPoisonsTheCollectedList) {
  // Without poisoning, xs would be an empty list and add_n would complain about it as well.
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  xs = repeat i in 0..2 {
    yield relu(xx);
  };
  s = add_n(xs);
  loss = mean(s);
}
)");
  EXPECT_TRUE(one_error(r, 4, 16, "undefined name 'xx'"));
}

TEST(Reporting, PoisonedValueInAMultiValueReturnPoisonsTheResult) {
  auto r = load_text(R"(snet 1;
block two(x: f32) {
  a = relu(xx);
  return a, x;
}
model m(x: f32[N, 4]) -> (loss) {
  r = two(x);
  s = add_n(r);
  loss = mean(s);
}
)");
  EXPECT_TRUE(one_error(r, 3, 12, "undefined name 'xx'"));
}

}  // namespace
}  // namespace sublinear
