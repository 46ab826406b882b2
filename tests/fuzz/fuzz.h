/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_FUZZ_H
#define PVE_ONTAP_FUZZ_H

/*
 * libFuzzer entry point of every tests/fuzz/fuzz_<target>.c, built and run by
 * tests/fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined). data is exactly size
 * bytes long, not NUL-terminated: a parser that reads past len is caught by ASan.
 */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
