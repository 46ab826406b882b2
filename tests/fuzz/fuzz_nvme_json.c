/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fuzz.h"

#include "base/err.h"
#include "host/nvmehost.h"

/*
 * The readers of nvme-cli's JSON output ("nvme netapp ontapdevices -o json", "nvme list
 * -o json", both layouts). No config is passed, so no sysfs file is read. The uuid is the
 * one the seed corpus uses, so the mutator starts from documents that match.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char uuid[] = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901";
	char small[8], name[64];

	nvmehost_parse_ontapdevices((const char *)data, size, uuid, name, sizeof(name));
	nvmehost_parse_ontapdevices((const char *)data, size, uuid, small, sizeof(small));
	nvmehost_parse_list(NULL, (const char *)data, size, uuid, name, sizeof(name));
	nvmehost_parse_list(NULL, (const char *)data, size, uuid, small, sizeof(small));
	err_clear();
	return 0;
}
