// The recorder's public face: start and supervise a session, and reach a running one.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "db/Catalog.h"
#include "recorder/ContainerIds.h"
#include "recorder/ContainerLimits.h"
#include "snapshot/Store.h"

namespace deja::recorder {

struct RecordOptions {
  std::string name;
  double interval = 1.0;  // seconds between checkpoints; 0 disables the cadence
  bool display = true;
  std::string geometry = "1280x800x24";
  /// The command; empty with `desktop`, which starts the default desktop instead.
  std::vector<std::string> command;
  /// The default desktop: twm and an xterm (see docs/sessions.md). Needs the display.
  bool desktop = false;
  ResourceLimits limits;
  /// Runs the session in a user namespace whose root is an unprivileged host range
  /// (recorder/ContainerIds.h); off only when asked (--no-userns). A revive follows its
  /// source session, either way.
  bool userns = true;
  /// The user the session's programs run as inside that namespace (deja record --user);
  /// empty: the one who asked (recorder/ContainerIds.h), or the owner below.
  std::string user;
  /// Windows blacked out in the screen recording and never read (kept with the session:
  /// a new recorder and every branch apply them too).
  std::vector<db::WindowExclusion> exclude_windows;
  /// The user the session is recorded for through the service (docs/service.md); its
  /// programs run as that user unless --user names another.
  std::optional<int64_t> owner;
};

/// Starts a session and supervises it until its processes have all exited or it is stopped.
/// `on_ready` runs once with the session id when recording has started. When the session
/// cannot start this throws, and nothing of the session is left behind. Returns the session
/// command's exit status.
int record_session(const snapshot::Store& store, const RecordOptions& options,
                   const std::function<void(const std::string& id)>& on_ready);

struct ReviveOptions {
  std::string name;  // default: the source session's name
  double interval = 1.0;
  ResourceLimits limits;
};

/// Revives checkpoint `crid` of session `source` as a new branch: a writable snapshot of the
/// checkpoint's FSID becomes its files, its process tree comes back with the same PIDs in a
/// new container, and it is recorded like any session while the source goes on. Returns
/// the branch's exit status; `on_ready` as for record_session.
int revive_session(const snapshot::Store& store, const std::string& source, db::Crid crid,
                   const ReviveOptions& options,
                   const std::function<void(const std::string& id)>& on_ready);

/// Adopts a running session whose recorder is gone (killed, crashed): this process becomes
/// its recorder, records the time it went unrecorded as a gap, and takes a checkpoint at
/// once. Throws a clear Error when the session has a recorder, is stopped, or its processes
/// are gone (then it is marked stopped). Returns when the session ends (exit status 0: an
/// adopted session's status is its old recorder's to know); `on_ready` as for record_session.
int attach_session(const snapshot::Store& store, const std::string& id,
                   const std::function<void(const std::string& id)>& on_ready);

/// What a session is doing now: "recording", "paused", "unrecorded" (its processes run but
/// no recorder answers), "starting", "stopped" or "failed".
std::string session_state(const snapshot::Store& store, const db::SessionRow& row);
/// Since when an unrecorded session has gone without a recorder: its last recorder's last
/// heartbeat (or its newest checkpoint, or its start).
double unrecorded_since(const snapshot::Store& store, db::Catalog& catalog,
                        const db::SessionRow& row);

/// Pauses (no frames, text or checkpoints; the gap is recorded) or resumes recording.
void request_pause(const snapshot::Store& store, const std::string& id, bool pause);

/// The session's cgroup v2 group.
std::string session_cgroup_path(const std::string& id);
/// The host path of the session's Xvfb framebuffer file.
std::string framebuffer_of(const snapshot::Store& store, const std::string& id);

/// A session whose recorder answers. Throws a clear Error when the id is unknown or the
/// session is not running.
db::SessionRow running_session(db::Catalog& catalog, const snapshot::Store& store,
                               const std::string& id);
/// Looks a session up, with a clear Error when the id is unknown.
db::SessionRow known_session(db::Catalog& catalog, const std::string& id);
/// Whether the session's recorder answers.
bool recorder_alive(const snapshot::Store& store, const std::string& id);

/// Asks the recorder for a checkpoint and returns its CRID.
uint64_t request_checkpoint(const snapshot::Store& store, const std::string& id);
/// Ends the session and waits until it has: through its recorder, or, when the recorder was
/// killed, by killing what is left in the session's cgroup. Throws when already stopped.
void request_stop(const snapshot::Store& store, db::Catalog& catalog, const std::string& id);

/// Runs `command` inside the session's container, as its user (`ids`, read_id_map), and
/// returns its exit status.
int exec_in_session(const db::SessionRow& session, const IdMap& ids,
                    const std::vector<std::string>& command);
/// Ends what `deja exec` left running beside session `id` and removes its group (the
/// session has ended).
void remove_exec_cgroup(const std::string& id);

}  // namespace deja::recorder
