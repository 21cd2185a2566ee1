/*
 * entry.S: the image entry point.
 *
 * The VMM enters here in 64-bit mode at CPL0 (hardware CPL3 on PVM),
 * interrupts off, RSP = LV_GPA_STACK_TOP (16-byte aligned), RDI =
 * LV_GPA_BOOTINFO. The very first instruction reads the TSC so the host
 * can time its part of the boot; lvrt_start stores it into
 * bootinfo->guest_entry_tsc once the page is validated (a handful of
 * instructions later), so that a bad RDI is never written through.
 * .bss is not cleared: the VMM guarantees zeroed memory, and touching
 * pages costs ~35 us each on PVM.
 */
    .section .text.entry, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    rdtsc
    shl     $32, %rdx
    or      %rdx, %rax
    mov     %rax, %rsi          /* arg 2: entry TSC; arg 1 (RDI) as given */
    cld
    xor     %ebp, %ebp          /* terminate frame-pointer chains */
    call    lvrt_start          /* RSP % 16 == 8 at entry: ABI-conformant */
1:  hlt                         /* not reached: lvrt_start never returns */
    jmp     1b
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
