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
    D3. Open: a torn tail is truncated and the truncation made durable
        (fdatasync) before open returns, so before anything is appended
        after it.  The next append's fdatasync would normally carry the
        new size as well; the explicit one does not depend on the file
        system treating a shrink as metadata fdatasync must write, and
        costs one fsync per start.  Crash before it: the same torn tail
        is found again and truncated again.
    D4. Append: group commit, pwrite + fdatasync (steps 3-4 above).
        Crash before fdatasync returns: the record may be absent, whole,
        or torn; nobody was told anything that depends on it.
    D5. Compaction (Redis AOF rewrite):
        a.  sync the live log (D4);
        b.  write the kept records to dtx-decisions.log.tmp (O_TRUNC:
            a leftover of an earlier crash is overwritten) and
            fdatasync it;
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
    The directory itself must exist (the operator's): its own name in
    its parent is not ours to make durable.

    Record layout (docs/log-format.md), little-endian:
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
#include <sys/stat.h>
#include <inttypes.h>

#define LOG_VERSION 1

struct _dtx_log_t {
    char *dir;
    char *path;
    int fd;
    int lock_fd;            //  holds the directory's lock, -1 if none
    uint64_t file_size;     //  bytes durable or written in the file
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

//  Replay the records in data.  Returns the offset where the valid
//  records end (size if the log is clean, less if its tail is torn), or
//  -1 with errbuf set if a bad record has valid records after it.
static int64_t
s_scan (const char *path, const byte *data, uint64_t size,
        dtx_log_replay_fn *fn, void *arg, char *errbuf, size_t errlen)
{
    uint64_t offset = 0;
    char names [DTX_LOG_PAYLOAD_MAX + 256];
    while (offset < size) {
        uint64_t length;
        if (!s_record_valid (data, size, offset, &length)) {
            //  A torn write leaves garbage only at the tail.  If any valid
            //  record follows, this is corruption in the middle: refuse.
            for (uint64_t next = offset + 1; next + DTX_LOG_HEADER_SIZE <= size; next++) {
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
    if (s_read_file (fd, path, &data, &size, errbuf, errlen) == 0) {
        valid = s_scan (path, data, size, fn, arg, errbuf, errlen);
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
    dtx_log_t *self = (dtx_log_t *) calloc (1, sizeof (dtx_log_t));
    assert (self);
    self->fd = -1;
    self->lock_fd = -1;
    self->dir = strdup (dir);
    self->path = zsys_sprintf ("%s/%s", dir, DTX_LOG_FILENAME);
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
    int64_t valid = s_scan (self->path, data, size, fn, arg, errbuf, errlen);
    if (valid < 0) {
        free (data);
        dtx_log_destroy (&self);
        return NULL;
    }
    if ((uint64_t) valid < size) {
        zsys_warning ("decision log %s: torn record at offset %" PRId64
                      " (%" PRIu64 " bytes to end of file), truncating",
                      self->path, valid, size - valid);
        if (ftruncate (self->fd, valid) || fdatasync (self->fd)) {
            snprintf (errbuf, errlen, "cannot truncate torn tail of %s: %s",
                      self->path, strerror (errno));
            free (data);
            dtx_log_destroy (&self);
            return NULL;
        }
        size = valid;
    }
    free (data);
    self->file_size = size;
    return self;
}

void
dtx_log_destroy (dtx_log_t **self_p)
{
    assert (self_p);
    dtx_log_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close (self->fd);
    //  Closing the last descriptor of the open file description drops
    //  the lock; the pid stays in the file, meaningless without it
    if (self->lock_fd >= 0)
        close (self->lock_fd);
    free (self->path);
    free (self->dir);
    free (self->buffer);
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

//  Write size bytes at offset and fdatasync
static int
s_write_durable (int fd, const byte *data, size_t size, uint64_t offset)
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
    return fdatasync (fd);
}

int
dtx_log_sync (dtx_log_t *self)
{
    if (self->buffer_used == 0)
        return 0;
    if (s_write_durable (self->fd, self->buffer, self->buffer_used, self->file_size))
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
    return batch->size? s_write_durable (self->fd, batch->data, batch->size, batch->offset): 0;
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
    dtx_log_t *fresh = (dtx_log_t *) calloc (1, sizeof (dtx_log_t));
    assert (fresh);
    fresh->lock_fd = -1;
    fresh->path = zsys_sprintf ("%s/%s.tmp", self->dir, DTX_LOG_FILENAME);
    fresh->fd = open (fresh->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fresh->fd < 0) {
        snprintf (errbuf, errlen, "cannot create %s: %s", fresh->path, strerror (errno));
        dtx_log_destroy (&fresh);
        return -1;
    }
    keep (arg, fresh);
    if (dtx_log_sync (fresh)) {
        snprintf (errbuf, errlen, "cannot write %s: %s", fresh->path, strerror (errno));
        unlink (fresh->path);
        dtx_log_destroy (&fresh);
        return -1;
    }
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
    self->compactions++;
    zsys_info ("decision log %s compacted: %" PRIu64 " -> %" PRIu64 " bytes",
               self->path, before, self->file_size);
    dtx_log_destroy (&fresh);
    return 0;
}

uint64_t dtx_log_compactions (dtx_log_t *self) { return self->compactions; }

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
