#pragma once
// Internal invariants. A failed SL_CHECK is a bug in sublinear, never a user mistake: it prints the
// condition, the place and the context, then aborts. User mistakes are UserError (diagnostic.h).
#include <sstream>
#include <string>

namespace sublinear {

[[noreturn]] void internal_check_failed(const char* cond, const char* file, int line,
                                        const std::string& message);

namespace detail {
class CheckMessage {
 public:
  CheckMessage(const char* cond, const char* file, int line) : cond_(cond), file_(file), line_(line) {}
  [[noreturn]] ~CheckMessage() noexcept(false) { internal_check_failed(cond_, file_, line_, out_.str()); }
  template <typename T>
  CheckMessage& operator<<(const T& v) {
    out_ << v;
    return *this;
  }

 private:
  const char* cond_;
  const char* file_;
  int line_;
  std::ostringstream out_;
};
}  // namespace detail

}  // namespace sublinear

#define SL_CHECK(cond) \
  if (cond) {          \
  } else               \
    ::sublinear::detail::CheckMessage(#cond, __FILE__, __LINE__)
