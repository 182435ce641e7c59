// FPU/SSE/AVX state: vector registers hold values across the checkpoint while the thread
// sleeps in a raw syscall loop, and the MXCSR rounding mode and x87 control word survive.
#include <fenv.h>
#include <immintrin.h>
#include <string.h>

#include "zdtm.h"

__attribute__((target("avx"))) int main() {
  zdtm_init();
  alignas(32) unsigned char in[8][32], out[8][32];
  for (int r = 0; r < 8; ++r)
    for (int i = 0; i < 32; ++i) in[r][i] = static_cast<unsigned char>(r * 37 + i);
  fesetround(FE_UPWARD);
  unsigned short cw;
  asm volatile("fnstcw %0" : "=m"(cw));
  cw = static_cast<unsigned short>((cw & ~0x300) | 0x200);  // x87 precision: 53 bits
  asm volatile("fldcw %0" : : "m"(cw));
  sigset_t s;
  sigprocmask(SIG_SETMASK, nullptr, &s);
  sigdelset(&s, SIGUSR1);
  // ymm8..ymm15 are loaded, "ready" is written (so no checkpoint comes before the registers
  // hold their values), then the thread waits in rt_sigsuspend; all from assembly, so no
  // compiled code can touch the registers in between.
  static const char ready[] = "ready\n";
  asm volatile(
      "vmovdqa 0(%[in]), %%ymm8\n\t"
      "vmovdqa 32(%[in]), %%ymm9\n\t"
      "vmovdqa 64(%[in]), %%ymm10\n\t"
      "vmovdqa 96(%[in]), %%ymm11\n\t"
      "vmovdqa 128(%[in]), %%ymm12\n\t"
      "vmovdqa 160(%[in]), %%ymm13\n\t"
      "vmovdqa 192(%[in]), %%ymm14\n\t"
      "vmovdqa 224(%[in]), %%ymm15\n\t"
      "mov $1, %%eax\n\t"  // write(1, ready, 6)
      "mov $1, %%edi\n\t"
      "mov %[ready], %%rsi\n\t"
      "mov $6, %%edx\n\t"
      "syscall\n\t"
      "1:\n\t"
      "mov $130, %%eax\n\t"  // rt_sigsuspend
      "mov %[mask], %%rdi\n\t"
      "mov $8, %%esi\n\t"
      "syscall\n\t"
      "cmpl $0, %[flag]\n\t"
      "je 1b\n\t"
      "vmovdqa %%ymm8, 0(%[out])\n\t"
      "vmovdqa %%ymm9, 32(%[out])\n\t"
      "vmovdqa %%ymm10, 64(%[out])\n\t"
      "vmovdqa %%ymm11, 96(%[out])\n\t"
      "vmovdqa %%ymm12, 128(%[out])\n\t"
      "vmovdqa %%ymm13, 160(%[out])\n\t"
      "vmovdqa %%ymm14, 192(%[out])\n\t"
      "vmovdqa %%ymm15, 224(%[out])\n\t"
      :
      : [in] "r"(in), [out] "r"(out), [mask] "r"(&s), [flag] "m"(zdtm_signalled), [ready] "r"(ready)
      : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "memory", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15");
  if (memcmp(in, out, sizeof in) != 0) zdtm_fail("vector registers changed");
  if (fegetround() != FE_UPWARD) zdtm_fail("MXCSR rounding mode lost");
  unsigned short cw_now;
  asm volatile("fnstcw %0" : "=m"(cw_now));
  if (cw_now != cw) zdtm_fail("x87 control word %x != %x", cw_now, cw);
  zdtm_pass("zdtm_fpu");
}
