/*  =========================================================================
    dtx_log - the coordinator's durable decision log

    NOTES

    The log is what makes "committed" mean committed.  A transaction that
    wrote to two or more databases goes through these steps:

    1.  Every participant has voted YES: each database holds a prepared
        transaction named by the gid.
    2.  The coordinator appends a COMMIT record (gid, participants) to the
        in-memory buffer.
    3.  At the end of the event loop turn, dtx_log_sync writes every
        buffered record and calls fdatasync once (group commit).
    4.  Only after fdatasync returns 0: COMMIT PREPARED goes to every
        participant.
    5.  The client is told "committed" once phase 2 is acknowledged (or,
        if a participant is down, once the retry period for the reply has
        passed: the decision is durable, so the answer is still true).
    6.  When every participant has acknowledged, an END record is buffered.
        It is written with the next sync; it is never forced on its own.

    What a crash between the steps leaves behind:
    - before 3 completes: no COMMIT record on disk (or a torn one, which
      open truncates).  The databases hold prepared transactions whose gid
      has no COMMIT record: presumed abort, recovery rolls them back.  The
      client was never told "committed".
    - between 3 and 6: COMMIT without END.  Recovery sends COMMIT PREPARED
      to every listed participant until each acknowledges (42704 "does not
      exist" then means an earlier COMMIT PREPARED got there first).
    - after 6: nothing to do.

    Aborts are never logged (presumed abort): a gid without a COMMIT record
    is aborted, so a lost ROLLBACK record can't exist to lose.

    A failed write or fdatasync ends the coordinator (Redis AOF and
    PostgreSQL since 2018 do the same): after a failed fsync Linux may
    have marked the dirty pages clean, so a retry could "succeed" with the
    data gone.  Nothing buffered was acknowledged, so stopping loses
    nothing that was promised.

    Durability of the file itself.  A power loss keeps only what an fsync
    made durable: file data and size by fdatasync of the file, names by
    fsync of the directory (tests/test_powerloss.c checks each step below
    with tests/lostwrites.c, a shim that models exactly that).

    D1. Open: lock DIR/dtx-decisions.lock (not durable state: the lock
        lives in the kernel; the file only names the holder's pid).
    D2. Open: open or create dtx-decisions.log, then fsync DIR, always.
        Not only when this call created the file: a previous start may
        have created it and died (or failed its directory fsync) before
        the name was durable, and everything fdatasync'ed into a file
        whose name is not durable vanishes with it.  Crash before the
        directory fsync: the file may be gone, but nothing was written
        into it yet, let alone promised.
    D3. Open: the records end at the first offset without a valid
        record; zeros from there to the end of the file are the
        preallocated tail (D6), a clean end.  A torn tail (bytes that
        are not zero, no valid record after them) is overwritten with
        zeros (truncated, without preallocation) and that made durable
        (fdatasync) before open returns, so before anything is appended
        after it.  The next append's fdatasync would normally carry it
        as well; the explicit one does not depend on the file system
        treating a shrink as metadata fdatasync must write, and costs
        one fsync per start.  Crash before it: the same torn tail is
        found again and cleared again.
    D4. Append: group commit, pwrite + fdatasync (steps 3-4 above).
        Crash before fdatasync returns: the record may be absent, whole,
        or torn; nobody was told anything that depends on it.
    D5. Compaction (Redis AOF rewrite):
        a.  sync the live log (D4);
        b.  write the kept records to dtx-decisions.log.tmp (O_TRUNC:
            a leftover of an earlier crash is overwritten), then its
            zero tail (D6), and fdatasync it;
        c.  rename the temp file over dtx-decisions.log;
        d.  fsync DIR;
        e.  only then append to the new file.
        Crash before c: the old log, a superset, stays; a leftover .tmp
        is ignored at start.  Crash between c and d: after a power loss
        the name may point at either file; both hold every decision
        made so far (b made the new one durable before c), so both are
        right, as long as nothing is appended to the new file before d:
        a COMMIT appended and acknowledged there would vanish if the
        name reverted to the old file.  Hence a failed d returns -2 and
        the caller stops without appending.  A failure in b returns -1:
        the old log stays in use, untouched; its own next fdatasync
        reports any error of its own.
    D6. Preallocation.  An fdatasync that must write a new file size
        or newly allocated blocks commits the file system's journal too;
        over blocks that already hold durable zeros it writes only data
        (about 78 us instead of 115 us here).  So the file is kept
        zero-filled in segments (DTX_LOG_SEGMENT_DEFAULT, 4 MiB) at
        least half a segment past the records: at open and compaction
        synchronously (written zeros, not fallocate: an unwritten
        extent's conversion is metadata), and while running by the
        extender thread, never by the commit path.  The extender claims
        a chunk (1 MiB) past every write begun under the mutex, writes
        it and fdatasyncs it through its own descriptor without the
        mutex, then records it as durable; a commit whose write would
        touch a claimed chunk waits for it (only if the records caught
        up with the zeros).  Crash during an extension: the file is
        shorter, or ends in zeros not durable; the records end where
        they did either way.  An extension's failed fdatasync is also
        reported to the commit path's own fdatasync (errors are tracked
        per open file description), so the commit path stops as for its
        own; the extender itself only stops preallocating.
    The directory itself must exist (the operator's): its own name in
    its parent is not ours to make durable.

    File: records from offset 0, then zeros to the end of the file.
    Record layout (docs/log-format.md), little-endian (magic 0 is
    invalid, so no run of zeros reads as a record):
        magic u32 | payload length u32 | type u8 | version u8 | reserved u16
        | crc32c u32 over the header (crc field zero) and the payload
        | payload
    =========================================================================
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             //  F_OFD_SETLK
#endif
#include "dtx_log.h"
#include "dtx_util.h"
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/stat.h>
#include <inttypes.h>

#define LOG_VERSION 1

//  The extender writes zeros in chunks of this size, each made durable
//  on its own: a commit whose fdatasync overlaps an extension waits for
//  at most one chunk's writeback
#define EXTEND_CHUNK (1024 * 1024)

//  Segment size of logs opened from now on (dtx_log_set_preallocation)
static uint64_t s_segment = DTX_LOG_SEGMENT_DEFAULT;

struct _dtx_log_t {
    char *dir;
    char *path;
    int fd;
    int lock_fd;            //  holds the directory's lock, -1 if none
    uint64_t file_size;     //  the logical end: bytes of records durable
                            //  or written (the file may be longer: zeros)
    uint64_t segment;       //  preallocation step, 0: none
    //  The extender thread (NOTES, D6).  The mutex guards what follows;
    //  no I/O is done while holding it.
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool extender_running;
    pthread_t extender;
    int extend_fd;          //  the extender's own open file description
    bool extend_wanted;
    bool stopping;
    uint64_t written_end;   //  end of every record write begun
    uint64_t zeroed_end;    //  file zero-filled (or written) and durable to here
    uint64_t claim_start;   //  zeros being written now: [start, end)
    uint64_t claim_end;
    uint64_t extensions;    //  chunks of zeros made durable by the extender
    byte *buffer;           //  records waiting for the next sync
    size_t buffer_used;
    size_t buffer_size;
    size_t buffer_records;
    uint64_t syncs;
    uint64_t records_synced;
    uint64_t compactions;
    uint64_t pending_size;  //  taken in batches, not yet written
};

const char *
dtx_log_type_name (int type)
{
    switch (type) {
        case DTX_LOG_EPOCH:  return "EPOCH";
        case DTX_LOG_COMMIT: return "COMMIT";
        case DTX_LOG_END:    return "END";
        case DTX_LOG_CHECKPOINT: return "CHECKPOINT";
        case DTX_LOG_HEURISTIC: return "HEURISTIC";
        case DTX_LOG_PARTICIPANT: return "PARTICIPANT";
        default:             return "?";
    }
}

static void
s_put32 (byte *p, uint32_t v)
{
    p [0] = v; p [1] = v >> 8; p [2] = v >> 16; p [3] = v >> 24;
}

static uint32_t
s_get32 (const byte *p)
{
    return (uint32_t) p [0] | (uint32_t) p [1] << 8
         | (uint32_t) p [2] << 16 | (uint32_t) p [3] << 24;
}

static void
s_put64 (byte *p, uint64_t v)
{
    s_put32 (p, (uint32_t) v);
    s_put32 (p + 4, (uint32_t) (v >> 32));
}

static uint64_t
s_get64 (const byte *p)
{
    return (uint64_t) s_get32 (p) | (uint64_t) s_get32 (p + 4) << 32;
}

static uint32_t
s_record_crc (const byte *header, const byte *payload, size_t size)
{
    byte copy [DTX_LOG_HEADER_SIZE];
    memcpy (copy, header, DTX_LOG_HEADER_SIZE);
    s_put32 (copy + 12, 0);
    uint32_t crc = dtx_crc32c (0, copy, DTX_LOG_HEADER_SIZE);
    return dtx_crc32c (crc, payload, size);
}

//  Is there a whole, valid record at offset?  Sets *length to its size.
static bool
s_record_valid (const byte *data, uint64_t size, uint64_t offset, uint64_t *length)
{
    if (size - offset < DTX_LOG_HEADER_SIZE)
        return false;
    const byte *h = data + offset;
    if (s_get32 (h) != DTX_LOG_MAGIC)
        return false;
    uint32_t payload = s_get32 (h + 4);
    if (payload > DTX_LOG_PAYLOAD_MAX || h [9] != LOG_VERSION)
        return false;
    if (size - offset - DTX_LOG_HEADER_SIZE < payload)
        return false;
    if (s_record_crc (h, h + DTX_LOG_HEADER_SIZE, payload) != s_get32 (h + 12))
        return false;
    *length = DTX_LOG_HEADER_SIZE + payload;
    return true;
}

//  Decode a record's payload.  Returns 0, or -1 if the payload does not
//  parse (a bug or corruption that the CRC did not catch).
static int
s_record_decode (const byte *h, dtx_log_record_t *record, char *names, size_t names_size)
{
    uint32_t size = s_get32 (h + 4);
    const byte *p = h + DTX_LOG_HEADER_SIZE;
    const byte *end = p + size;
    record->type = h [8];
    size_t names_used = 0;
    //  Strings are length-prefixed (1 byte); copy them NUL-terminated
    #define TAKE_STRING(dest) do { \
        if (p >= end || (size_t) (end - p - 1) < *p || names_used + *p + 1 > names_size) \
            return -1; \
        memcpy (names + names_used, p + 1, *p); \
        names [names_used + *p] = 0; \
        (dest) = names + names_used; \
        names_used += *p + 1; \
        p += 1 + *p; \
    } while (0)
    switch (record->type) {
        case DTX_LOG_EPOCH:
            //  8 bytes: written before epochs carried their start time
            if (size != 8 && size != 16)
                return -1;
            record->epoch = s_get64 (p);
            record->when = size == 16? s_get64 (p + 8): 0;
            return 0;
        case DTX_LOG_CHECKPOINT:
            if (size != 16)
                return -1;
            record->epoch = s_get64 (p);
            record->counter = s_get64 (p + 8);
            return 0;
        case DTX_LOG_COMMIT:
            TAKE_STRING (record->gid);
            if (p >= end)
                return -1;
            record->nparticipants = *p++;
            for (size_t i = 0; i < record->nparticipants; i++)
                TAKE_STRING (record->participants [i]);
            //  The owner came later: a record without it is a whole one
            record->owner = "";
            if (p < end)
                TAKE_STRING (record->owner);
            return p == end? 0: -1;
        case DTX_LOG_END:
            TAKE_STRING (record->gid);
            return p == end? 0: -1;
        case DTX_LOG_HEURISTIC:
            TAKE_STRING (record->gid);
            if (end - p < 9)
                return -1;
            record->decision = *p++;
            record->when = s_get64 (p);
            p += 8;
            TAKE_STRING (record->who);
            return p == end? 0: -1;
        case DTX_LOG_PARTICIPANT:
            TAKE_STRING (record->name);
            if (end - p < 8)
                return -1;
            record->epoch = s_get64 (p);
            p += 8;
            TAKE_STRING (record->identity);
            return p == end? 0: -1;
        default:
            return -1;
    }
    #undef TAKE_STRING
}

static int
s_fsync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

//  Replay the records in data.  Returns the logical end: the offset where
//  the valid records end (size if the log has neither a zero tail nor a
//  torn tail), or -1 with errbuf set if a bad record has valid records
//  after it.  Sets *torn_end to where the bytes that are not zero end
//  past the logical end (the torn record's end), or to the logical end if
//  only zeros follow it: a clean end.
static int64_t
s_scan (const char *path, const byte *data, uint64_t size,
        dtx_log_replay_fn *fn, void *arg, uint64_t *torn_end,
        char *errbuf, size_t errlen)
{
    uint64_t offset = 0;
    char names [DTX_LOG_PAYLOAD_MAX + 256];
    while (offset < size) {
        uint64_t length;
        if (!s_record_valid (data, size, offset, &length)) {
            //  Zeros to the end of the file: the preallocated tail, the
            //  normal end.  (No record is all zeros: its magic is not.)
            uint64_t nonzero_end = size;
            while (nonzero_end > offset && data [nonzero_end - 1] == 0)
                nonzero_end--;
            if (nonzero_end == offset) {
                *torn_end = offset;
                return (int64_t) offset;
            }
            //  A torn write leaves garbage only at the tail.  If any valid
            //  record follows, this is corruption in the middle: refuse.
            //  (A valid record starts with its magic, so before nonzero_end.)
            for (uint64_t next = offset + 1;
                 next < nonzero_end && next + DTX_LOG_HEADER_SIZE <= size; next++) {
                uint64_t ignored;
                if (s_get32 (data + next) == DTX_LOG_MAGIC
                &&  s_record_valid (data, size, next, &ignored)) {
                    snprintf (errbuf, errlen,
                              "decision log %s is corrupt at offset %" PRIu64
                              " (bad record followed by a valid one at offset %" PRIu64
                              "); refusing to start: restore the file or ask for help,"
                              " do not delete it", path, offset, next);
                    return -1;
                }
            }
            *torn_end = nonzero_end;
            return (int64_t) offset;
        }
        dtx_log_record_t record;
        memset (&record, 0, sizeof record);
        record.offset = offset;
        if (s_record_decode (data + offset, &record, names, sizeof names)) {
            snprintf (errbuf, errlen, "decision log %s: record at offset %" PRIu64
                      " has a valid checksum but an unreadable payload (type %d)",
                      path, offset, data [offset + 8]);
            return -1;
        }
        if (fn)
            fn (arg, &record);
        offset += length;
    }
    *torn_end = offset;
    return (int64_t) offset;
}

static int
s_read_file (int fd, const char *path, byte **data_p, uint64_t *size_p, char *errbuf, size_t errlen)
{
    struct stat st;
    if (fstat (fd, &st)) {
        snprintf (errbuf, errlen, "cannot stat %s: %s", path, strerror (errno));
        return -1;
    }
    uint64_t size = st.st_size;
    byte *data = (byte *) malloc (size? size: 1);
    assert (data);
    uint64_t got = 0;
    while (got < size) {
        ssize_t n = pread (fd, data + got, size - got, got);
        if (n <= 0) {
            snprintf (errbuf, errlen, "cannot read %s at offset %" PRIu64 ": %s",
                      path, got, n < 0? strerror (errno): "unexpected end of file");
            free (data);
            return -1;
        }
        got += n;
    }
    *data_p = data;
    *size_p = size;
    return 0;
}

int64_t
dtx_log_read (const char *path, dtx_log_replay_fn *fn, void *arg, char *errbuf, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (errbuf, errlen, "cannot open decision log %s: %s", path, strerror (errno));
        return -1;
    }
    byte *data;
    uint64_t size;
    int64_t valid = -1;
    uint64_t torn_end;
    if (s_read_file (fd, path, &data, &size, errbuf, errlen) == 0) {
        valid = s_scan (path, data, size, fn, arg, &torn_end, errbuf, errlen);
        free (data);
    }
    close (fd);
    return valid;
}

//  Take the directory's lock: an open file description lock (F_OFD_SETLK)
//  on DIR/dtx-decisions.lock.  Unlike a classic POSIX lock it conflicts
//  between two opens in one process too, and is not dropped when some
//  other descriptor of the file is closed; like any fcntl lock the kernel
//  drops it when the holder dies, even by SIGKILL, so a restart after a
//  crash is never refused.  O_CLOEXEC: an exec'd child does not inherit
//  it (a forked child that does not exec would share it).
static int
s_lock_dir (dtx_log_t *self, char *errbuf, size_t errlen)
{
    char *path = zsys_sprintf ("%s/%s", self->dir, DTX_LOG_LOCKNAME);
    self->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0) {
        snprintf (errbuf, errlen, "cannot open lock file %s: %s", path, strerror (errno));
        zstr_free (&path);
        return -1;
    }
    struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    if (fcntl (self->lock_fd, F_OFD_SETLK, &lock)) {
        int error = errno;
        if (error == EAGAIN || error == EACCES) {
            //  F_OFD_GETLK reports pid -1 for an OFD lock: the holder
            //  wrote its pid into the file (it may not have yet, if it
            //  took the lock a moment ago)
            char text [32] = "";
            ssize_t got = pread (self->lock_fd, text, sizeof text - 1, 0);
            int pid = got > 0? atoi (text): 0;
            if (pid > 0)
                snprintf (errbuf, errlen, "decision log directory %s is in use by another"
                          " coordinator (pid %d)", self->dir, pid);
            else
                snprintf (errbuf, errlen, "decision log directory %s is in use by another"
                          " coordinator (pid unknown)", self->dir);
        }
        else
            snprintf (errbuf, errlen, "cannot lock %s: %s", path, strerror (error));
        zstr_free (&path);
        return -1;
    }
    char text [32];
    int size = snprintf (text, sizeof text, "%d\n", (int) getpid ());
    if (ftruncate (self->lock_fd, 0) || pwrite (self->lock_fd, text, size, 0) != size) {
        snprintf (errbuf, errlen, "cannot write pid to lock file %s: %s", path, strerror (errno));
        zstr_free (&path);
        return -1;
    }
    zstr_free (&path);
    return 0;
}

//  Write size bytes at offset (all of them, or -1)
static int
s_write_all (int fd, const byte *data, size_t size, uint64_t offset)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite (fd, data + done, size - done, offset + done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        done += n;
    }
    return 0;
}

//  Write real zeros over [from, to): not fallocate, whose unwritten
//  extents would need a metadata update when first written (NOTES, D6)
static int
s_write_zeros (int fd, uint64_t from, uint64_t to)
{
    static const byte zeros [64 * 1024];
    while (from < to) {
        size_t size = to - from < sizeof zeros? (size_t) (to - from): sizeof zeros;
        if (s_write_all (fd, zeros, size, from))
            return -1;
        from += size;
    }
    return 0;
}

//  How far to preallocate a log whose records end at end: the next
//  segment boundary at least half a segment past it
static uint64_t
s_prealloc_target (uint64_t end, uint64_t segment)
{
    if (segment == 0)
        return end;
    uint64_t want = end + segment / 2;
    return (want + segment - 1) / segment * segment;
}

static dtx_log_t *
s_log_new (const char *dir, const char *path)
{
    dtx_log_t *self = (dtx_log_t *) calloc (1, sizeof (dtx_log_t));
    assert (self);
    self->fd = -1;
    self->lock_fd = -1;
    self->extend_fd = -1;
    self->dir = strdup (dir);
    self->path = strdup (path);
    pthread_mutex_init (&self->mutex, NULL);
    pthread_cond_init (&self->cond, NULL);
    return self;
}

//  The extender: keeps the zero-filled space ahead of the records (NOTES,
//  D6).  Woken by a write that leaves less than half a segment of zeros
//  after it; writes one chunk at a time through its own descriptor,
//  without the mutex, into a range it claimed under the mutex.
static void *
s_extender (void *arg)
{
    dtx_log_t *self = (dtx_log_t *) arg;
    pthread_mutex_lock (&self->mutex);
    while (!self->stopping) {
        if (!self->extend_wanted || self->segment == 0) {
            pthread_cond_wait (&self->cond, &self->mutex);
            continue;
        }
        uint64_t target = s_prealloc_target (self->written_end, self->segment);
        uint64_t start = self->zeroed_end > self->written_end? self->zeroed_end: self->written_end;
        if (start >= target) {
            self->extend_wanted = false;
            continue;
        }
        uint64_t end = target - start > EXTEND_CHUNK? start + EXTEND_CHUNK: target;
        self->claim_start = start;
        self->claim_end = end;
        int fd = self->extend_fd;
        pthread_mutex_unlock (&self->mutex);
        int rc = s_write_zeros (fd, start, end) || fdatasync (fd)? -1: 0;
        int error = errno;
        pthread_mutex_lock (&self->mutex);
        self->claim_start = self->claim_end = 0;
        pthread_cond_broadcast (&self->cond);
        if (rc) {
            //  Not fatal: appends past the zeros still work (slower).  A
            //  failed fdatasync is reported to the log's own descriptor
            //  too (each open file description sees the error), so a
            //  commit cannot miss it.
            zsys_warning ("decision log %s: cannot preallocate %" PRIu64 " bytes at offset %"
                          PRIu64 ": %s; going on without preallocation",
                          self->path, end - start, start, strerror (error));
            self->segment = 0;
        }
        else {
            if (end > self->zeroed_end)
                self->zeroed_end = end;
            self->extensions++;
        }
    }
    pthread_mutex_unlock (&self->mutex);
    return NULL;
}

//  Zero-fill the file to its target and make it durable, at open and
//  compaction (not the commit path).  Zeros that cannot be written (a
//  full disk) only turn preallocation off; returns -1 (errno kept) if
//  the fdatasync fails.
static int
s_prealloc_now (dtx_log_t *self, uint64_t file_bytes)
{
    uint64_t target = s_prealloc_target (self->file_size, self->segment);
    if (target > file_bytes && s_write_zeros (self->fd, file_bytes, target)) {
        zsys_warning ("decision log %s: cannot preallocate %" PRIu64 " bytes: %s;"
                      " going on without preallocation", self->path,
                      target - file_bytes, strerror (errno));
        self->segment = 0;
        target = file_bytes;
    }
    if (fdatasync (self->fd))
        return -1;
    self->written_end = self->file_size;
    self->zeroed_end = target > file_bytes? target: file_bytes;
    return 0;
}

static int
s_start_extender (dtx_log_t *self)
{
    if (self->segment == 0)
        return 0;
    self->extend_fd = open (self->path, O_WRONLY | O_CLOEXEC);
    if (self->extend_fd < 0)
        return -1;
    if (pthread_create (&self->extender, NULL, s_extender, self)) {
        errno = EAGAIN;
        return -1;
    }
    self->extender_running = true;
    return 0;
}

dtx_log_t *
dtx_log_open (const char *dir, dtx_log_replay_fn *fn, void *arg,
              char *errbuf, size_t errlen)
{
    struct stat st;
    if (stat (dir, &st) || !S_ISDIR (st.st_mode)) {
        snprintf (errbuf, errlen, "decision log directory %s: %s", dir,
                  errno? strerror (errno): "not a directory");
        return NULL;
    }
    char *path = zsys_sprintf ("%s/%s", dir, DTX_LOG_FILENAME);
    dtx_log_t *self = s_log_new (dir, path);
    zstr_free (&path);
    self->segment = s_segment;
    if (access (dir, W_OK)) {
        snprintf (errbuf, errlen, "decision log directory %s is not writable: %s", dir, strerror (errno));
        dtx_log_destroy (&self);
        return NULL;
    }
    //  One coordinator per log, before anything is read or created: two
    //  would issue the same gids and overwrite each other's records
    if (s_lock_dir (self, errbuf, errlen)) {
        dtx_log_destroy (&self);
        return NULL;
    }
    self->fd = open (self->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->fd < 0) {
        snprintf (errbuf, errlen, "cannot open decision log %s: %s", self->path, strerror (errno));
        dtx_log_destroy (&self);
        return NULL;
    }
    //  Every time, not only when created here (NOTES, D2)
    if (s_fsync_dir (dir)) {
        snprintf (errbuf, errlen, "cannot fsync directory %s: %s", dir, strerror (errno));
        dtx_log_destroy (&self);
        return NULL;
    }
    //  Read the whole log.  Its size is bounded (see docs/log-format.md).
    byte *data;
    uint64_t size;
    if (s_read_file (self->fd, self->path, &data, &size, errbuf, errlen)) {
        dtx_log_destroy (&self);
        return NULL;
    }
    uint64_t torn_end;
    int64_t valid = s_scan (self->path, data, size, fn, arg, &torn_end, errbuf, errlen);
    free (data);
    if (valid < 0) {
        dtx_log_destroy (&self);
        return NULL;
    }
    self->file_size = valid;
    if (self->segment == 0 && (uint64_t) valid < size) {
        //  No preallocation: cut the file at the logical end (NOTES, D3)
        if (torn_end > (uint64_t) valid)
            zsys_warning ("decision log %s: torn record at offset %" PRId64
                          " (%" PRIu64 " bytes to end of file), truncating",
                          self->path, valid, size - valid);
        if (ftruncate (self->fd, valid) || fdatasync (self->fd)) {
            snprintf (errbuf, errlen, "cannot truncate torn tail of %s: %s",
                      self->path, strerror (errno));
            dtx_log_destroy (&self);
            return NULL;
        }
        size = valid;
    }
    if (self->segment > 0) {
        //  A torn record is overwritten with zeros, so that the next
        //  append starts at the logical end with zeros after it; then the
        //  file is zero-filled ahead and all of it made durable (D3, D6)
        if (torn_end > (uint64_t) valid) {
            zsys_warning ("decision log %s: torn record at offset %" PRId64
                          " (%" PRIu64 " bytes before the zero tail or end of file),"
                          " overwriting it with zeros",
                          self->path, valid, torn_end - valid);
            if (s_write_zeros (self->fd, valid, torn_end)) {
                snprintf (errbuf, errlen, "cannot clear torn tail of %s: %s",
                          self->path, strerror (errno));
                dtx_log_destroy (&self);
                return NULL;
            }
        }
        if (s_prealloc_now (self, size)) {
            snprintf (errbuf, errlen, "cannot fdatasync decision log %s: %s",
                      self->path, strerror (errno));
            dtx_log_destroy (&self);
            return NULL;
        }
        if (s_start_extender (self))
            zsys_warning ("decision log %s: cannot start preallocation thread: %s;"
                          " going on without it", self->path, strerror (errno));
    }
    else
        self->written_end = self->zeroed_end = size;
    return self;
}

static void
s_stop_extender (dtx_log_t *self)
{
    if (self->extender_running) {
        pthread_mutex_lock (&self->mutex);
        self->stopping = true;
        pthread_cond_broadcast (&self->cond);
        pthread_mutex_unlock (&self->mutex);
        pthread_join (self->extender, NULL);
        self->extender_running = false;
        self->stopping = false;
    }
    if (self->extend_fd >= 0)
        close (self->extend_fd);
    self->extend_fd = -1;
}

void
dtx_log_destroy (dtx_log_t **self_p)
{
    assert (self_p);
    dtx_log_t *self = *self_p;
    if (!self)
        return;
    s_stop_extender (self);
    if (self->fd >= 0)
        close (self->fd);
    //  Closing the last descriptor of the open file description drops
    //  the lock; the pid stays in the file, meaningless without it
    if (self->lock_fd >= 0)
        close (self->lock_fd);
    free (self->path);
    free (self->dir);
    free (self->buffer);
    pthread_mutex_destroy (&self->mutex);
    pthread_cond_destroy (&self->cond);
    free (self);
    *self_p = NULL;
}

static int
s_append (dtx_log_t *self, int type, const byte *payload, size_t size)
{
    if (size > DTX_LOG_PAYLOAD_MAX)
        return -1;
    size_t need = DTX_LOG_HEADER_SIZE + size;
    if (self->buffer_used + need > self->buffer_size) {
        size_t new_size = self->buffer_size? self->buffer_size: 64 * 1024;
        while (new_size < self->buffer_used + need)
            new_size *= 2;
        self->buffer = (byte *) realloc (self->buffer, new_size);
        assert (self->buffer);
        self->buffer_size = new_size;
    }
    byte *h = self->buffer + self->buffer_used;
    s_put32 (h, DTX_LOG_MAGIC);
    s_put32 (h + 4, (uint32_t) size);
    h [8] = (byte) type;
    h [9] = LOG_VERSION;
    h [10] = h [11] = 0;
    memcpy (h + DTX_LOG_HEADER_SIZE, payload, size);
    s_put32 (h + 12, s_record_crc (h, h + DTX_LOG_HEADER_SIZE, size));
    self->buffer_used += need;
    self->buffer_records++;
    return 0;
}

static size_t
s_put_string (byte *p, const char *s)
{
    size_t len = strlen (s);
    assert (len <= 255);
    p [0] = (byte) len;
    memcpy (p + 1, s, len);
    return 1 + len;
}

int
dtx_log_append_epoch (dtx_log_t *self, uint64_t epoch)
{
    return dtx_log_append_epoch_at (self, epoch, (uint64_t) time (NULL));
}

int
dtx_log_append_epoch_at (dtx_log_t *self, uint64_t epoch, uint64_t when)
{
    byte payload [16];
    s_put64 (payload, epoch);
    s_put64 (payload + 8, when);
    return s_append (self, DTX_LOG_EPOCH, payload, 16);
}

int
dtx_log_append_participant (dtx_log_t *self, const char *name, uint64_t epoch,
                            const char *identity)
{
    if (strlen (name) > 255 || strlen (identity) > 255)
        return -1;
    byte payload [256 + 8 + 256];
    size_t used = s_put_string (payload, name);
    s_put64 (payload + used, epoch);
    used += 8;
    used += s_put_string (payload + used, identity);
    return s_append (self, DTX_LOG_PARTICIPANT, payload, used);
}

int
dtx_log_append_commit (dtx_log_t *self, const char *gid,
                       size_t nparticipants, const char *const *participants)
{
    return dtx_log_append_commit_owned (self, gid, nparticipants, participants, NULL);
}

int
dtx_log_append_commit_owned (dtx_log_t *self, const char *gid, size_t nparticipants,
                             const char *const *participants, const char *owner)
{
    if (strlen (gid) > 255 || nparticipants > DTX_LOG_PARTICIPANTS_MAX
    ||  (owner && strlen (owner) > 255))
        return -1;
    byte payload [256 + 1 + DTX_LOG_PARTICIPANTS_MAX * 256 + 256];
    size_t used = s_put_string (payload, gid);
    payload [used++] = (byte) nparticipants;
    for (size_t i = 0; i < nparticipants; i++) {
        if (strlen (participants [i]) > 255)
            return -1;
        used += s_put_string (payload + used, participants [i]);
    }
    if (owner && *owner)
        used += s_put_string (payload + used, owner);
    return s_append (self, DTX_LOG_COMMIT, payload, used);
}

int
dtx_log_append_end (dtx_log_t *self, const char *gid)
{
    if (strlen (gid) > 255)
        return -1;
    byte payload [256];
    size_t used = s_put_string (payload, gid);
    return s_append (self, DTX_LOG_END, payload, used);
}

bool
dtx_log_pending (dtx_log_t *self)
{
    return self->buffer_used > 0;
}

//  Write size bytes at offset and fdatasync.  Over zeros made durable
//  ahead (D6) the fdatasync has no size or allocation to write.
static int
s_write_durable (dtx_log_t *self, const byte *data, size_t size, uint64_t offset)
{
    pthread_mutex_lock (&self->mutex);
    //  Never under zeros being written: only when the records have caught
    //  up with the extender (it was starved or the burst was huge)
    while (self->claim_end > self->claim_start
    &&     offset < self->claim_end && offset + size > self->claim_start)
        pthread_cond_wait (&self->cond, &self->mutex);
    if (offset + size > self->written_end)
        self->written_end = offset + size;
    pthread_mutex_unlock (&self->mutex);

    int rc = s_write_all (self->fd, data, size, offset) || fdatasync (self->fd)? -1: 0;
    int error = errno;

    pthread_mutex_lock (&self->mutex);
    if (self->segment && self->extender_running
    &&  self->zeroed_end < self->written_end + self->segment / 2) {
        self->extend_wanted = true;
        pthread_cond_signal (&self->cond);
    }
    pthread_mutex_unlock (&self->mutex);
    errno = error;
    return rc;
}

int
dtx_log_sync (dtx_log_t *self)
{
    if (self->buffer_used == 0)
        return 0;
    if (s_write_durable (self, self->buffer, self->buffer_used, self->file_size))
        return -1;
    self->file_size += self->buffer_used;
    self->records_synced += self->buffer_records;
    self->syncs++;
    self->buffer_used = 0;
    self->buffer_records = 0;
    return 0;
}

//  Two-step sync for a log shared by threads: take the buffer (under the
//  caller's lock), write it durably (without the lock, so that appends
//  go on meanwhile), then account for it (under the lock again)
struct _dtx_log_batch_t {
    byte *data;
    size_t size;
    size_t records;
    uint64_t offset;
};

dtx_log_batch_t *
dtx_log_batch_take (dtx_log_t *self)
{
    dtx_log_batch_t *batch = (dtx_log_batch_t *) calloc (1, sizeof (dtx_log_batch_t));
    assert (batch);
    batch->data = self->buffer;
    batch->size = self->buffer_used;
    batch->records = self->buffer_records;
    batch->offset = self->file_size + self->pending_size;
    self->pending_size += batch->size;
    self->buffer = NULL;
    self->buffer_size = self->buffer_used = self->buffer_records = 0;
    return batch;
}

int
dtx_log_batch_write (dtx_log_t *self, dtx_log_batch_t *batch)
{
    return batch->size? s_write_durable (self, batch->data, batch->size, batch->offset): 0;
}

void
dtx_log_batch_done (dtx_log_t *self, dtx_log_batch_t **batch_p)
{
    dtx_log_batch_t *batch = *batch_p;
    self->pending_size -= batch->size;
    self->file_size += batch->size;
    self->records_synced += batch->records;
    if (batch->size)
        self->syncs++;
    free (batch->data);
    free (batch);
    *batch_p = NULL;
}

uint64_t
dtx_log_size (dtx_log_t *self)
{
    return self? self->file_size + self->buffer_used: 0;
}

//  (NULL: no log, the coordinator keeps decisions in PostgreSQL)
uint64_t dtx_log_syncs (dtx_log_t *self) { return self? self->syncs: 0; }
uint64_t dtx_log_records_synced (dtx_log_t *self) { return self? self->records_synced: 0; }
const char *dtx_log_path (dtx_log_t *self) { return self? self->path: "(none: PostgreSQL store)"; }

int
dtx_log_append_checkpoint (dtx_log_t *self, uint64_t epoch, uint64_t counter)
{
    byte payload [16];
    s_put64 (payload, epoch);
    s_put64 (payload + 8, counter);
    return s_append (self, DTX_LOG_CHECKPOINT, payload, 16);
}

static int
    s_compact_into_new (dtx_log_t *self, dtx_log_keep_fn *keep, void *arg,
                        char *errbuf, size_t errlen);

//  Compaction, as Redis rewrites its AOF: the records still needed go to
//  a new file, which is written and fsynced, renamed over the log, and
//  the directory fsynced.  A crash before the rename leaves the old log
//  (a superset: still right); after the directory fsync, the new one.
int
dtx_log_compact (dtx_log_t *self, dtx_log_keep_fn *keep, void *arg, char *errbuf, size_t errlen)
{
    if (dtx_log_sync (self)) {
        snprintf (errbuf, errlen, "sync before compaction failed: %s", strerror (errno));
        return -2;      //  the log itself is in doubt: fatal
    }
    //  No zeros written into the old file while it is replaced (and no
    //  fsync of it between the rename and the directory's fsync)
    s_stop_extender (self);
    int rc = s_compact_into_new (self, keep, arg, errbuf, errlen);
    if (rc == -1 && s_start_extender (self))
        zsys_warning ("decision log %s: cannot restart preallocation: %s; going on without it",
                      self->path, strerror (errno));
    return rc;
}

static int
s_compact_into_new (dtx_log_t *self, dtx_log_keep_fn *keep, void *arg, char *errbuf, size_t errlen)
{
    char *tmp = zsys_sprintf ("%s.tmp", self->path);
    dtx_log_t *fresh = s_log_new (self->dir, tmp);
    zstr_free (&tmp);
    fresh->fd = open (fresh->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fresh->fd < 0) {
        snprintf (errbuf, errlen, "cannot create %s: %s", fresh->path, strerror (errno));
        dtx_log_destroy (&fresh);
        return -1;
    }
    keep (arg, fresh);
    //  The kept records, then zeros to the preallocation target, made
    //  durable by one fdatasync before the rename (D5 b, D6)
    fresh->segment = self->segment;
    fresh->file_size = fresh->buffer_used;
    if (s_write_all (fresh->fd, fresh->buffer, fresh->buffer_used, 0)
    ||  s_prealloc_now (fresh, fresh->buffer_used)) {
        snprintf (errbuf, errlen, "cannot write %s: %s", fresh->path, strerror (errno));
        unlink (fresh->path);
        dtx_log_destroy (&fresh);
        return -1;
    }
    fresh->records_synced += fresh->buffer_records;
    fresh->buffer_used = fresh->buffer_records = 0;
    if (rename (fresh->path, self->path)) {
        snprintf (errbuf, errlen, "cannot rename %s to %s: %s", fresh->path, self->path, strerror (errno));
        unlink (fresh->path);
        dtx_log_destroy (&fresh);
        return -1;
    }
    //  From here on the new file is the log: a failure to make the rename
    //  durable could lose what is appended next, so it is fatal
    if (s_fsync_dir (self->dir)) {
        snprintf (errbuf, errlen, "cannot fsync directory %s after compaction: %s",
                  self->dir, strerror (errno));
        dtx_log_destroy (&fresh);
        return -2;
    }
    uint64_t before = self->file_size;
    close (self->fd);
    self->fd = fresh->fd;
    fresh->fd = -1;
    self->file_size = fresh->file_size;
    self->written_end = fresh->written_end;
    self->zeroed_end = fresh->zeroed_end;
    self->compactions++;
    zsys_info ("decision log %s compacted: %" PRIu64 " -> %" PRIu64 " bytes (file %" PRIu64
               " bytes with its zero tail)", self->path, before, self->file_size, self->zeroed_end);
    dtx_log_destroy (&fresh);
    //  The extender goes on with the new file, through a descriptor of
    //  its own opened by the name that is now the new file's
    if (s_start_extender (self))
        zsys_warning ("decision log %s: cannot restart preallocation after compaction: %s;"
                      " going on without it", self->path, strerror (errno));
    return 0;
}

uint64_t dtx_log_compactions (dtx_log_t *self) { return self->compactions; }

void
dtx_log_set_preallocation (uint64_t segment)
{
    s_segment = segment;
}

uint64_t
dtx_log_preallocated (dtx_log_t *self)
{
    if (!self)
        return 0;
    pthread_mutex_lock (&self->mutex);
    uint64_t end = self->zeroed_end;
    pthread_mutex_unlock (&self->mutex);
    return end;
}

int
dtx_log_append_heuristic (dtx_log_t *self, const char *gid, int decision,
                          const char *who, uint64_t when)
{
    if (strlen (gid) > 255 || strlen (who) > 255)
        return -1;
    byte payload [256 + 1 + 8 + 256];
    size_t used = s_put_string (payload, gid);
    payload [used++] = (byte) decision;
    s_put64 (payload + used, when);
    used += 8;
    used += s_put_string (payload + used, who);
    return s_append (self, DTX_LOG_HEURISTIC, payload, used);
}
