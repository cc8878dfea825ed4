#include "ir/dot.h"

#include <map>
#include <unordered_map>
#include <unordered_set>
#include <vector>


namespace sublinear::ir {

namespace {

// One frame instance: a node of the trie built from the frame chains, keyed by (parent, label), so two
// nodes share a cluster exactly when their frame paths share that prefix.
struct Cluster {
  std::string label;
  std::string path;  // labels from the outermost frame, joined by '/'
  int parent = -1;
  int depth = 1;     // 1 for an outermost frame
  std::vector<int> children;
  std::vector<NodeId> members;  // nodes whose innermost frame this is
  int64_t ops = 0;              // computing nodes in the whole subtree
  int box = -1;                 // the collapsed instance that swallows it, -1 if drawn expanded
};

struct Builder {
  const Graph& g;
  int collapse_depth;
  bool show_params;
  std::vector<Cluster> clusters;
  std::vector<int> roots;
  std::vector<NodeId> top_members;
  std::vector<int> node_cluster;  // innermost cluster per node, -1 at top level
  std::string out;

  bool drawn(const Node& n) const { return show_params || !n.is_param(); }

  void build_tree() {
    std::map<std::pair<int, std::string>, int> index;
    // Nodes of one expansion share their chain object, so each chain is resolved once.
    std::unordered_map<const std::vector<ExpansionFrame>*, int> chain_leaf;
    node_cluster.assign(g.size(), -1);
    for (const auto& n : g.nodes()) {
      const auto* chain = n.span.frames.get();
      int leaf = -1;
      if (chain && !chain->empty()) {
        auto it = chain_leaf.find(chain);
        if (it != chain_leaf.end()) {
          leaf = it->second;
        } else {
          for (const auto& f : *chain) leaf = child(leaf, f.label, index);
          chain_leaf.emplace(chain, leaf);
        }
      }
      node_cluster[n.id] = leaf;
      if (!drawn(n)) continue;
      (leaf < 0 ? top_members : clusters[leaf].members).push_back(n.id);
      if (!n.is_param() && !n.is_input())
        for (int c = leaf; c >= 0; c = clusters[c].parent) ++clusters[c].ops;
    }
    if (collapse_depth < 0) return;
    // Parents precede children in creation order, so one forward pass propagates the box down.
    for (size_t c = 0; c < clusters.size(); ++c) {
      auto& cl = clusters[c];
      if (cl.parent >= 0 && clusters[cl.parent].box >= 0) cl.box = clusters[cl.parent].box;
      else if (cl.depth > collapse_depth) cl.box = static_cast<int>(c);
    }
  }

  int child(int parent, const std::string& label, std::map<std::pair<int, std::string>, int>& index) {
    auto [it, inserted] = index.try_emplace({parent, label}, static_cast<int>(clusters.size()));
    if (!inserted) return it->second;
    Cluster c;
    c.label = label;
    c.parent = parent;
    if (parent >= 0) {
      c.depth = clusters[parent].depth + 1;
      c.path = clusters[parent].path + "/" + label;
    } else {
      c.path = label;
    }
    clusters.push_back(std::move(c));
    int id = it->second;
    (parent < 0 ? roots : clusters[parent].children).push_back(id);
    return id;
  }

  // What a node is drawn as: itself (its id, >= 0) or the box of the collapsed frame holding it (< 0).
  int64_t rep(NodeId id) const {
    int c = node_cluster[id];
    if (c >= 0 && clusters[c].box >= 0) return -1 - static_cast<int64_t>(clusters[c].box);
    return id;
  }

  static std::string rep_name(int64_t r) {
    std::string name(1, r >= 0 ? 'n' : 'c');
    return name += std::to_string(r >= 0 ? r : -1 - r);
  }

  void emit_node(const Node& n, const std::string& indent) {
    out += indent + "n" + std::to_string(n.id) + " [";
    if (n.is_param()) {
      std::string label = n.name;
      if (!n.outputs.empty()) label += '\n' + n.outputs[0].str();
      out += "label=\"" + dot_escape(label) +
             "\", shape=box, fontsize=8, color=grey60, fontcolor=grey40, height=0.2";
    } else if (n.is_input()) {
      out += "label=\"" + dot_escape(n.name + "\ninput") +
             "\", shape=ellipse, style=filled, fillcolor=lightblue";
    } else {
      out += "label=\"" + dot_escape(n.name + "\n" + n.op) + "\", shape=box";
      if (n.annotation == Annotation::Recompute) out += ", style=dashed";
      if (n.annotation == Annotation::Checkpoint) out += ", style=bold";
    }
    out += ", tooltip=\"" + dot_escape(n.path) + "\"];\n";
  }

  void emit_cluster(int c, const std::string& indent) {
    const Cluster& cl = clusters[c];
    if (cl.box == c) {
      out += indent + "c" + std::to_string(c) + " [label=\"" +
             dot_escape(cl.path + "\n" + std::to_string(cl.ops) + (cl.ops == 1 ? " op" : " ops")) +
             "\", shape=box3d, style=filled, fillcolor=lightyellow];\n";
      return;
    }
    out += indent + "subgraph cluster_" + std::to_string(c) + " {\n";
    std::string inner = indent + "  ";
    out += inner + "label=\"" + dot_escape(cl.label) + "\";\n";
    for (NodeId id : cl.members) emit_node(g.node(id), inner);
    for (int k : cl.children) emit_cluster(k, inner);
    out += indent + "}\n";
  }

  struct PairHash {
    size_t operator()(const std::pair<int64_t, int64_t>& p) const {
      return std::hash<int64_t>()(p.first) * 1000003u ^ std::hash<int64_t>()(p.second);
    }
  };

  void emit_edges() {
    struct Edge {
      int64_t from, to;
      ValueRef first;
      int values = 0;
    };
    std::vector<Edge> edges;  // in first-seen order, so the output is stable
    std::unordered_map<std::pair<int64_t, int64_t>, size_t, PairHash> edge_index;
    // A value read by several nodes of one box is one tensor crossing into it, counted once.
    std::unordered_set<std::pair<int64_t, int64_t>, PairHash> seen_values;
    for (const auto& n : g.nodes()) {
      if (!drawn(n)) continue;
      int64_t to = rep(n.id);
      for (const auto& in : n.inputs) {
        if (!drawn(g.node(in.node))) continue;
        int64_t from = rep(in.node);
        if (from == to) continue;
        auto [it, inserted] = edge_index.try_emplace({from, to}, edges.size());
        if (inserted) edges.push_back({from, to, in, 0});
        int64_t value = (static_cast<int64_t>(in.node) << 16) | (in.index & 0xffff);
        if (seen_values.insert({value, to}).second) ++edges[it->second].values;
      }
    }
    for (const auto& e : edges) {
      std::string label =
          e.values == 1 ? g.type(e.first).str() : std::to_string(e.values) + " tensors";
      out += "  " + rep_name(e.from) + " -> " + rep_name(e.to) + " [label=\"" + dot_escape(label) + "\"];\n";
    }
  }

  std::string run() {
    build_tree();
    out = "digraph \"" + dot_escape(g.model_name) + "\" {\n";
    out += "  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n";
    out += "  edge [fontname=\"Helvetica\", fontsize=8];\n";
    for (NodeId id : top_members) emit_node(g.node(id), "  ");
    for (int c : roots) emit_cluster(c, "  ");
    emit_edges();
    return out + "}\n";
  }
};

}  // namespace

std::string dot_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out;
}

std::string graph_to_dot(const Graph& g, int collapse_depth, bool show_params) {
  Builder b{g, collapse_depth, show_params, {}, {}, {}, {}, {}};
  return b.run();
}

}  // namespace sublinear::ir
