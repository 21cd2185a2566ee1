/*
 * elfgen.h: builds small ELF64 images in memory for the tests: a valid
 * one whose code does the exit host call with status 42 (no guest runtime
 * needed), which tests then corrupt field by field.
 */
#ifndef ELFGEN_H
#define ELFGEN_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

#define ELFGEN_BASE 0x100000u
#define ELFGEN_CODE_OFF 0x1000u
#define ELFGEN_EXIT_STATUS 42

struct elfgen {
    uint8_t buf[0x2000];
    size_t size;
};

static inline Elf64_Ehdr *elfgen_ehdr(struct elfgen *g)
{
    return (Elf64_Ehdr *)g->buf;
}

static inline Elf64_Phdr *elfgen_phdr(struct elfgen *g, unsigned i)
{
    return (Elf64_Phdr *)(g->buf + sizeof(Elf64_Ehdr)) + i;
}

/* A valid image: one R+X PT_LOAD at ELFGEN_BASE (file 0x100 bytes, memory
 * 0x2000 bytes), entry at its start; two spare program headers (PT_NULL)
 * that tests may turn into more segments. */
void elfgen_valid(struct elfgen *g);

#endif
