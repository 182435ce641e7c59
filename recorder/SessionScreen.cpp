#include "recorder/SessionScreen.h"

#include "db/Catalog.h"

namespace deja::recorder {

SessionScreen::SessionScreen(const snapshot::Store& store, std::string session,
                             std::string framebuffer)
    : store_(store), session_(std::move(session)), framebuffer_(std::move(framebuffer)) {}

void SessionScreen::start() {
  if (framebuffer_.empty() || recorder_) return;
  display::RecorderOptions o;
  o.framebuffer = framebuffer_;
  o.framebuffer_beneath = store_.session_subvolume(session_);
  o.session_files = store_.session_subvolume(session_);
  o.recordings_dir = store_.recordings_dir();
  o.session = session_;
  o.catalog = store_.catalog_path();
  // Only the paths matter here; the geometry is the session's own business.
  o.x_socket = display::session_display(store_.session_subvolume(session_), "1280x800")
                   .server_socket_on_host;
  // Read from the catalog at every start: a recorder that adopts the session, and a
  // branch, keep out what the session's first recorder kept out.
  for (const db::WindowExclusion& w : db::Catalog(o.catalog).window_exclusions(session_))
    (w.kind == "app" ? o.exclude.apps : o.exclude.titles).push_back(w.pattern);
  recorder_.emplace(o);
  recorder_->start();
}

void SessionScreen::stop() {
  if (!recorder_) return;
  recorder_->stop();  // finishes and indexes the open segment
  recorder_.reset();
}

SupervisorHooks SessionScreen::hooks() {
  SupervisorHooks h;
  h.on_end = [this] { stop(); };
  h.on_pause = [this](bool paused) { paused ? stop() : start(); };
  return h;
}

}  // namespace deja::recorder
