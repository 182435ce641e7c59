#include "ui/Timeline.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace deja::ui {

namespace {

std::string crid_text(uint64_t crid) {
  return std::to_string(crid);
}

// Follows parent links from `start`; a chain longer than the number of nodes must revisit one.
template <typename ParentOf>
bool reaches_root(size_t start, size_t count, ParentOf parent_of) {
  size_t at = start;
  for (size_t steps = 0; steps <= count; ++steps) {
    if (at == Timeline::npos) return true;
    at = parent_of(at);
  }
  return false;
}

}  // namespace

std::vector<Timeline::Node> Timeline::link(std::vector<Node> nodes,
                                           const std::unordered_map<std::string, size_t>& by_id,
                                           std::vector<size_t>& roots) {
  roots.clear();
  for (size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].children.clear();
    nodes[i].parent = nodes[i].info.parent ? by_id.at(*nodes[i].info.parent) : npos;
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].parent == npos)
      roots.push_back(i);
    else
      nodes[nodes[i].parent].children.push_back(i);
  }
  return nodes;
}

std::optional<std::string> Timeline::set_sessions(std::vector<SessionInfo> sessions) {
  std::unordered_map<std::string, size_t> by_id;
  for (size_t i = 0; i < sessions.size(); ++i) {
    if (sessions[i].id.empty()) return "a session has an empty id";
    if (!by_id.emplace(sessions[i].id, i).second)
      return "session " + sessions[i].id + " is listed twice";
  }
  for (const SessionInfo& s : sessions) {
    if (s.parent.has_value() != s.parent_crid.has_value())
      return "session " + s.id + " has a parent without a parent checkpoint, or the reverse";
    if (s.parent && !by_id.count(*s.parent))
      return "session " + s.id + " branches from unknown session " + *s.parent;
  }
  auto parent_of = [&](size_t i) {
    return sessions[i].parent ? by_id.at(*sessions[i].parent) : npos;
  };
  for (size_t i = 0; i < sessions.size(); ++i)
    if (!reaches_root(i, sessions.size(), parent_of))
      return "session " + sessions[i].id + " is its own ancestor";

  // Keep what was loaded for sessions that stay, so a refresh does not blank the timeline.
  std::vector<Node> nodes(sessions.size());
  for (size_t i = 0; i < sessions.size(); ++i) {
    nodes[i].info = std::move(sessions[i]);
    if (size_t old = find_session(nodes[i].info.id); old != npos) {
      nodes[i].loaded = sessions_[old].loaded;
      nodes[i].checkpoints = sessions_[old].checkpoints;
    }
  }
  std::vector<size_t> roots;
  nodes = link(std::move(nodes), by_id, roots);

  bool same_tree = nodes.size() == sessions_.size();
  for (size_t i = 0; same_tree && i < nodes.size(); ++i)
    same_tree = nodes[i].info.id == sessions_[i].info.id &&
                nodes[i].info.parent == sessions_[i].info.parent;
  if (same_tree) {
    std::vector<size_t> changed;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (!(nodes[i].info == sessions_[i].info)) changed.push_back(i);
    for (size_t i : changed) sessions_[i].info = std::move(nodes[i].info);
    for (size_t i : changed) notify([&](TimelineObserver& o) { o.session_changed(i); });
    return std::nullopt;
  }
  notify([](TimelineObserver& o) { o.sessions_about_to_reset(); });
  sessions_ = std::move(nodes);
  roots_ = std::move(roots);
  index_ = std::move(by_id);
  notify([](TimelineObserver& o) { o.sessions_reset(); });
  return std::nullopt;
}

std::optional<std::string> Timeline::set_checkpoints(const std::string& session,
                                                     std::vector<Checkpoint> checkpoints) {
  size_t index = find_session(session);
  if (index == npos) return "checkpoints for unknown session " + session;
  for (size_t i = 1; i < checkpoints.size(); ++i) {
    if (checkpoints[i].crid <= checkpoints[i - 1].crid)
      return "checkpoints of " + session + " are not in CRID order at CRID " +
             crid_text(checkpoints[i].crid);
    if (checkpoints[i].t < checkpoints[i - 1].t)
      return "checkpoints of " + session + " go back in time at CRID " +
             crid_text(checkpoints[i].crid);
  }
  for (size_t other = 0; other < sessions_.size(); ++other) {
    if (other == index) continue;
    const auto& theirs = sessions_[other].checkpoints;
    for (const Checkpoint& c : checkpoints) {
      auto it = std::lower_bound(theirs.begin(), theirs.end(), c.crid,
                                 [](const Checkpoint& a, uint64_t crid) { return a.crid < crid; });
      if (it != theirs.end() && it->crid == c.crid)
        return "CRID " + crid_text(c.crid) + " of " + session + " already belongs to " +
               sessions_[other].info.id;
    }
  }

  Node& node = sessions_[index];
  node.loaded = true;
  const auto& old = node.checkpoints;
  bool extends =
      checkpoints.size() >= old.size() && std::equal(old.begin(), old.end(), checkpoints.begin());
  if (extends) {
    if (checkpoints.size() == old.size()) return std::nullopt;
    size_t first = old.size(), last = checkpoints.size() - 1;
    notify([&](TimelineObserver& o) { o.checkpoints_about_to_append(index, first, last); });
    node.checkpoints = std::move(checkpoints);
    notify([&](TimelineObserver& o) { o.checkpoints_appended(index); });
    return std::nullopt;
  }
  notify([&](TimelineObserver& o) { o.checkpoints_about_to_reset(index); });
  node.checkpoints = std::move(checkpoints);
  notify([&](TimelineObserver& o) { o.checkpoints_reset(index); });
  return std::nullopt;
}

size_t Timeline::find_session(const std::string& id) const {
  auto it = index_.find(id);
  return it == index_.end() ? npos : it->second;
}

size_t Timeline::row_of(size_t index) const {
  const auto& siblings = parent_of(index) == npos ? roots_ : children(parent_of(index));
  auto it = std::find(siblings.begin(), siblings.end(), index);
  return static_cast<size_t>(it - siblings.begin());
}

size_t Timeline::checkpoint_at_or_before(size_t index, double t) const {
  const auto& list = checkpoints(index);
  auto it = std::upper_bound(list.begin(), list.end(), t,
                             [](double value, const Checkpoint& c) { return value < c.t; });
  if (it == list.begin()) return npos;
  return static_cast<size_t>(it - list.begin()) - 1;
}

std::vector<size_t> Timeline::branches_from(size_t index, uint64_t crid) const {
  std::vector<size_t> out;
  for (size_t child : children(index))
    if (session(child).parent_crid == crid) out.push_back(child);
  return out;
}

double Timeline::extent(size_t index) const {
  const auto& list = checkpoints(index);
  return list.empty() ? 0.0 : list.back().t;
}

double Timeline::reach(size_t index, double now_unix) const {
  const SessionInfo& s = session(index);
  double end = extent(index);
  if (!s.span_known || s.started_unix <= 0) return end;
  if (s.stopped_unix)
    end = std::max(end, *s.stopped_unix - s.started_unix);
  else if (s.state == "recording")
    end = std::max(end, now_unix - s.started_unix);
  return end;
}

void Timeline::remove_observer(TimelineObserver* observer) {
  observers_.erase(std::remove(observers_.begin(), observers_.end(), observer), observers_.end());
}

std::vector<std::string> Timeline::check_consistency() const {
  std::vector<std::string> problems;
  std::unordered_map<std::string, size_t> by_id;
  for (size_t i = 0; i < sessions_.size(); ++i)
    if (!by_id.emplace(sessions_[i].info.id, i).second)
      problems.push_back("session id " + sessions_[i].info.id + " repeats");

  if (by_id != index_) problems.push_back("the id index does not match the session list");

  std::vector<size_t> expected_roots;
  std::vector<std::vector<size_t>> expected_children(sessions_.size());
  for (size_t i = 0; i < sessions_.size(); ++i) {
    const Node& n = sessions_[i];
    const std::string& id = n.info.id;
    if (n.info.parent.has_value() != n.info.parent_crid.has_value())
      problems.push_back(id + ": parent and parent_crid disagree");
    if (!n.info.parent) {
      if (n.parent != npos) problems.push_back(id + ": root session has a parent link");
      expected_roots.push_back(i);
    } else {
      auto it = by_id.find(*n.info.parent);
      if (it == by_id.end() || it->second != n.parent)
        problems.push_back(id + ": parent link does not name session " + *n.info.parent);
      else
        expected_children[n.parent].push_back(i);
    }
    if (!reaches_root(i, sessions_.size(), [&](size_t k) {
          return sessions_[k].parent < sessions_.size() ? sessions_[k].parent : npos;
        }))
      problems.push_back(id + ": parent links form a cycle");
    if (!n.loaded && !n.checkpoints.empty())
      problems.push_back(id + ": checkpoints present but never loaded");
    for (size_t k = 1; k < n.checkpoints.size(); ++k) {
      if (n.checkpoints[k].crid <= n.checkpoints[k - 1].crid)
        problems.push_back(id + ": CRIDs not strictly increasing");
      if (n.checkpoints[k].t < n.checkpoints[k - 1].t)
        problems.push_back(id + ": checkpoint times go backwards");
    }
  }
  if (expected_roots != roots_) problems.push_back("root list does not match parent links");
  for (size_t i = 0; i < sessions_.size(); ++i)
    if (expected_children[i] != sessions_[i].children)
      problems.push_back(sessions_[i].info.id + ": child list does not match parent links");

  std::unordered_set<uint64_t> crids;
  for (const Node& n : sessions_)
    for (const Checkpoint& c : n.checkpoints)
      if (!crids.insert(c.crid).second)
        problems.push_back("CRID " + crid_text(c.crid) + " appears twice");
  return problems;
}

}  // namespace deja::ui
