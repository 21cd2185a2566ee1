/*
 * halt.S: rt_pvm_safe_halt(struct lv_vif *vif), the PVM "sti; hlt".
 *
 * On PVM the interrupt flag is VIF.if_ (a plain store) and halting is the
 * HALT hypercall, so unmask-then-halt is two steps: an interrupt taken
 * between them would be handled and the vCPU would then sleep with no
 * wakeup left (the runtime is tickless). The timer handler closes that
 * window: if it interrupted RIP in [rt_halt_window_begin,
 * rt_halt_window_end), it resumes at rt_halt_window_end, skipping the
 * HALT (see trap.c). The host sets VIF.pending only while the vCPU is out
 * of the guest, so the load below needs no fence after the store.
 */
    .text
    .globl rt_pvm_safe_halt, rt_halt_window_begin, rt_halt_window_end
    .type rt_pvm_safe_halt, @function
rt_pvm_safe_halt:
    push    %rbx                /* hypercall ABI: args in RBX/RCX/RDX */
rt_halt_window_begin:
    movb    $1, 0(%rdi)         /* vif->if_ = 1 */
    cmpb    $0, 1(%rdi)         /* vif->pending? */
    jne     2f
    mov     $0x1009, %eax       /* LV_PVM_HC_HALT */
    int     $0x1b               /* returns after an interrupt (or spuriously) */
rt_halt_window_end:
    pop     %rbx
    ret
2:  out     %al, $0x80          /* doorbell: have the held interrupt injected */
    pop     %rbx
    ret
    .size rt_pvm_safe_halt, . - rt_pvm_safe_halt

    .section .note.GNU-stack, "", @progbits
