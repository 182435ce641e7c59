// Revive: bring a captured tree back, with the same PIDs, in a new PID namespace.
//
// Two halves, because PIDs can only be chosen from inside the new namespace while the
// rewriting needs a tracer outside it:
//
//   ScopedFd program = open_skeleton_program();   // before the container starts
//   // In the new container, as its PID 1, once its mounts (and /proc) are in place:
//   run_skeleton(tree, report_fd, program.get());  // never returns
//
//   // Outside, in the process that created the container (report_fd's other end):
//   fill_skeleton(tree, HostPid{pid1_as_seen_outside}, report_read_fd);
//
// run_skeleton execs the small deja-skeleton program, which forks every process of the image
// at its PID (clone3 set_tid) under the right parent, session and process group, creates its
// threads at their TIDs and makes zombies exit with their recorded status; then every skeleton waits. fill_skeleton seizes them all,
// replaces each one's memory, files, signal state and registers with the image's through
// injected syscalls, and lets the whole tree run at once.
//
// Requirements: root (CAP_SYS_ADMIN for set_tid, CAP_SYS_RESOURCE for PR_SET_MM_MAP); the
// container's /proc is mounted for the new PID namespace (pipes are reopened through it);
// files the image names exist at the same paths inside the container; the kernel and CPU
// are the ones the image was captured on (same vDSO layout and xsave format).
#pragma once

#include "base/ScopedFd.h"
#include "kmod/TreeState.h"
#include "kmod/Types.h"

namespace deja::kmod {

/// deja-skeleton beside the running program, opened (O_PATH) while its folder is in view:
/// inside a session's container it may not be.
ScopedFd open_skeleton_program();

/// Runs as PID 1 of a fresh PID namespace and becomes `program_fd` (open_skeleton_program).
/// Writes 'R' to `report_fd` once every skeleton is waiting, or 'E' and a one-line message on
/// failure (then exits 1). Never returns.
[[noreturn]] void run_skeleton(const TreeState& tree, int report_fd, int program_fd);

/// Fills the skeleton whose PID 1 is `init` (host PID) once `report_fd` says it is ready
/// (waits at most 10 s). Page data left in mapped images (`tree.unverified`) is checked
/// record by record just before it is written, so a damaged image fails the fill. On success
/// the revived tree is running. On failure throws deja::Error naming what could not be
/// restored; the caller then kills the container.
void fill_skeleton(const TreeState& tree, HostPid init, int report_fd);

}  // namespace deja::kmod
