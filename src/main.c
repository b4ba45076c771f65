/*
 * The dagprof binary. Everything it does lives in the library (cli.c) so
 * tests can run the same code in-process.
 */
#include "cli.h"

int main(int argc, char **argv)
{
    return dp_cli_main(argc, argv);
}
