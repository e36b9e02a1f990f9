/* Non-blocking, regular-files-only opening of input files. */
#include "dp_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *dp_file_kind(unsigned mode)
{
    return S_ISREG(mode) ? "a regular file" : S_ISDIR(mode) ? "a directory"
           : S_ISFIFO(mode) ? "a FIFO (named pipe)" : S_ISCHR(mode) ? "a character device"
           : S_ISBLK(mode) ? "a block device" : S_ISSOCK(mode) ? "a socket" : "not a regular file";
}

int dp_open_regular(const char *path, const char *what, struct stat *st_out, dp_err *err)
{
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not hang */
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int e = errno;
        char why[128];
        if (strerror_r(e, why, sizeof why) != 0)
            snprintf(why, sizeof why, "error %d", e);
        dp_fail(err, DP_E_IO, "%s: cannot open %s: %s", path, what, why);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        dp_fail(err, DP_E_IO, "%s: cannot stat %s (errno %d)", path, what, e);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        dp_fail(err, DP_E_IO, "%s: is %s; expected %s as a regular file", path,
                dp_file_kind(st.st_mode), what);
        return -1;
    }
    /* regular files ignore O_NONBLOCK; cleared anyway so later reads behave as usual */
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    if (st_out)
        *st_out = st;
    return fd;
}

int dp_file_identity(const char *path, dp_file_id *id, dp_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        char why[128];
        if (strerror_r(e, why, sizeof why) != 0)
            snprintf(why, sizeof why, "error %d", e);
        dp_fail(err, DP_E_IO, "%s: cannot stat: %s", path, why);
        return -1;
    }
    id->dev = (unsigned long long)st.st_dev;
    id->ino = (unsigned long long)st.st_ino;
    id->size = (long long)st.st_size;
    id->mtime_sec = (long long)st.st_mtim.tv_sec;
    id->mtime_nsec = (long long)st.st_mtim.tv_nsec;
    return 0;
}

int dp_file_id_same(const dp_file_id *a, const dp_file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}
