/*
 * hello: the smallest lightvm app. Prints a greeting and what kind of
 * host it runs on, exits 0. Its boot costs the runtime's minimum: no
 * APIC, clock or heap setup.
 */
#include "lvrt.h"

const char *const lvrt_app_name = "hello";

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    lvrt_printf("Hello from lightvm\npvm=%d native=%d\n", lvrt_is_pvm(), lvrt_is_native());
    return 0;
}
