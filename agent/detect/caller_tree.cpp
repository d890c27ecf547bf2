#include "detect/caller_tree.h"

#include <algorithm>
#include <map>
#include <memory>

#include "detect/stats.h"

namespace leakhound::detect {
namespace {

// A trie of the stacks read from the root; children keyed by function name,
// so that one function's call sites (different return addresses, inlined
// frames) share a node.
struct TrieNode {
  std::map<std::string_view, std::unique_ptr<TrieNode>> children;
  std::vector<size_t> stacks;  // every stack through this node
  size_t depth = 0;
  bool eligible = false;
};

// True when a node below `n` that is a candidate has the same stacks: the
// stacks all continue into one child, and so on down.
bool same_set_below(const TrieNode& n, const std::function<bool(const TrieNode&)>& candidate) {
  const TrieNode* cur = &n;
  for (;;) {
    const TrieNode* next = nullptr;
    for (const auto& [name, child] : cur->children)
      if (child->stacks.size() == n.stacks.size()) next = child.get();
    if (!next) return false;
    if (candidate(*next)) return true;
    cur = next;
  }
}

}  // namespace

std::vector<CallerNode> caller_nodes(const std::vector<std::vector<std::string>>& stacks,
                                     const std::function<bool(std::string_view)>& may_be_caller) {
  TrieNode root;
  for (size_t i = 0; i < stacks.size(); ++i) {
    TrieNode* cur = &root;
    const auto& s = stacks[i];
    for (auto it = s.rbegin(); it != s.rend(); ++it) {
      auto& child = cur->children[*it];
      if (!child) {
        child = std::make_unique<TrieNode>();
        child->depth = cur->depth + 1;
        child->eligible = may_be_caller(*it);
      }
      cur = child.get();
      cur->stacks.push_back(i);
    }
  }
  auto candidate = [](const TrieNode& n) { return n.eligible && n.stacks.size() >= 2; };
  std::vector<CallerNode> out;
  std::vector<const TrieNode*> todo{&root};
  while (!todo.empty()) {
    const TrieNode* n = todo.back();
    todo.pop_back();
    for (const auto& [name, child] : n->children) todo.push_back(child.get());
    if (n == &root || !candidate(*n) || same_set_below(*n, candidate)) continue;
    out.push_back({n->depth, n->stacks});
  }
  std::sort(out.begin(), out.end(), [](const CallerNode& a, const CallerNode& b) {
    if (a.stacks.size() != b.stacks.size()) return a.stacks.size() < b.stacks.size();
    if (a.depth != b.depth) return a.depth > b.depth;
    return a.stacks < b.stacks;
  });
  return out;
}

std::vector<Point> sum_series(std::span<const std::vector<Point>* const> series) {
  std::vector<double> times;
  for (const auto* s : series)
    for (const Point& p : *s) times.push_back(p.t_s);
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  std::vector<Point> out(times.size());
  for (size_t i = 0; i < times.size(); ++i) out[i].t_s = times[i];
  for (const auto* s : series) {
    const std::vector<Point> p = sorted_by_time(*s);
    size_t j = 0;
    double last = 0;
    for (size_t i = 0; i < times.size(); ++i) {
      while (j < p.size() && p[j].t_s <= times[i]) last = p[j++].value;
      out[i].value += last;
    }
  }
  return out;
}

}  // namespace leakhound::detect
