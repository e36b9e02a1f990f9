/* Fuzz support: the readers under test take a path, so each input is written to an anonymous
 * in-memory file (memfd) opened through /proc/self/fd: a regular file, no disk, nothing left
 * behind. One file per process, rewritten for every input. */
#ifndef DP_FUZZ_FILE_H
#define DP_FUZZ_FILE_H
/* needs _GNU_SOURCE (memfd_create): the Makefile defines it for the harnesses */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Writes data[0..size) as the whole content of the process's fuzz file; returns its path
 * (static storage) or NULL when the file cannot be written (the input is then skipped). */
static const char *fuzz_file_path(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("dp_fuzz_input", MFD_CLOEXEC);
        if (fd < 0)
            return NULL;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        return NULL;
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
        if (w <= 0)
            return NULL;
        done += (size_t)w;
    }
    return path;
}
#endif
