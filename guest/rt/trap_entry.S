/*
 * trap_entry.S: IDT stubs for vectors 0..42 (RT_NVEC - 1, rt.h) and the common save/restore.
 *
 * Each stub makes the frame uniform (a 0 error code where the CPU pushes
 * none), pushes its vector and jumps to trap_common, which saves all
 * general registers into a struct rt_frame (rt.h) and calls
 * rt_trap_dispatch. On PVM, events arrive as ordinary 64-bit hardware
 * frames too, and iretq (emulated by the host) returns from them.
 */
    .text

/* Vectors whose exceptions push an error code: 8 10-14 17 21 29 30. */
.macro STUB vec
    .p2align 3
trap_stub_\vec:
    .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    pushq   $0
    .endif
    pushq   $\vec
    jmp     trap_common
.endm

    .altmacro
.macro STUBS from, to
    STUB \from
    .if \to - \from
    STUBS %(\from + 1), \to
    .endif
.endm
    STUBS 0, 42

    .p2align 4
trap_common:
    /* Hardware aligned RSP to 16 before its 5-qword frame; with error,
     * vector and these 15 pushes the frame is 22 qwords: RSP stays
     * 16-byte aligned for the call. */
    push    %rax
    push    %rbx
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %rbp
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    mov     %rsp, %rdi
    cld
    call    rt_trap_dispatch
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rbp
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
    pop     %rbx
    pop     %rax
    add     $16, %rsp           /* vector, error code */
    iretq

/* Stub address table for rt_trap_init (C builds the IDT from it). */
.macro STUBADDR vec
    .quad trap_stub_\vec
.endm
.macro STUBADDRS from, to
    STUBADDR \from
    .if \to - \from
    STUBADDRS %(\from + 1), \to
    .endif
.endm
    .section .rodata
    .p2align 3
    .globl rt_trap_stubs
rt_trap_stubs:
    STUBADDRS 0, 42
    .size rt_trap_stubs, . - rt_trap_stubs

    .section .note.GNU-stack, "", @progbits
