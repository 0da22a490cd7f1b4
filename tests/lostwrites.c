/*  =========================================================================
    lostwrites - what a power loss leaves of one directory (tests only)

    Killing a process keeps the page cache: every write it made survives,
    fsync or not, so no crash test can tell a durable decision from a
    buffered one.  This LD_PRELOAD shim keeps a model of what a power loss
    would leave, for the files in one directory, and a restore function
    rebuilds the directory from the model after the process is killed.

    Environment:
        LOSTWRITES_DIR    the watched directory (the decision log's)
        LOSTWRITES_STATE  an existing directory for the model

    The model (in STATE):
        names           "key name" lines: the directory's durable entries
        key             the durable content of one inode ("ino-<inode>-
                        <birth time>": the birth time tells an inode number
                        the file system reused from a deleted file)
        events          a line per intercepted call (for the test and for
                        whoever reads a failure)

    Rules, as for a file system that keeps exactly what was fsynced:
    -   At start (constructor; the test calls sync () before) every entry
        of DIR, its name and its content, is durable: the baseline.
    -   fsync / fdatasync of a regular file in DIR that succeeds: its whole
        current content is durable (a copy into STATE/key).  Both calls
        flush every dirty page of the file and its size.
    -   fsync / fdatasync of DIR itself that succeeds: its current names ->
        inodes are durable (STATE/names is rewritten).  A rename or a new
        file is durable only then.
    -   Nothing else is: write, rename, ftruncate, close.
    The copy is made after the real call returned and before the caller
    sees it return: a process killed in between never learnt that the
    data was durable, so the model (not durable) is one a real power loss
    could leave.  Each model file is written to a temporary name and
    renamed, so a kill never leaves a half-written one.  sync and syncfs
    are not modelled (the coordinator does not call them): they would
    count as nothing durable, the pessimistic reading.

    Restore (lostwrites_restore, compiled into the test with
    LOSTWRITES_RESTORE_ONLY): every regular file of DIR is removed, then
    each durable name is recreated with the last durable content of its
    inode, or empty if it never had any (created after the baseline and
    never fsynced).  Names never made durable are gone.

    Test hooks (files the test creates in STATE; each fires once):
        stop-on-sync    first line a pid, then marker lines: at the first
                        fsync of a watched file whose durable content holds
                        a marker, SIGSTOP the pid (after the copy, before
                        returning).  Renamed to stop-on-sync.done when it
                        fires.  The test stops a participant the moment
                        the coordinator's decision is durable, before the
                        coordinator can send COMMIT PREPARED.
        freeze-after-rename
                        after the next rename into DIR, the next fsync or
                        fdatasync of a file in DIR stops this process
                        (SIGSTOP to itself) before it runs: the power loss
                        then hits after a compaction's rename and before
                        anything else is made durable.  STATE/frozen gets
                        the pid first.
    =========================================================================
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

//  Room for a path made of two paths (no truncation)
#define PATH_SIZE (2 * PATH_MAX + 64)

int lostwrites_restore (const char *state, const char *dir);

//  Write all of size bytes (no interposed call is used here)
static int
s_write_all (int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write (fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        size -= n;
    }
    return 0;
}

//  Copy file descriptor from (from offset 0) into a new file at path
static int
s_copy_fd (int from, const char *path)
{
    int to = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (to < 0)
        return -1;
    char buffer [65536];
    off_t offset = 0;
    int rc = 0;
    while (true) {
        ssize_t n = pread (from, buffer, sizeof buffer, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -1;
        if (n <= 0)
            break;
        if (s_write_all (to, buffer, n)) {
            rc = -1;
            break;
        }
        offset += n;
    }
    close (to);
    return rc;
}

//  Restore: the directory as the power loss leaves it
int
lostwrites_restore (const char *state, const char *dir)
{
    char path [PATH_SIZE];
    snprintf (path, sizeof path, "%s/names", state);
    FILE *names = fopen (path, "r");
    if (!names)
        return -1;
    DIR *handle = opendir (dir);
    if (!handle) {
        fclose (names);
        return -1;
    }
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        struct stat st;
        if (fstatat (dirfd (handle), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
        &&  S_ISREG (st.st_mode))
            unlinkat (dirfd (handle), entry->d_name, 0);
    }
    closedir (handle);
    char key [256], name [NAME_MAX + 1];
    int rc = 0;
    while (fscanf (names, "%255s %255s", key, name) == 2) {
        char target [PATH_SIZE];
        snprintf (target, sizeof target, "%s/%s", dir, name);
        snprintf (path, sizeof path, "%s/%s", state, key);
        int from = open (path, O_RDONLY | O_CLOEXEC);
        if (from >= 0) {
            if (s_copy_fd (from, target))
                rc = -1;
            close (from);
        }
        else {
            //  Named durably, content never: an empty file
            int fd = open (target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd < 0)
                rc = -1;
            else
                close (fd);
        }
    }
    fclose (names);
    return rc;
}

#ifndef LOSTWRITES_RESTORE_ONLY

#include <pthread.h>

static char s_dir [PATH_MAX];       //  watched directory, resolved
static char s_state [PATH_MAX];
static bool s_active;
static bool s_renamed;              //  freeze-after-rename: a rename was seen
static dev_t s_dir_dev;
static ino_t s_dir_ino;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static int (*s_real_fsync) (int);
static int (*s_real_fdatasync) (int);
static int (*s_real_rename) (const char *, const char *);

static void
s_event (const char *format, ...)
{
    char line [PATH_SIZE];
    va_list args;
    va_start (args, format);
    int size = vsnprintf (line, sizeof line - 1, format, args);
    va_end (args);
    if (size < 0)
        return;
    if (size > (int) sizeof line - 2)
        size = sizeof line - 2;
    line [size++] = '\n';
    char path [PATH_SIZE];
    snprintf (path, sizeof path, "%s/events", s_state);
    int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        s_write_all (fd, line, size);
        close (fd);
    }
}

//  The model's name for an inode: its number and its birth time
static void
s_key (int dirfd, const char *name, int fd, char *key, size_t size)
{
    struct statx sx;
    int rc = fd >= 0? statx (fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx)
                    : statx (dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_BTIME, &sx);
    if (rc) {
        snprintf (key, size, "unknown");
        return;
    }
    if (sx.stx_mask & STATX_BTIME)
        snprintf (key, size, "ino-%llu-%lld.%09u", (unsigned long long) sx.stx_ino,
                  (long long) sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec);
    else
        snprintf (key, size, "ino-%llu", (unsigned long long) sx.stx_ino);
}

//  Write STATE/<name> from data, atomically (temp name, rename)
static void
s_state_put (const char *name, const char *data, size_t size)
{
    char path [PATH_SIZE], tmp [PATH_SIZE];
    snprintf (path, sizeof path, "%s/%s", s_state, name);
    snprintf (tmp, sizeof tmp, "%s/%s.part", s_state, name);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    int rc = s_write_all (fd, data, size);
    close (fd);
    if (rc == 0)
        s_real_rename (tmp, path);
}

//  Read a whole file from fd (offset 0); caller frees.  NULL on failure.
static char *
s_slurp (int fd, size_t *size_p)
{
    size_t size = 0, allocated = 65536;
    char *data = (char *) malloc (allocated);
    if (!data)
        return NULL;
    while (true) {
        if (size == allocated) {
            allocated *= 2;
            char *bigger = (char *) realloc (data, allocated);
            if (!bigger) {
                free (data);
                return NULL;
            }
            data = bigger;
        }
        ssize_t n = pread (fd, data + size, allocated - size, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free (data);
            return NULL;
        }
        if (n == 0)
            break;
        size += n;
    }
    *size_p = size;
    return data;
}

//  A file's content is durable now
static void
s_record_file (int fd, const char *name)
{
    //  The file may be open write-only: read it through /proc
    char proc [64];
    snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
    int reader = open (proc, O_RDONLY | O_CLOEXEC);
    if (reader < 0) {
        s_event ("ERROR cannot reopen %s to copy it: %s", name, strerror (errno));
        return;
    }
    size_t size;
    char *data = s_slurp (reader, &size);
    char key [128];
    s_key (-1, NULL, reader, key, sizeof key);
    close (reader);
    if (!data) {
        s_event ("ERROR cannot read %s", name);
        return;
    }
    s_state_put (key, data, size);
    s_event ("durable %s %s %zu", name, key, size);

    //  Hook: stop a process once some marker is durable
    char path [PATH_SIZE];
    snprintf (path, sizeof path, "%s/stop-on-sync", s_state);
    int hook = open (path, O_RDONLY | O_CLOEXEC);
    if (hook >= 0) {
        size_t hook_size;
        char *text = s_slurp (hook, &hook_size);
        close (hook);
        char *grown = text? (char *) realloc (text, hook_size + 1): NULL;
        if (!grown)
            free (text);
        text = grown;
        if (text) {
            text [hook_size] = 0;
            char *saveptr = NULL;
            char *line = strtok_r (text, "\n", &saveptr);
            int pid = line? atoi (line): 0;
            bool hit = false;
            while (pid > 0 && (line = strtok_r (NULL, "\n", &saveptr)))
                if (*line && memmem (data, size, line, strlen (line)))
                    hit = true;
            if (hit) {
                char done [PATH_SIZE];
                snprintf (done, sizeof done, "%s/stop-on-sync.done", s_state);
                s_real_rename (path, done);
                kill (pid, SIGSTOP);
                s_event ("stopped %d", pid);
            }
            free (text);
        }
    }
    free (data);
}

//  The directory's names are durable now
static void
s_record_names (void)
{
    DIR *handle = opendir (s_dir);
    if (!handle) {
        s_event ("ERROR cannot list %s: %s", s_dir, strerror (errno));
        return;
    }
    size_t used = 0, allocated = 4096;
    char *text = (char *) malloc (allocated);
    struct dirent *entry;
    while (text && (entry = readdir (handle))) {
        struct stat st;
        if (fstatat (dirfd (handle), entry->d_name, &st, AT_SYMLINK_NOFOLLOW)
        ||  !S_ISREG (st.st_mode))
            continue;
        char key [128];
        s_key (dirfd (handle), entry->d_name, -1, key, sizeof key);
        size_t need = strlen (key) + strlen (entry->d_name) + 3;
        if (used + need > allocated) {
            allocated = 2 * (used + need);
            text = (char *) realloc (text, allocated);
            if (!text)
                break;
        }
        used += snprintf (text + used, allocated - used, "%s %s\n", key, entry->d_name);
    }
    closedir (handle);
    if (text) {
        s_state_put ("names", text, used);
        text [used] = 0;
        s_event ("names durable: %.*s", (int) (used? used - 1: 0), text);
    }
    free (text);
}

//  Which watched thing is fd: 1 a regular file in DIR (name copied out),
//  2 DIR itself, 0 neither
static int
s_watched (int fd, char *name, size_t size)
{
    struct stat st;
    if (fstat (fd, &st))
        return 0;
    if (S_ISDIR (st.st_mode))
        return st.st_dev == s_dir_dev && st.st_ino == s_dir_ino? 2: 0;
    if (!S_ISREG (st.st_mode) || st.st_dev != s_dir_dev)
        return 0;
    char proc [64], target [PATH_SIZE];
    snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
    ssize_t n = readlink (proc, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target [n] = 0;
    size_t dir_length = strlen (s_dir);
    if (strncmp (target, s_dir, dir_length) || target [dir_length] != '/'
    ||  strchr (target + dir_length + 1, '/'))
        return 0;
    snprintf (name, size, "%s", target + dir_length + 1);
    return 1;
}

static void
s_before_sync (int kind, const char *call, const char *name)
{
    if (kind != 1 || !s_renamed)
        return;
    //  Hook: the power loss comes right after a compaction's rename
    char text [32];
    int size = snprintf (text, sizeof text, "%d\n", (int) getpid ());
    s_state_put ("frozen", text, size);
    s_event ("frozen before %s %s", call, name);
    s_renamed = false;
    raise (SIGSTOP);
}

static int
s_sync (int fd, int (*real) (int), const char *call)
{
    if (!s_active)
        return real (fd);
    char name [NAME_MAX + 1] = "";
    int kind = s_watched (fd, name, sizeof name);
    if (kind == 0)
        return real (fd);
    pthread_mutex_lock (&s_lock);
    s_before_sync (kind, call, name);
    int rc = real (fd);
    int error = errno;
    if (rc == 0) {
        if (kind == 1)
            s_record_file (fd, name);
        else
            s_record_names ();
    }
    else
        s_event ("%s of %s failed: %s", call, kind == 1? name: "the directory", strerror (error));
    pthread_mutex_unlock (&s_lock);
    errno = error;
    return rc;
}

int
fsync (int fd)
{
    if (!s_real_fsync)
        s_real_fsync = (int (*) (int)) dlsym (RTLD_NEXT, "fsync");
    return s_sync (fd, s_real_fsync, "fsync");
}

int
fdatasync (int fd)
{
    if (!s_real_fdatasync)
        s_real_fdatasync = (int (*) (int)) dlsym (RTLD_NEXT, "fdatasync");
    return s_sync (fd, s_real_fdatasync, "fdatasync");
}

int
rename (const char *from, const char *to)
{
    if (!s_real_rename)
        s_real_rename = (int (*) (const char *, const char *)) dlsym (RTLD_NEXT, "rename");
    int rc = s_real_rename (from, to);
    if (s_active && rc == 0) {
        int error = errno;
        pthread_mutex_lock (&s_lock);
        char resolved [PATH_MAX], *slash = strrchr (to, '/');
        //  Only renames into DIR count
        char parent [PATH_SIZE];
        snprintf (parent, sizeof parent, "%.*s", slash? (int) (slash - to): 1, slash? to: ".");
        if (realpath (parent, resolved) && strcmp (resolved, s_dir) == 0) {
            s_event ("rename %s -> %s (not durable until the directory is fsynced)", from, to);
            char hook [PATH_SIZE];
            snprintf (hook, sizeof hook, "%s/freeze-after-rename", s_state);
            if (access (hook, F_OK) == 0) {
                unlink (hook);
                s_renamed = true;
            }
        }
        pthread_mutex_unlock (&s_lock);
        errno = error;
    }
    return rc;
}

//  The baseline: everything in DIR now is durable
__attribute__ ((constructor))
static void
s_start (void)
{
    s_real_fsync = (int (*) (int)) dlsym (RTLD_NEXT, "fsync");
    s_real_fdatasync = (int (*) (int)) dlsym (RTLD_NEXT, "fdatasync");
    s_real_rename = (int (*) (const char *, const char *)) dlsym (RTLD_NEXT, "rename");
    const char *dir = getenv ("LOSTWRITES_DIR");
    const char *state = getenv ("LOSTWRITES_STATE");
    if (!dir || !state || !realpath (dir, s_dir) || !realpath (state, s_state))
        return;
    struct stat st;
    if (stat (s_dir, &st) || !S_ISDIR (st.st_mode))
        return;
    s_dir_dev = st.st_dev;
    s_dir_ino = st.st_ino;
    DIR *handle = opendir (s_dir);
    if (!handle)
        return;
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        int fd = openat (dirfd (handle), entry->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue;
        if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode)) {
            size_t size;
            char *data = s_slurp (fd, &size);
            char key [128];
            s_key (-1, NULL, fd, key, sizeof key);
            if (data)
                s_state_put (key, data, size);
            free (data);
        }
        close (fd);
    }
    closedir (handle);
    s_active = true;
    s_event ("baseline in pid %d", (int) getpid ());
    s_record_names ();
}

#endif
