#include "report/flame_graph.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace leakhound::report {
namespace {

struct Node {
  explicit Node(std::string n) : name(std::move(n)) {}
  std::string name;
  double value = 0;
  std::vector<size_t> children;  // indexes into the tree, widest first after sort
  std::unordered_map<std::string, size_t> index;
};

struct Tree {
  std::vector<Node> nodes{Node("all")};

  void add(const WeightedStack& s) {
    if (!(s.value > 0) || !std::isfinite(s.value)) return;
    size_t at = 0;
    nodes[0].value += s.value;
    for (const std::string& fr : s.frames) {
      auto it = nodes[at].index.find(fr);
      size_t next;
      if (it == nodes[at].index.end()) {
        next = nodes.size();
        nodes[at].index.emplace(fr, next);
        nodes[at].children.push_back(next);
        nodes.emplace_back(fr);
      } else {
        next = it->second;
      }
      nodes[next].value += s.value;
      at = next;
    }
  }
};

struct Emit {
  Emit(const Tree& t, const FlameOptions& opt) : tree(t), o(opt) {}
  const Tree& tree;
  const FlameOptions& o;
  std::string out;
  size_t shown = 0, hidden = 0;
  int max_depth = 0;

  void node(size_t i, double x, int depth) {
    const Node& n = tree.nodes[i];
    const double total = tree.nodes[0].value;
    const double w = n.value / total;
    max_depth = std::max(max_depth, depth);
    ++shown;
    const std::string name = html_escape(n.name);
    out += fmt::format(
        "<div class=\"fr\" style=\"left:{:.4f}%;width:{:.4f}%;top:{}px\" data-x=\"{:.6f}\" "
        "data-w=\"{:.6f}\" data-d=\"{}\" data-v=\"{}\" data-name=\"{}\" title=\"{} &#8212; {} "
        "({:.1f}%)\">{}</div>",
        x * 100, w * 100, depth * 18, x, w, depth, exact_number(n.value), name, name,
        html_escape(human_value(n.value, o.unit)), w * 100, name);
    std::vector<size_t> kids = n.children;
    std::sort(kids.begin(), kids.end(),
              [&](size_t a, size_t b) { return tree.nodes[a].value > tree.nodes[b].value; });
    double cx = x;
    for (size_t k : kids) {
      if (tree.nodes[k].value / total < o.min_share) {
        hidden += count(k);
        continue;
      }
      node(k, cx, depth + 1);
      cx += tree.nodes[k].value / total;
    }
  }

  size_t count(size_t i) const {
    size_t c = 1;
    for (size_t k : tree.nodes[i].children) c += count(k);
    return c;
  }
};

}  // namespace

std::string html_flame(const std::vector<WeightedStack>& stacks, const FlameOptions& o) {
  Tree tree;
  for (const WeightedStack& s : stacks) tree.add(s);
  std::string head = fmt::format(
      "<section class=\"flame\" data-flame=\"{}\" data-total=\"{}\" data-stacks=\"{}\">"
      "<h3>{} <small>{} in {} stacks</small></h3>",
      html_escape(o.id), exact_number(tree.nodes[0].value), stacks.size(), html_escape(o.title),
      html_escape(human_value(tree.nodes[0].value, o.unit)), stacks.size());
  if (tree.nodes[0].value <= 0) {
    return head + "<p class=\"empty\">nothing outstanding</p></section>";
  }
  Emit e(tree, o);
  e.node(0, 0, 0);
  std::string foot;
  if (e.hidden > 0) {
    foot = fmt::format("<p class=\"note\">{} frames under {:.2g}% of the total are left out.</p>",
                       e.hidden, o.min_share * 100);
  }
  return head +
         "<div class=\"flamebar\"><input type=\"search\" placeholder=\"search function\" "
         "aria-label=\"search function\"><button type=\"button\" class=\"reset\">reset "
         "zoom</button><span class=\"match\"></span></div>" +
         fmt::format("<div class=\"frames\" style=\"height:{}px\">", (e.max_depth + 1) * 18) +
         e.out + "</div>" + foot + "</section>";
}

}  // namespace leakhound::report
