/* hello_static.c: the fork+exec peer of bench_boot: prints one line. */
#include <stdio.h>

int main(void)
{
    puts("Hello from a process");
    return 0;
}
