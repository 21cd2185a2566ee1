/* elfgen.c: in-memory ELF images for tests. */
#include <string.h>

#include "abi/lv_abi.h"
#include "elfgen.h"

void elfgen_valid(struct elfgen *g)
{
    /* mov $ELFGEN_BASE+0x80,%eax; mov $LV_PORT_EXIT,%dx; out %eax,(%dx); hlt */
    static const uint8_t code[] = {0xb8, 0x80, 0x00, 0x10, 0x00, 0x66, 0xba,
                                   LV_PORT_EXIT & 0xff, LV_PORT_EXIT >> 8, 0xef, 0xf4};
    Elf64_Ehdr *eh = elfgen_ehdr(g);
    Elf64_Phdr *ph = elfgen_phdr(g, 0);
    uint64_t status = ELFGEN_EXIT_STATUS;

    memset(g, 0, sizeof(*g));
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_version = EV_CURRENT;
    eh->e_entry = ELFGEN_BASE;
    eh->e_phoff = sizeof(Elf64_Ehdr);
    eh->e_ehsize = sizeof(Elf64_Ehdr);
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = 3;
    ph->p_type = PT_LOAD;
    ph->p_flags = PF_R | PF_X | PF_W;
    ph->p_offset = ELFGEN_CODE_OFF;
    ph->p_vaddr = ph->p_paddr = ELFGEN_BASE;
    ph->p_filesz = 0x100;
    ph->p_memsz = 0x2000;
    ph->p_align = 0x1000;
    memcpy(g->buf + ELFGEN_CODE_OFF, code, sizeof(code));
    memcpy(g->buf + ELFGEN_CODE_OFF + 0x80, &status, sizeof(status));
    g->size = ELFGEN_CODE_OFF + 0x100;
}
