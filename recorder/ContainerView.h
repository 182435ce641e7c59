// What a session sees of the host, and what it may do to it: a private /dev, no host secrets,
// the kernel's knobs in /proc and /sys read-only or masked (the paths container runtimes mask),
// no_new_privs and a reduced capability set. The layout is documented in docs/sessions.md.
#pragma once

#include <string>

namespace deja::recorder {

/// Under `root` (a read-only bind of the host's /, before pivot_root): hides the host's secrets
/// and private folders, and replaces /dev with a minimal private one. Runs as host root in the
/// container's new mount namespace.
void build_host_view(const std::string& root);

/// After pivot_root and the container's own /proc is mounted: makes the kernel's writable knobs
/// read-only and masks the files that leak host state.
void mask_kernel_interfaces();

/// The last step before a session's program runs: keeps only the capabilities a root program
/// needs for its own files (see kSessionCapabilities in ContainerView.cpp), clears ambient
/// capabilities and sets no_new_privs. `keep_ptrace` also keeps CAP_SYS_PTRACE (deja exec:
/// then no session program can ptrace what the user runs, whose stdio is the user's terminal).
void confine_process(bool keep_ptrace);

}  // namespace deja::recorder
