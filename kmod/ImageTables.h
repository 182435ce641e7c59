// The fields of every image record, once (RecordTable.h): TreeCodec writes and reads records
// through these tables and ImageSchema.cpp names them for `deja image show`. A new field is
// one line here plus its number in ImageFormat.h; numbers are never reused.
#pragma once

#include <sys/time.h>

#include <array>
#include <cstring>
#include <utility>

#include "base/Error.h"
#include "kmod/RecordTable.h"
#include "kmod/TreeState.h"

namespace deja::kmod::image {

using K = FieldKind;

inline constexpr Field<ProcessState> kRlimitsField{
    {task::kRlimits, "rlimits", K::kBytes},
    [](RecordBuilder& b, uint32_t n, const ProcessState& p) {
      std::string rl;
      for (const auto& r : p.rlimits) rl.append(reinterpret_cast<const char*>(r.data()), sizeof r);
      b.bytes(n, rl);
    },
    [](const RecordView& r, uint32_t n, ProcessState& p) {
      std::string_view rl = r.bytes(n);
      if (rl.size() % 16) throw Error("image: rlimits field has a bad length");
      for (size_t i = 0; i < rl.size(); i += 16) {
        std::array<uint64_t, 2> v;
        std::memcpy(v.data(), rl.data() + i, 16);
        p.rlimits.push_back(v);
      }
    }};

inline constexpr Field<ProcessState> kTaskFields[] = {
    field<&ProcessState::pid>(task::kPid, "pid"),
    field<&ProcessState::ppid>(task::kPpid, "ppid"),
    field<&ProcessState::pgid>(task::kPgid, "pgid"),
    field<&ProcessState::sid>(task::kSid, "sid"),
    field<&ProcessState::host_pid>(task::kHostPid, "host_pid"),
    field<&ProcessState::comm>(task::kComm, "comm"),
    field<&ProcessState::zombie>(task::kZombie, "zombie"),
    field<&ProcessState::exit_status>(task::kExitStatus, "exit_status"),
    field<&ProcessState::umask>(task::kUmask, "umask"),
    field<&ProcessState::cwd>(task::kCwd, "cwd"),
    field<&ProcessState::root>(task::kRoot, "root"),
    field<&ProcessState::exe>(task::kExe, "exe"),
    field<&ProcessState::mm, &MmLayout::start_code>(task::kStartCode, "start_code", K::kHex),
    field<&ProcessState::mm, &MmLayout::end_code>(task::kEndCode, "end_code", K::kHex),
    field<&ProcessState::mm, &MmLayout::start_data>(task::kStartData, "start_data", K::kHex),
    field<&ProcessState::mm, &MmLayout::end_data>(task::kEndData, "end_data", K::kHex),
    field<&ProcessState::mm, &MmLayout::start_brk>(task::kStartBrk, "start_brk", K::kHex),
    field<&ProcessState::mm, &MmLayout::brk>(task::kBrk, "brk", K::kHex),
    field<&ProcessState::mm, &MmLayout::start_stack>(task::kStartStack, "start_stack", K::kHex),
    field<&ProcessState::mm, &MmLayout::arg_start>(task::kArgStart, "arg_start", K::kHex),
    field<&ProcessState::mm, &MmLayout::arg_end>(task::kArgEnd, "arg_end", K::kHex),
    field<&ProcessState::mm, &MmLayout::env_start>(task::kEnvStart, "env_start", K::kHex),
    field<&ProcessState::mm, &MmLayout::env_end>(task::kEnvEnd, "env_end", K::kHex),
    field<&ProcessState::mm, &MmLayout::auxv>(task::kAuxv, "auxv", K::kBytes),
    kRlimitsField,
    field<&ProcessState::shared_pending>(task::kSharedPending, "shared_pending", K::kBytes),
    field<&ProcessState::uid>(task::kUid, "uid"),
    field<&ProcessState::gid>(task::kGid, "gid"),
    field<&ProcessState::personality>(task::kPersonality, "personality", K::kHex),
    field<&ProcessState::dumpable>(task::kDumpable, "dumpable"),
    field<&ProcessState::no_new_privs>(task::kNoNewPrivs, "no_new_privs"),
    field<&ProcessState::child_subreaper>(task::kSubreaper, "child_subreaper"),
    field<&ProcessState::itimers>(task::kItimers, "itimers", K::kBytes),
    field<&ProcessState::capabilities>(task::kCapabilities, "capabilities"),
    field<&ProcessState::ctty>(task::kCtty, "ctty"),
};

// user_regs_struct, in the kernel's order, as fields kRegBase + index.
template <size_t I>
constexpr Field<ThreadState> reg_field() {
  return {{thread::kRegBase + I, thread::kRegNames[I], K::kHex},
          [](RecordBuilder& b, uint32_t n, const ThreadState& t) {
            uint64_t v;
            std::memcpy(&v, reinterpret_cast<const char*>(&t.regs) + I * 8, 8);
            b.u64(n, v);
          },
          [](const RecordView& r, uint32_t n, ThreadState& t) {
            uint64_t v = r.u64(n);
            std::memcpy(reinterpret_cast<char*>(&t.regs) + I * 8, &v, 8);
          }};
}

template <size_t... I>
constexpr auto make_thread_fields(std::index_sequence<I...>) {
  static_assert(sizeof(user_regs_struct) == thread::kRegCount * sizeof(uint64_t));
  return std::array<Field<ThreadState>, 19 + sizeof...(I)>{
      owner_field<ThreadState>(thread::kPid, "pid"),
      field<&ThreadState::tid>(thread::kTid, "tid"),
      field<&ThreadState::sigmask>(thread::kSigmask, "sigmask", K::kHex),
      field<&ThreadState::xsave>(thread::kXsave, "xsave", K::kBytes),
      field<&ThreadState::pending>(thread::kPending, "pending", K::kBytes),
      field<&ThreadState::rseq_addr>(thread::kRseqAddr, "rseq_addr", K::kHex),
      field<&ThreadState::rseq_len>(thread::kRseqLen, "rseq_len"),
      field<&ThreadState::rseq_sig>(thread::kRseqSig, "rseq_sig", K::kHex),
      field<&ThreadState::clear_child_tid>(thread::kClearTid, "clear_child_tid", K::kHex),
      field<&ThreadState::robust_list>(thread::kRobustHead, "robust_list", K::kHex),
      field<&ThreadState::robust_list_len>(thread::kRobustLen, "robust_list_len"),
      field<&ThreadState::altstack_sp>(thread::kAltstackSp, "altstack_sp", K::kHex),
      field<&ThreadState::altstack_flags>(thread::kAltstackFlags, "altstack_flags"),
      field<&ThreadState::altstack_size>(thread::kAltstackSize, "altstack_size"),
      field<&ThreadState::comm>(thread::kComm, "comm"),
      field<&ThreadState::nice>(thread::kNice, "nice"),
      field<&ThreadState::policy>(thread::kPolicy, "sched_policy"),
      field<&ThreadState::rt_priority>(thread::kRtPriority, "rt_priority"),
      field<&ThreadState::affinity>(thread::kAffinity, "affinity", K::kBytes),
      reg_field<I>()...};
}
inline constexpr auto kThreadFields =
    make_thread_fields(std::make_index_sequence<thread::kRegCount>());

inline constexpr Field<Vma> kVmaFields[] = {
    owner_field<Vma>(vma::kPid, "pid"),
    field<&Vma::start>(vma::kStart, "start", K::kHex),
    field<&Vma::end>(vma::kEnd, "end", K::kHex),
    field<&Vma::prot>(vma::kProt, "prot"),
    field<&Vma::flags>(vma::kFlags, "flags", K::kHex),
    field<&Vma::pgoff>(vma::kPgoff, "pgoff"),
    field<&Vma::path>(vma::kPath, "path"),
    field<&Vma::kind>(vma::kKind, "kind"),
    field<&Vma::dev>(vma::kDev, "dev", K::kHex),
    field<&Vma::inode>(vma::kInode, "inode"),
    field<&Vma::file_size>(vma::kFileSize, "file_size"),
    field<&Vma::mtime_ns>(vma::kMtimeNs, "mtime_ns"),
    field<&Vma::shmem_id>(vma::kShmemId, "shmem_id"),
    field<&Vma::advice>(vma::kAdvice, "advice", K::kHex),
    field<&Vma::shmat_flags>(vma::kShmatFlags, "shmat_flags", K::kHex),
};

inline constexpr Field<FdState> kFdFields[] = {
    owner_field<FdState>(fd::kPid, "pid"),
    field<&FdState::fd>(fd::kFd, "fd"),
    field<&FdState::kind>(fd::kKind, "kind"),
    field<&FdState::path>(fd::kPath, "path"),
    field<&FdState::pos>(fd::kPos, "pos"),
    field<&FdState::flags>(fd::kFlags, "flags", K::kHex),
    field<&FdState::cloexec>(fd::kCloexec, "cloexec"),
    field<&FdState::pipe_id>(fd::kPipeId, "pipe_id"),
    field<&FdState::shmem_id>(fd::kShmemId, "shmem_id"),
    field<&FdState::object_id>(fd::kObjectId, "object_id"),
};

inline constexpr Field<PipeState> kPipeFields[] = {
    field<&PipeState::id>(pipe::kId, "id"),
    field<&PipeState::size>(pipe::kSize, "size"),
    field<&PipeState::path>(pipe::kPath, "fifo_path"),
    // Last: the writer streams it without a copy (TreeCodec).
    field<&PipeState::data>(pipe::kData, "data", K::kBytes),
};

inline constexpr Field<SigactionState> kSigactionFields[] = {
    owner_field<SigactionState>(sigaction::kPid, "pid"),
    field<&SigactionState::sig>(sigaction::kSig, "sig"),
    field<&SigactionState::handler>(sigaction::kHandler, "handler", K::kHex),
    field<&SigactionState::flags>(sigaction::kFlags, "flags", K::kHex),
    field<&SigactionState::restorer>(sigaction::kRestorer, "restorer", K::kHex),
    field<&SigactionState::mask>(sigaction::kMask, "mask", K::kHex),
};

inline constexpr Field<ShmemState> kShmemFields[] = {
    field<&ShmemState::id>(shmem::kId, "id"),
    field<&ShmemState::size>(shmem::kSize, "size"),
    field<&ShmemState::name>(shmem::kName, "name"),
    field<&ShmemState::anonymous>(shmem::kAnonymous, "anonymous"),
    field<&ShmemState::path>(shmem::kPath, "deleted_path"),
    field<&ShmemState::mode>(shmem::kMode, "mode"),
};

inline constexpr Field<UnixSocketState> kUnixSocketFields[] = {
    field<&UnixSocketState::id>(unixsk::kId, "id"),
    field<&UnixSocketState::type>(unixsk::kType, "socket_type"),
    field<&UnixSocketState::state>(unixsk::kState, "state"),
    field<&UnixSocketState::name>(unixsk::kName, "name", K::kBytes),
    field<&UnixSocketState::peer>(unixsk::kPeer, "peer"),
    field<&UnixSocketState::peer_listener>(unixsk::kPeerListener, "peer_listener"),
    field<&UnixSocketState::peer_gone>(unixsk::kPeerGone, "peer_gone"),
    field<&UnixSocketState::shutdown>(unixsk::kShutdown, "shutdown"),
    field<&UnixSocketState::backlog>(unixsk::kBacklog, "backlog"),
    field<&UnixSocketState::passcred>(unixsk::kPasscred, "passcred"),
    field<&UnixSocketState::sndbuf>(unixsk::kSndbuf, "sndbuf"),
    field<&UnixSocketState::rcvbuf>(unixsk::kRcvbuf, "rcvbuf"),
    field<&UnixSocketState::queue>(unixsk::kQueue, "queue", K::kBytes),
    field<&UnixSocketState::family>(unixsk::kFamily, "family"),
    field<&UnixSocketState::protocol>(unixsk::kProtocol, "protocol"),
    field<&UnixSocketState::groups>(unixsk::kGroups, "groups", K::kHex),
    field<&UnixSocketState::ancillary>(unixsk::kAncillary, "ancillary", K::kBytes),
    field<&UnixSocketState::peer_pid>(unixsk::kPeerPid, "peer_pid"),
    field<&UnixSocketState::peer_uid>(unixsk::kPeerUid, "peer_uid"),
    field<&UnixSocketState::peer_gid>(unixsk::kPeerGid, "peer_gid"),
};

inline constexpr Field<InFlightFileState> kInFlightFileFields[] = {
    field<&InFlightFileState::id>(inflight::kId, "id"),
    field<&InFlightFileState::path>(inflight::kPath, "path"),
    field<&InFlightFileState::flags>(inflight::kFlags, "flags", K::kHex),
    field<&InFlightFileState::pos>(inflight::kPos, "pos"),
    field<&InFlightFileState::pipe_id>(inflight::kPipeId, "pipe_id"),
    field<&InFlightFileState::shmem_id>(inflight::kShmemId, "shmem_id"),
};

inline constexpr Field<InetSocketState> kInetSocketFields[] = {
    field<&InetSocketState::id>(inetsk::kId, "id"),
    field<&InetSocketState::family>(inetsk::kFamily, "family"),
    field<&InetSocketState::type>(inetsk::kType, "socket_type"),
    field<&InetSocketState::protocol>(inetsk::kProtocol, "protocol"),
    field<&InetSocketState::state>(inetsk::kState, "state"),
    field<&InetSocketState::local>(inetsk::kLocal, "local", K::kBytes),
    field<&InetSocketState::peer>(inetsk::kPeer, "peer", K::kBytes),
    field<&InetSocketState::backlog>(inetsk::kBacklog, "backlog"),
    field<&InetSocketState::reuseaddr>(inetsk::kReuseaddr, "reuseaddr"),
    field<&InetSocketState::reuseport>(inetsk::kReuseport, "reuseport"),
    field<&InetSocketState::keepalive>(inetsk::kKeepalive, "keepalive"),
    field<&InetSocketState::nodelay>(inetsk::kNodelay, "nodelay"),
    field<&InetSocketState::v6only>(inetsk::kV6only, "v6only"),
    field<&InetSocketState::sndbuf>(inetsk::kSndbuf, "sndbuf"),
    field<&InetSocketState::rcvbuf>(inetsk::kRcvbuf, "rcvbuf"),
    field<&InetSocketState::loopback_up>(inetsk::kLoopbackUp, "loopback_up"),
    field<&InetSocketState::send_seq>(inetsk::kSendSeq, "send_seq"),
    field<&InetSocketState::recv_seq>(inetsk::kRecvSeq, "recv_seq"),
    field<&InetSocketState::send_queue>(inetsk::kSendQueue, "send_queue", K::kBytes),
    field<&InetSocketState::recv_queue>(inetsk::kRecvQueue, "recv_queue", K::kBytes),
    field<&InetSocketState::unsent>(inetsk::kUnsent, "unsent"),
    field<&InetSocketState::mss>(inetsk::kMss, "mss"),
    field<&InetSocketState::snd_wscale>(inetsk::kSndWscale, "snd_wscale"),
    field<&InetSocketState::rcv_wscale>(inetsk::kRcvWscale, "rcv_wscale"),
    field<&InetSocketState::options>(inetsk::kOptions, "options", K::kHex),
    field<&InetSocketState::timestamp>(inetsk::kTimestamp, "timestamp"),
    field<&InetSocketState::window>(inetsk::kWindow, "window", K::kBytes),
};

inline constexpr Field<EpollState> kEpollFields[] = {
    field<&EpollState::id>(epoll::kId, "id"),
};

inline constexpr Field<EpollTarget> kEpollTargetFields[] = {
    owner_field<EpollTarget>(epolltarget::kEpollId, "epoll_id", K::kUint),
    field<&EpollTarget::fd>(epolltarget::kFd, "fd"),
    field<&EpollTarget::events>(epolltarget::kEvents, "events", K::kHex),
    field<&EpollTarget::data>(epolltarget::kData, "data", K::kHex),
    field<&EpollTarget::inode>(epolltarget::kInode, "inode"),
};

inline constexpr Field<EventState> kEventFields[] = {
    field<&EventState::id>(event::kId, "id"),
    field<&EventState::kind>(event::kKind, "kind"),
    field<&EventState::count>(event::kCount, "count"),
    field<&EventState::semaphore>(event::kSemaphore, "semaphore"),
    field<&EventState::clock>(event::kClock, "clock"),
    field<&EventState::timer_flags>(event::kTimerFlags, "timer_flags", K::kHex),
    field<&EventState::value_ns>(event::kValueNs, "value_ns"),
    field<&EventState::interval_ns>(event::kIntervalNs, "interval_ns"),
    field<&EventState::sigmask>(event::kSigmask, "sigmask", K::kHex),
};

inline constexpr Field<TtyState> kTtyFields[] = {
    field<&TtyState::id>(tty::kId, "id"),
    field<&TtyState::index>(tty::kIndex, "index"),
    field<&TtyState::termios>(tty::kTermios, "termios", K::kBytes),
    field<&TtyState::winsize>(tty::kWinsize, "winsize", K::kBytes),
    field<&TtyState::packet_mode>(tty::kPacketMode, "packet_mode"),
    field<&TtyState::locked>(tty::kLocked, "locked"),
    field<&TtyState::exclusive>(tty::kExclusive, "exclusive"),
    field<&TtyState::fg_pgrp>(tty::kFgPgrp, "fg_pgrp"),
    field<&TtyState::session>(tty::kSession, "session"),
    field<&TtyState::to_master>(tty::kToMaster, "to_master", K::kBytes),
    field<&TtyState::to_slave>(tty::kToSlave, "to_slave", K::kBytes),
};

inline constexpr Field<PosixTimerState> kPosixTimerFields[] = {
    owner_field<PosixTimerState>(posixtimer::kPid, "pid"),
    field<&PosixTimerState::id>(posixtimer::kId, "id"),
    field<&PosixTimerState::clock>(posixtimer::kClock, "clock"),
    field<&PosixTimerState::notify>(posixtimer::kNotify, "notify"),
    field<&PosixTimerState::signo>(posixtimer::kSigno, "signo"),
    field<&PosixTimerState::sigval>(posixtimer::kSigval, "sigval", K::kHex),
    field<&PosixTimerState::thread>(posixtimer::kThread, "thread"),
    field<&PosixTimerState::value_ns>(posixtimer::kValueNs, "value_ns"),
    field<&PosixTimerState::interval_ns>(posixtimer::kIntervalNs, "interval_ns"),
    field<&PosixTimerState::overrun>(posixtimer::kOverrun, "overrun"),
};

inline constexpr Field<InotifyState> kInotifyFields[] = {
    field<&InotifyState::id>(inotify::kId, "id"),
};

inline constexpr Field<InotifyWatch> kInotifyWatchFields[] = {
    owner_field<InotifyWatch>(inotifywatch::kInotifyId, "inotify_id", K::kUint),
    field<&InotifyWatch::wd>(inotifywatch::kWd, "wd"),
    field<&InotifyWatch::mask>(inotifywatch::kMask, "mask", K::kHex),
    field<&InotifyWatch::path>(inotifywatch::kPath, "path"),
};

inline constexpr Field<PidfdState> kPidfdFields[] = {
    field<&PidfdState::id>(pidfd::kId, "id"),
    field<&PidfdState::pid>(pidfd::kPid, "pid"),
};

inline constexpr Field<SysvIpcState> kSysvIpcFields[] = {
    field<&SysvIpcState::kind>(sysvipc::kKind, "kind"),
    field<&SysvIpcState::id>(sysvipc::kId, "id"),
    field<&SysvIpcState::key>(sysvipc::kKey, "key"),
    field<&SysvIpcState::mode>(sysvipc::kMode, "mode", K::kHex),
    field<&SysvIpcState::uid>(sysvipc::kUid, "uid"),
    field<&SysvIpcState::gid>(sysvipc::kGid, "gid"),
    field<&SysvIpcState::size>(sysvipc::kSize, "size"),
    field<&SysvIpcState::data>(sysvipc::kData, "data", K::kBlob),
};

inline constexpr Field<MqueueState> kMqueueFields[] = {
    field<&MqueueState::name>(mqueue::kName, "name"),
    field<&MqueueState::mode>(mqueue::kMode, "mode", K::kHex),
    field<&MqueueState::uid>(mqueue::kUid, "uid"),
    field<&MqueueState::gid>(mqueue::kGid, "gid"),
    field<&MqueueState::maxmsg>(mqueue::kMaxmsg, "maxmsg"),
    field<&MqueueState::msgsize>(mqueue::kMsgsize, "msgsize"),
    field<&MqueueState::messages>(mqueue::kMessages, "messages", K::kBlob),
};

}  // namespace deja::kmod::image
