/* Guest code of the DMP "log" mode (Xen patch 0009), copied by dom0 into the stub area of a
 * patched guest kernel; never run in dom0. Position independent: it reaches its
 * configuration RIP-relative and the per-CPU data through %gs, as Linux does.
 *
 * Inside Linux's lazy MMU sections (arch_enter/leave_lazy_mmu_mode: fork's copy_pte_range,
 * zap_pte_range, change_pte_range) the kernel does not read back the page-table entries it
 * writes before the section ends; Xen PV batches them for that reason. Here the patched
 * 8-byte page-table stores of such a section go into a per-CPU log instead of memory, and the
 * section's end hands the log to Xen in one hypercall (XEN_DMP_OP_FLUSH), which stores the
 * entries and brings the shadows up to date, instead of one trap per store and one shadow
 * fill per new entry.
 *
 * A section is logged only when it runs with preemption disabled (so it cannot migrate to
 * another CPU's log) and not in interrupt, softirq or NMI context (an interrupt handler that
 * updates page tables inside someone else's section stores directly and never touches the
 * log). Whatever Xen refuses, the flush stores here itself, in order.
 *
 * The per-CPU log lives in Linux's Xen PV multicall buffer (mc_buffer), which an HVM or PVH
 * guest never uses: +0 u32 entries, +4 u32 "in a logged section", +16 entries of
 * { u64 va; u64 val } (struct xen_dmp_log_entry).
 *
 * Entry points (offsets in dmp_log_layout):
 *   hv_log   the hv_update of the stub ABI (rdi arg, rsi old, rdx new, rcx op; may clobber
 *            the SysV caller-saved registers; returns rax = 0); everything but an 8-byte
 *            STORE in a logged section goes to the passthrough code placed right after
 *            this blob, which makes the original write.
 *   enter    called from the lazy-MMU enter sites (pv-op sites NOPed at boot on HVM);
 *   leave    called from the lazy-MMU leave sites. Both preserve every general register.
 */
#define XEN_DMP_OP_FLUSH 5
#define HYPERVISOR_dmp_op 54
#define CTX_MASK 0x00ffff00      /* softirq, hardirq and NMI bits of preempt_count */
#define PREEMPT_MASK 0x000000ff  /* preempt_disable() depth */
#define LOG_COUNT 0
#define LOG_ACTIVE 4
#define LOG_ENTRIES 16

    .section .rodata.dmp_log, "a"
    .balign 16
    .globl dmp_log_code
dmp_log_code:
/* Configuration, written by dom0 at install (dmp_lp_use_log); read-only for the guest. */
cfg_this_cpu_off:   .quad 0     /* per-CPU offset of this_cpu_off (the CPU's per-CPU base) */
cfg_preempt:        .quad 0     /* per-CPU offset of __preempt_count */
cfg_log:            .quad 0     /* per-CPU offset of the log (mc_buffer) */
cfg_on:             .quad 0     /* 1: log; 0: dom0 is draining the logs before unpatch */
cfg_max:            .quad 0     /* entries the log holds */
cfg_min:            .quad 0     /* smaller logs are stored here, without a hypercall */
    .balign 16

hv_log:
    endbr64
    cmp     $0x0801, %cx                /* STORE of 8 bytes; the site kind is ignored */
    jne     .Lpass
    mov     cfg_preempt(%rip), %rax
    mov     %gs:(%rax), %eax
    test    $CTX_MASK, %eax
    jnz     .Lpass
    test    $PREEMPT_MASK, %eax
    jz      .Lpass
    mov     cfg_log(%rip), %r8
    cmpl    $0, %gs:LOG_ACTIVE(%r8)
    je      .Lpass
    cmpq    $0, cfg_on(%rip)
    je      .Ldrain
    mov     %gs:LOG_COUNT(%r8), %eax
    cmp     cfg_max(%rip), %rax
    jb      1f
    push    %rdi
    push    %rdx
    call    flush
    pop     %rdx
    pop     %rdi
    mov     cfg_log(%rip), %r8
    xor     %eax, %eax
1:  mov     %eax, %ecx
    shl     $4, %rcx
    add     %r8, %rcx
    mov     %rdi, %gs:LOG_ENTRIES(%rcx)
    mov     %rdx, %gs:LOG_ENTRIES+8(%rcx)
    inc     %eax
    mov     %eax, %gs:LOG_COUNT(%r8)
    xor     %eax, %eax
    ret
.Ldrain:
    /* Log mode is being switched off: empty this CPU's log and end its section here, so the
     * log is empty once every CPU has made a page-table store or left its section. */
    push    %rdi
    push    %rsi
    push    %rdx
    push    %rcx
    call    flush
    mov     cfg_log(%rip), %r8
    movl    $0, %gs:LOG_ACTIVE(%r8)
    pop     %rcx
    pop     %rdx
    pop     %rsi
    pop     %rdi
.Lpass:
    jmp     .Lend                       /* the passthrough hv_update follows this blob */

/* Hand this CPU's log to Xen; store what Xen did not. A short log is stored here: most of
 * the stores of a small section hit page tables that are not shadowed or are out of sync and
 * cost no exit, so one hypercall would cost more than it saves (docs/DMP.md, log mode).
 * Process context only. Clobbers rax, rcx, rdx, rsi, rdi, r8-r11. */
flush:
    mov     cfg_log(%rip), %r8
    mov     %gs:LOG_COUNT(%r8), %edx
    test    %edx, %edx
    jz      3f
    mov     cfg_this_cpu_off(%rip), %rax
    mov     %gs:(%rax), %rsi
    lea     LOG_ENTRIES(%rsi,%r8), %rsi     /* linear address of the entries */
    xor     %eax, %eax
    cmp     cfg_min(%rip), %rdx
    jb      1f
    push    %rsi
    push    %rdx
    push    %r8
    mov     $XEN_DMP_OP_FLUSH, %edi
    xor     %r10d, %r10d
    mov     $HYPERVISOR_dmp_op, %eax
    .globl  dmp_log_hvcall
dmp_log_hvcall:
    vmmcall                             /* dom0 writes vmcall (0f 01 c1) on Intel */
    pop     %r8
    pop     %rdx
    pop     %rsi
    test    %rax, %rax
    jns     1f
    xor     %eax, %eax                  /* refused as a whole (e.g. fast path off) */
1:  cmp     %rdx, %rax
    jae     2f
    mov     %rax, %rcx
    shl     $4, %rcx
    mov     (%rsi,%rcx), %rdi
    mov     8(%rsi,%rcx), %r9
    mov     %r9, (%rdi)                 /* the guest's own store, trapping as unpatched */
    inc     %rax
    jmp     1b
2:  movl    $0, %gs:LOG_COUNT(%r8)
3:  ret

enter:
    push    %rax
    cmpq    $0, cfg_on(%rip)
    je      1f
    mov     cfg_preempt(%rip), %rax
    mov     %gs:(%rax), %eax
    test    $CTX_MASK, %eax
    jnz     1f
    test    $PREEMPT_MASK, %eax
    jz      1f
    mov     cfg_log(%rip), %rax
    movl    $1, %gs:LOG_ACTIVE(%rax)
1:  pop     %rax
    ret

leave:
    push    %rax
    mov     cfg_preempt(%rip), %rax
    mov     %gs:(%rax), %eax
    test    $CTX_MASK, %eax
    jnz     1f
    mov     cfg_log(%rip), %rax
    cmpl    $0, %gs:LOG_ACTIVE(%rax)
    je      1f
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    call    flush
    mov     cfg_log(%rip), %rax
    movl    $0, %gs:LOG_ACTIVE(%rax)
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
1:  pop     %rax
    ret
    .balign 16
    .globl dmp_log_code_end
dmp_log_code_end:
.Lend:

/* Offsets into the blob for the C side (struct dmp_lp_log_layout in livepatch.h). */
    .balign 4
    .globl dmp_log_layout
dmp_log_layout:
    .long dmp_log_code_end - dmp_log_code   /* size */
    .long hv_log - dmp_log_code
    .long enter - dmp_log_code
    .long leave - dmp_log_code
    .long dmp_log_hvcall - dmp_log_code
    .long cfg_this_cpu_off - dmp_log_code
    .long cfg_preempt - dmp_log_code
    .long cfg_log - dmp_log_code
    .long cfg_on - dmp_log_code
    .long cfg_max - dmp_log_code
    .long cfg_min - dmp_log_code

    .section .note.GNU-stack, "", @progbits
