#ifndef INTONE_CSPAWN_H
#define INTONE_CSPAWN_H

#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+), which <spawn.h> declares
/// only under _GNU_SOURCE and so Swift's Glibc module does not show.
int intone_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/// mallopt(M_MMAP_THRESHOLD, …) and mallopt(M_TRIM_THRESHOLD, …): <malloc.h> is not in
/// Swift's Glibc module. Returns 1 when both were taken.
int intone_malloc_thresholds(int mmap_threshold, int trim_threshold);

#endif
