#include "display/SegmentReaders.h"

namespace deja::display {

VideoReader& SegmentReaders::get(const std::string& file) {
  if (!open_.empty() && open_.front().first == file) return *open_.front().second;
  // Only the reader in use keeps decoded frames (a dozen screens each).
  if (!open_.empty()) open_.front().second->forget_run();
  for (auto it = open_.begin(); it != open_.end(); ++it) {
    if (it->first != file) continue;
    open_.splice(open_.begin(), open_, it);
    return *open_.front().second;
  }
  auto reader = std::make_unique<VideoReader>(dir_ + "/" + file);
  open_.emplace_front(file, std::move(reader));
  if (open_.size() > capacity_) open_.pop_back();
  return *open_.front().second;
}

void SegmentReaders::drop(const std::string& file) {
  open_.remove_if([&](const auto& entry) { return entry.first == file; });
}

}  // namespace deja::display
