// The code the engine places in a recorded process (copied, never run here). A thread the
// engine runs syscalls in points at its entry; after each syscall it stops there for the
// engine, which puts the thread back itself when done. If the engine dies first (the
// recorder was SIGKILLed), the thread is released as it stands and runs on into the
// restore: it sets back its scheduling (when the engine raised it) and signal mask and every
// register from the data page and jumps to where it was, so it never runs on with the
// injected registers or priority.
#include "kmod/inject/ParasiteLayout.h"

	.section .rodata
	.globl deja_parasite_stub_begin, deja_parasite_stub_end
deja_parasite_stub_begin:
.Lbase:
	syscall				// DEJA_PARASITE_ENTRY
	// DEJA_PARASITE_RESTORE: sched_setattr(0, &saved attr, 0) if the engine raised it, then
	// rt_sigprocmask(SIG_SETMASK, &saved mask, NULL, 8)
	cmpq	$0, .Lbase+DEJA_SAVED_SCHED_SET(%rip)
	je	.Lmask
	movl	$314, %eax
	xorl	%edi, %edi
	leaq	.Lbase+DEJA_SAVED_SCHED(%rip), %rsi
	xorl	%edx, %edx
	syscall
.Lmask:
	movl	$14, %eax
	movl	$2, %edi
	leaq	.Lbase+DEJA_SAVED_SIGMASK(%rip), %rsi
	xorl	%edx, %edx
	movl	$8, %r10d
	syscall
	leaq	.Lbase+DEJA_PARASITE_STACK_TOP(%rip), %rsp
	pushq	.Lbase+DEJA_SAVED_RFLAGS(%rip)
	popfq
	movq	.Lbase+DEJA_SAVED_RAX(%rip), %rax
	movq	.Lbase+DEJA_SAVED_RBX(%rip), %rbx
	movq	.Lbase+DEJA_SAVED_RCX(%rip), %rcx
	movq	.Lbase+DEJA_SAVED_RDX(%rip), %rdx
	movq	.Lbase+DEJA_SAVED_RSI(%rip), %rsi
	movq	.Lbase+DEJA_SAVED_RDI(%rip), %rdi
	movq	.Lbase+DEJA_SAVED_RBP(%rip), %rbp
	movq	.Lbase+DEJA_SAVED_R8(%rip), %r8
	movq	.Lbase+DEJA_SAVED_R9(%rip), %r9
	movq	.Lbase+DEJA_SAVED_R10(%rip), %r10
	movq	.Lbase+DEJA_SAVED_R11(%rip), %r11
	movq	.Lbase+DEJA_SAVED_R12(%rip), %r12
	movq	.Lbase+DEJA_SAVED_R13(%rip), %r13
	movq	.Lbase+DEJA_SAVED_R14(%rip), %r14
	movq	.Lbase+DEJA_SAVED_R15(%rip), %r15
	movq	.Lbase+DEJA_SAVED_RSP(%rip), %rsp
	jmp	*.Lbase+DEJA_SAVED_RIP(%rip)

	// DEJA_PARASITE_BATCH_ENTRY: run the batch, counting each syscall done, then wait for
	// the engine to interrupt the thread; after DEJA_BATCH_PATIENCE timed-out waits the
	// engine is gone: restore. The wait is rt_sigtimedwait on no signal at all: interrupted
	// it answers EINTR, where a futex or nanosleep with a timeout would overwrite the thread's
	// restart block (an interrupted nanosleep of the program's would then resume as ours).
	.org	.Lbase+DEJA_PARASITE_BATCH_ENTRY
	leaq	.Lbase+DEJA_BATCH_COUNT(%rip), %r12
	xorl	%r13d, %r13d
.Lnext:
	cmpq	(%r12), %r13
	jae	.Lwait
	movq	%r13, %r14
	shlq	$6, %r14
	leaq	DEJA_BATCH_ENTRIES-DEJA_BATCH_COUNT(%r12,%r14), %r14
	movq	(%r14), %rax
	movq	8(%r14), %rdi
	movq	16(%r14), %rsi
	movq	24(%r14), %rdx
	movq	32(%r14), %r10
	movq	40(%r14), %r8
	movq	48(%r14), %r9
	syscall
	movq	%rax, 56(%r14)
	incq	%r13
	movq	%r13, DEJA_BATCH_DONE-DEJA_BATCH_COUNT(%r12)
	jmp	.Lnext
.Lwait:
	movl	$DEJA_BATCH_PATIENCE, %r15d
.Lwait_again:
	movl	$128, %eax			// rt_sigtimedwait(&no signals, NULL, &wait, 8)
	leaq	DEJA_BATCH_NONE-DEJA_BATCH_COUNT(%r12), %rdi
	xorl	%esi, %esi
	leaq	DEJA_BATCH_WAIT-DEJA_BATCH_COUNT(%r12), %rdx
	movl	$8, %r10d
	syscall
	decl	%r15d
	jnz	.Lwait_again
	jmp	.Lbase+DEJA_PARASITE_RESTORE
deja_parasite_stub_end:

	.section .note.GNU-stack, "", @progbits
