// The plan validator: placement checks, then a symbolic execution of the steps over an interval map of
// the arena. The rules are stated in plan_validator.h.
#include "planner/plan_validator.h"

#include <algorithm>
#include <iterator>
#include <map>

namespace sublinear::planner {

const char* fault_kind_name(PlanFault::Kind k) {
  switch (k) {
    case PlanFault::Kind::ReadBeforeWrite: return "read-before-write";
    case PlanFault::Kind::ReadOverwritten: return "read-overwritten";
    case PlanFault::Kind::WriteOverLive: return "write-over-live";
    case PlanFault::Kind::OutOfArena: return "out-of-arena";
    case PlanFault::Kind::Misaligned: return "misaligned";
    case PlanFault::Kind::BadReference: return "bad-reference";
  }
  return "?";
}

namespace {

using Kind = PlanFault::Kind;

std::string range_str(int64_t begin, int64_t end) {
  std::string s = "[";
  s += std::to_string(begin);
  s += ", ";
  s += std::to_string(end);
  s += ")";
  return s;
}

// Arena byte ranges -> the value they hold and the step that wrote it. Ranges never overlap; bytes that
// were never written are absent.
class ArenaMap {
 public:
  struct Seg {
    int64_t end;
    ValueId value;
    StepId step;
  };

  // Calls f(begin, end, seg) for each held range overlapping [a, b), clipped to it, in offset order.
  template <typename F>
  void for_each(int64_t a, int64_t b, F&& f) const {
    auto it = m_.upper_bound(a);
    if (it != m_.begin()) {
      auto prev = std::prev(it);
      if (prev->second.end > a) it = prev;
    }
    for (; it != m_.end() && it->first < b; ++it) f(std::max(it->first, a), std::min(it->second.end, b), it->second);
  }

  void assign(int64_t a, int64_t b, ValueId v, StepId s) {
    if (a >= b) return;
    split_at(a);
    split_at(b);
    auto it = m_.lower_bound(a);
    while (it != m_.end() && it->first < b) it = m_.erase(it);
    it = m_.emplace_hint(it, a, Seg{b, v, s});
    // Merge with neighbours holding the same write, so the map stays as small as the live set.
    auto next = std::next(it);
    if (next != m_.end() && next->first == b && next->second.value == v && next->second.step == s) {
      it->second.end = next->second.end;
      m_.erase(next);
    }
    if (it != m_.begin()) {
      auto prev = std::prev(it);
      if (prev->second.end == a && prev->second.value == v && prev->second.step == s) {
        prev->second.end = it->second.end;
        m_.erase(it);
      }
    }
  }

 private:
  void split_at(int64_t x) {
    auto it = m_.upper_bound(x);
    if (it == m_.begin()) return;
    --it;
    if (it->first < x && it->second.end > x) {
      Seg right = it->second;
      it->second.end = x;
      m_.emplace_hint(std::next(it), x, right);
    }
  }

  std::map<int64_t, Seg> m_;
};

class Validator {
 public:
  Validator(const Plan& plan, size_t max_faults) : p_(plan), max_(max_faults) {}

  std::vector<PlanFault> run() {
    if (max_ == 0) return {};
    check_placement();
    compute_last_use();
    for (size_t i = 0; i < p_.steps.size() && !full(); ++i) execute(static_cast<StepId>(i));
    return std::move(faults_);
  }

 private:
  bool full() const { return faults_.size() >= max_; }
  bool valid_value(ValueId v) const { return v >= 0 && static_cast<size_t>(v) < p_.values.size(); }
  bool in_graph(ir::NodeId n) const { return p_.graph && n >= 0 && static_cast<size_t>(n) < p_.graph->size(); }

  void add(Kind k, StepId step, ValueId v, ValueId other, std::string msg) {
    if (!full()) faults_.push_back({k, step, v, other, std::move(msg)});
  }

  std::string value_str(ValueId v) const {
    if (!valid_value(v)) {
      std::string s = "value #";
      s += std::to_string(v);
      return s;
    }
    const PlanValue& pv = p_.values[v];
    std::string s = value_kind_name(pv.kind);
    s += " '";
    if (pv.name.empty()) {
      s += "#";
      s += std::to_string(v);
    } else {
      s += pv.name;
    }
    s += "'";
    return s;
  }

  std::string step_str(StepId s) const {
    std::string out = "step ";
    out += std::to_string(s);
    if (s < 0 || static_cast<size_t>(s) >= p_.steps.size()) return out;
    const PlanStep& st = p_.steps[s];
    out += " (";
    out += step_kind_name(st.kind);
    if (in_graph(st.node)) {
      const ir::Node& n = p_.graph->node(st.node);
      out += " '";
      out += n.name;
      out += "'";
      if (!n.path.empty() && n.path != n.name) {
        out += " at ";
        out += n.path;
      }
    } else {
      out += " node ";
      out += std::to_string(st.node);
    }
    out += ")";
    return out;
  }

  // ---- rules 1-4: placement and references ----------------------------------------------------------

  void check_placement() {
    const size_t nv = p_.values.size(), ns = p_.storages.size();
    placed_.assign(nv, 0);
    begin_.assign(nv, 0);
    end_.assign(nv, 0);
    std::vector<ValueId> first_user(ns, -1);
    for (size_t i = 0; i < nv; ++i) {
      const PlanValue& v = p_.values[i];
      const auto id = static_cast<ValueId>(i);
      if (v.id != id) {
        std::string m = value_str(id);
        m += " is value #";
        m += std::to_string(i);
        m += " of the plan but has id ";
        m += std::to_string(v.id);
        add(Kind::BadReference, -1, id, -1, std::move(m));
      }
      if (v.storage == -1) continue;
      if (v.storage < -1 || static_cast<size_t>(v.storage) >= ns) {
        std::string m = value_str(id);
        m += " names storage #";
        m += std::to_string(v.storage);
        m += ", the plan has ";
        m += std::to_string(ns);
        add(Kind::BadReference, -1, id, -1, std::move(m));
        continue;
      }
      if (first_user[v.storage] < 0) first_user[v.storage] = id;
      placed_[i] = 1;
      begin_[i] = p_.storages[v.storage].offset;
      end_[i] = begin_[i] + std::max<int64_t>(v.bytes, 0);
    }
    for (size_t j = 0; j < ns; ++j) {
      const Storage& st = p_.storages[j];
      if (st.id != static_cast<int32_t>(j)) {
        std::string m = "storage #";
        m += std::to_string(j);
        m += " has id ";
        m += std::to_string(st.id);
        add(Kind::BadReference, -1, first_user[j], -1, std::move(m));
      }
      for (ValueId v : st.values) {
        if (valid_value(v) && p_.values[v].storage == static_cast<int32_t>(j)) continue;
        std::string m = "storage #";
        m += std::to_string(j);
        m += " lists ";
        m += value_str(v);
        if (valid_value(v)) {
          m += ", whose storage is #";
          m += std::to_string(p_.values[v].storage);
        } else {
          m += ", which is not in the plan";
        }
        add(Kind::BadReference, -1, valid_value(v) ? v : -1, -1, std::move(m));
      }
    }
    const int64_t align = p_.options.alignment;
    if (align <= 0) {
      std::string m = "the plan's alignment is ";
      m += std::to_string(align);
      m += " bytes; it must be positive";
      add(Kind::Misaligned, -1, -1, -1, std::move(m));
    }
    for (size_t j = 0; j < ns; ++j) {
      const int64_t off = p_.storages[j].offset;
      if (first_user[j] < 0 || align <= 0 || off < 0 || off % align == 0) continue;
      std::string m = "storage #";
      m += std::to_string(j);
      m += " of ";
      m += value_str(first_user[j]);
      m += " is at offset ";
      m += std::to_string(off);
      m += ", not a multiple of the alignment ";
      m += std::to_string(align);
      add(Kind::Misaligned, -1, first_user[j], -1, std::move(m));
    }
    const int64_t arena = p_.feature_map_peak_bytes;
    for (size_t i = 0; i < nv; ++i) {
      if (!placed_[i]) continue;
      const PlanValue& v = p_.values[i];
      const auto id = static_cast<ValueId>(i);
      if (v.bytes >= 0 && begin_[i] >= 0 && end_[i] <= arena) continue;
      std::string m = value_str(id);
      if (v.bytes < 0) {
        m += " has a negative size (";
        m += std::to_string(v.bytes);
        m += " bytes)";
      } else {
        m += " occupies ";
        m += range_str(begin_[i], end_[i]);
        m += ", outside the arena ";
        m += range_str(0, arena);
      }
      add(Kind::OutOfArena, -1, id, -1, std::move(m));
    }
  }

  // Last step reading or accumulating each value; graph outputs stay live past the last step.
  void compute_last_use() {
    last_use_.assign(p_.values.size(), -1);
    for (size_t i = 0; i < p_.steps.size(); ++i) {  // by position: a bad step.id is reported, not trusted
      const PlanStep& s = p_.steps[i];
      const auto id = static_cast<StepId>(i);
      for (ValueId v : s.reads)
        if (valid_value(v)) last_use_[v] = std::max(last_use_[v], id);
      for (ValueId v : s.accumulates)
        if (valid_value(v)) last_use_[v] = std::max(last_use_[v], id);
    }
    const auto end = static_cast<StepId>(p_.steps.size());
    if (p_.graph) {
      const auto& outs = p_.graph->outputs();
      for (size_t i = 0; i < p_.values.size(); ++i) {
        const PlanValue& v = p_.values[i];
        if (v.kind == ValueKind::Activation && v.version == 0 &&
            std::find(outs.begin(), outs.end(), v.source) != outs.end())
          last_use_[i] = end;
      }
    }
    written_.assign(p_.values.size(), 0);
    read_reported_.assign(p_.values.size(), 0);
  }

  // Rule 4 for one step's lists. Returns false for ids that cannot be executed.
  bool check_ref(StepId s, ValueId v, const char* list) {
    if (valid_value(v)) return true;
    std::string m = step_str(s);
    m += " lists value #";
    m += std::to_string(v);
    m += " in its ";
    m += list;
    m += "; the plan has ";
    m += std::to_string(p_.values.size());
    m += " values";
    add(Kind::BadReference, s, -1, -1, std::move(m));
    return false;
  }

  void check_step_refs(StepId s) {
    const PlanStep& st = p_.steps[s];
    if (st.id != s) {
      std::string m = "step #";
      m += std::to_string(s);
      m += " has id ";
      m += std::to_string(st.id);
      add(Kind::BadReference, s, -1, -1, std::move(m));
    }
    if (p_.graph && !in_graph(st.node)) {
      std::string m = step_str(s);
      m += " runs node ";
      m += std::to_string(st.node);
      m += ", not in the graph (";
      m += std::to_string(p_.graph->size());
      m += " nodes)";
      add(Kind::BadReference, s, -1, -1, std::move(m));
    }
    for (ValueId v : st.reads) check_ref(s, v, "reads");
    for (ValueId v : st.writes) check_ref(s, v, "writes");
    for (ValueId v : st.accumulates) check_ref(s, v, "accumulates");
    auto has = [](const std::vector<ValueId>& a, const std::vector<ValueId>& b, ValueId v) {
      return std::find(a.begin(), a.end(), v) != a.end() || std::find(b.begin(), b.end(), v) != b.end();
    };
    for (const auto& [w, u] : st.inplace) {
      if (!check_ref(s, w, "in-place pairs") || !check_ref(s, u, "in-place pairs")) continue;
      const bool w_ok = has(st.writes, st.accumulates, w), u_ok = has(st.reads, st.accumulates, u);
      if (w_ok && u_ok) continue;
      std::string m = step_str(s);
      m += " pairs ";
      m += value_str(w);
      m += " in place over ";
      m += value_str(u);
      m += ", but ";
      m += !w_ok ? value_str(w) : value_str(u);
      m += !w_ok ? " is not among its writes" : " is not among its reads";
      add(Kind::BadReference, s, w, u, std::move(m));
    }
  }

  // ---- rules 5-9: execution -------------------------------------------------------------------------

  void execute(StepId s) {
    check_step_refs(s);
    const PlanStep& st = p_.steps[s];
    for (ValueId v : st.reads)
      if (valid_value(v)) read(s, v, false);
    std::vector<char> acc_ok(st.accumulates.size(), 0);
    for (size_t i = 0; i < st.accumulates.size(); ++i)
      if (valid_value(st.accumulates[i])) acc_ok[i] = read(s, st.accumulates[i], true);
    for (ValueId v : st.writes)
      if (valid_value(v)) write(s, v);
    for (size_t i = 0; i < st.accumulates.size(); ++i)
      if (acc_ok[i]) write(s, st.accumulates[i]);
  }

  // Rule 6. Returns whether the read found v intact (a value reported before counts as intact).
  bool read(StepId s, ValueId v, bool accumulate) {
    const PlanValue& pv = p_.values[v];
    if (pv.storage == -1) {
      if (pv.kind != ValueKind::Activation && pv.kind != ValueKind::Gradient) return true;
      if (read_reported_[v]) return false;
      read_reported_[v] = 1;
      std::string m = step_str(s);
      m += accumulate ? " accumulates into " : " reads ";
      m += value_str(v);
      m += ", which has no storage in the arena";
      add(Kind::BadReference, s, v, -1, std::move(m));
      return false;
    }
    if (!placed_[v] || read_reported_[v]) return true;
    const int64_t a = begin_[v], b = end_[v];
    // The first foreign range and the first gap, if any.
    int64_t fa = -1, fb = -1, ga = -1, gb = -1, pos = a;
    ValueId other = -1;
    StepId other_step = -1;
    arena_.for_each(a, b, [&](int64_t x, int64_t y, const ArenaMap::Seg& seg) {
      if (x > pos && ga < 0) ga = pos, gb = x;
      pos = y;
      if (seg.value != v && other < 0) other = seg.value, other_step = seg.step, fa = x, fb = y;
    });
    if (pos < b && ga < 0) ga = pos, gb = b;
    if (written_[v] && other < 0 && ga < 0) return true;
    read_reported_[v] = 1;
    std::string m = step_str(s);
    m += accumulate ? " accumulates into " : " reads ";
    m += value_str(v);
    m += " at ";
    m += range_str(a, b);
    Kind k;
    if (!written_[v] || other < 0) {
      k = Kind::ReadBeforeWrite;
      if (!written_[v]) {
        m += accumulate ? ", which no earlier step wrote (a gradient's first contribution is a write)"
                        : ", which no earlier step wrote";
      } else {
        m += ", but bytes ";
        m += range_str(ga, gb);
        m += " were never written";
      }
      if (other >= 0) {
        m += "; bytes ";
        m += range_str(fa, fb);
        m += " hold ";
        m += value_str(other);
      }
    } else {
      k = Kind::ReadOverwritten;
      m += ", but bytes ";
      m += range_str(fa, fb);
      m += " were overwritten by ";
      m += value_str(other);
      m += " at ";
      m += step_str(other_step);
    }
    add(k, s, v, other, std::move(m));
    return false;
  }

  bool inplace_pair(const PlanStep& st, ValueId w, ValueId u) const {
    return std::find(st.inplace.begin(), st.inplace.end(), std::make_pair(w, u)) != st.inplace.end();
  }

  // The first step after s that reads or accumulates v (s itself if none).
  StepId next_use(StepId s, ValueId v) const {
    const StepId last = std::min<StepId>(last_use_[v], static_cast<StepId>(p_.steps.size()) - 1);
    for (StepId r = s + 1; r <= last; ++r) {
      const PlanStep& st = p_.steps[r];
      if (std::find(st.reads.begin(), st.reads.end(), v) != st.reads.end() ||
          std::find(st.accumulates.begin(), st.accumulates.end(), v) != st.accumulates.end())
        return r;
    }
    return s;
  }

  // Rule 8.
  void write(StepId s, ValueId w) {
    written_[w] = 1;
    if (!placed_[w]) return;
    const PlanStep& st = p_.steps[s];
    const int64_t a = begin_[w], b = end_[w];
    std::vector<ValueId> seen;
    arena_.for_each(a, b, [&](int64_t x, int64_t y, const ArenaMap::Seg& seg) {
      const ValueId u = seg.value;
      if (u == w || last_use_[u] < s) return;
      if (last_use_[u] == s && inplace_pair(st, w, u)) return;
      if (std::find(seen.begin(), seen.end(), u) != seen.end()) return;
      seen.push_back(u);
      if (full()) return;
      std::string m = step_str(s);
      m += " writes ";
      m += value_str(w);
      m += " at ";
      m += range_str(a, b);
      m += " over bytes ";
      m += range_str(x, y);
      m += " of ";
      m += value_str(u);
      m += " (written at ";
      m += step_str(seg.step);
      m += "), ";
      if (last_use_[u] >= static_cast<StepId>(p_.steps.size())) {
        m += "a graph output, live to the end";
      } else if (last_use_[u] > s) {
        m += "which is still read at ";
        m += step_str(next_use(s, u));
      } else if (inplace_pair(st, w, u)) {
        m += "paired in place, but this step is not its last reader";
      } else {
        m += "which this step reads while writing (only an in-place pair may share an input's bytes)";
      }
      add(Kind::WriteOverLive, s, w, u, std::move(m));
    });
    arena_.assign(a, b, w, s);
  }

  const Plan& p_;
  size_t max_;
  std::vector<PlanFault> faults_;
  std::vector<char> placed_, written_, read_reported_;
  std::vector<int64_t> begin_, end_;
  std::vector<StepId> last_use_;
  ArenaMap arena_;
};

}  // namespace

std::vector<PlanFault> validate_plan(const Plan& plan, size_t max_faults) {
  return Validator(plan, max_faults).run();
}

std::string format_faults(const std::vector<PlanFault>& faults, const Plan& plan) {
  std::string out;
  for (const PlanFault& f : faults) {
    ir::NodeId node = -1;
    if (f.step >= 0 && static_cast<size_t>(f.step) < plan.steps.size()) {
      node = plan.steps[f.step].node;
    } else if (f.value >= 0 && static_cast<size_t>(f.value) < plan.values.size()) {
      node = plan.values[f.value].source.node;
    }
    if (plan.graph && node >= 0 && static_cast<size_t>(node) < plan.graph->size()) {
      const ir::Node& n = plan.graph->node(node);
      out += n.span.loc.str();
      out += " ";
      out += n.path.empty() ? n.name : n.path;
    } else if (node >= 0) {
      out += "node ";
      out += std::to_string(node);
    } else {
      out += "plan";
    }
    out += ": ";
    out += fault_kind_name(f.kind);
    out += ": ";
    out += f.message;
    out += "\n";
  }
  return out;
}

}  // namespace sublinear::planner
