/*  =========================================================================
    dtx_log - the coordinator's durable decision log

    An append-only file of self-checking records (docs/log-format.md).
    Appends go to a memory buffer; dtx_log_sync writes the buffer and
    makes it durable with one fdatasync (group commit).  Nothing may act on
    a record before the dtx_log_sync that covers it has returned 0.
    =========================================================================
*/
#ifndef DTX_LOG_H_INCLUDED
#define DTX_LOG_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

#define DTX_LOG_FILENAME     "dtx-decisions.log"
#define DTX_LOG_LOCKNAME     "dtx-decisions.lock"
#define DTX_LOG_MAGIC        0x4C585444u    //  "DTXL" read as little-endian
#define DTX_LOG_HEADER_SIZE  16
#define DTX_LOG_PAYLOAD_MAX  (64 * 1024)
#define DTX_LOG_PARTICIPANTS_MAX 255
//  The file is extended in zero-filled segments of this size, kept at
//  least half a segment ahead of the records (docs/log-format.md)
#define DTX_LOG_SEGMENT_DEFAULT  (4 * 1024 * 1024)

//  Record types
typedef enum {
    DTX_LOG_EPOCH = 1,      //  a coordinator start: the epoch its gids carry
    DTX_LOG_COMMIT = 2,     //  commit decision for gid on the listed participants
    DTX_LOG_END = 3,        //  every participant acknowledged phase 2 for gid
    DTX_LOG_CHECKPOINT = 4, //  compaction dropped finished transactions before this
    DTX_LOG_HEURISTIC = 5,  //  an operator decided gid by hand (dtxctl resolve)
    DTX_LOG_PARTICIPANT = 6 //  participant name (database identity) served an epoch
} dtx_log_type_t;

const char *
    dtx_log_type_name (int type);

//  A record as replay sees it.  Pointers are valid during the callback.
typedef struct {
    int type;
    uint64_t offset;                //  where the record starts in the file
    uint64_t epoch;                 //  EPOCH, CHECKPOINT, PARTICIPANT
    uint64_t counter;               //  CHECKPOINT
    int decision;                   //  HEURISTIC: 1 commit, 2 abort
    const char *who;                //  HEURISTIC: the operator
    uint64_t when;                  //  HEURISTIC: unix time of the decision;
                                    //  EPOCH: unix time the epoch began
                                    //  (0 in a record of the old 8-byte form)
    const char *name;               //  PARTICIPANT: the participant's name
    const char *identity;           //  PARTICIPANT: "<system identifier>/<database
                                    //  name>" of its database, may be ""
    const char *gid;                //  COMMIT, END
    const char *owner;              //  COMMIT: the client key that began it ("" if
                                    //  not known, or a record from before owners)
    size_t nparticipants;           //  COMMIT
    const char *participants [DTX_LOG_PARTICIPANTS_MAX];
} dtx_log_record_t;

//  Called for each valid record at open, in file order.
typedef void (dtx_log_replay_fn) (void *arg, const dtx_log_record_t *record);

typedef struct _dtx_log_t dtx_log_t;

//  Segment size for logs opened (or compacted) after this call: the file
//  is zero-filled ahead in steps of this many bytes.  0: no
//  preallocation, the file ends where the records do (the previous
//  format, for tests).  Not thread-safe; default DTX_LOG_SEGMENT_DEFAULT.
void
    dtx_log_set_preallocation (uint64_t segment);

//  Open (creating if absent) the log in an existing directory, replaying
//  every record through fn.  First takes an exclusive lock on
//  DIR/dtx-decisions.lock (held until dtx_log_destroy, dropped by the
//  kernel if the process dies); if another process or another open holds
//  it, returns NULL with errbuf "decision log directory DIR is in use by
//  another coordinator (pid N)".  The records end at the first offset
//  that holds no valid record; zeros from there to the end of the file
//  are the preallocated tail.  A torn record at the tail (bytes that are
//  not all zero, no valid record after them) is overwritten with zeros
//  (or truncated away without preallocation; logged); a bad record
//  followed by valid ones is corruption: returns NULL with errbuf naming
//  the file and offset.  Then zero-fills the file ahead and starts the
//  thread that keeps it so.  Caller owns return value.
dtx_log_t *
    dtx_log_open (const char *dir, dtx_log_replay_fn *fn, void *arg,
                  char *errbuf, size_t errlen);

void
    dtx_log_destroy (dtx_log_t **self_p);

//  Read a log file without changing it (for tools and tests; takes no
//  lock, so it works beside a running coordinator).  Returns the
//  logical end, the offset where valid records end (less than the file
//  size if a zero tail or a torn record follows), or -1 with errbuf set if
//  the file is corrupt or unreadable.
int64_t
    dtx_log_read (const char *path, dtx_log_replay_fn *fn, void *arg,
                  char *errbuf, size_t errlen);

//  Buffer records for the next sync.  Return 0, or -1 if a field is too big.
//  An epoch that begins now (when = time (NULL)).
int
    dtx_log_append_epoch (dtx_log_t *self, uint64_t epoch);
//  An epoch that began at when (unix seconds): compaction rewrites old
//  epochs with their original time.
int
    dtx_log_append_epoch_at (dtx_log_t *self, uint64_t epoch, uint64_t when);
int
    dtx_log_append_commit (dtx_log_t *self, const char *gid,
                           size_t nparticipants, const char *const *participants);
//  The same, with the client key that began it (NULL or "": none written)
int
    dtx_log_append_commit_owned (dtx_log_t *self, const char *gid, size_t nparticipants,
                                 const char *const *participants, const char *owner);
int
    dtx_log_append_end (dtx_log_t *self, const char *gid);

//  An operator's decision on gid (1 commit, 2 abort), by who, at when
//  (unix seconds).
int
    dtx_log_append_heuristic (dtx_log_t *self, const char *gid, int decision,
                              const char *who, uint64_t when);

//  Participant name, fronting the database identity ("<system
//  identifier>/<database name>", may be empty), served transactions of
//  coordinator epoch `epoch`.  Strings of at most 255 bytes.
int
    dtx_log_append_participant (dtx_log_t *self, const char *name, uint64_t epoch,
                                const char *identity);

//  Compaction writes this first: outcomes of gids issued up to (epoch,
//  counter) that finished before it are no longer in the log.
int
    dtx_log_append_checkpoint (dtx_log_t *self, uint64_t epoch, uint64_t counter);

//  Called during compaction: append (to `out`) every record still needed.
typedef void (dtx_log_keep_fn) (void *arg, dtx_log_t *out);

//  Rewrite the log to the records `keep` appends: temp file, fsync,
//  rename, fsync directory.  Returns 0; -1 if it failed before the rename
//  (the old log stays in use, nothing lost); -2 if the log's durability is
//  in doubt (caller must stop).
int
    dtx_log_compact (dtx_log_t *self, dtx_log_keep_fn *keep, void *arg,
                     char *errbuf, size_t errlen);

uint64_t
    dtx_log_compactions (dtx_log_t *self);

//  True if records wait to be written.
bool
    dtx_log_pending (dtx_log_t *self);

//  Write buffered records and fdatasync.  Returns 0 when durable, -1 on any
//  write or fsync failure (errno kept).  After -1 the caller must stop:
//  the kernel may have dropped the dirty pages, so retrying the fsync
//  could report success for data that never reached the disk.
int
    dtx_log_sync (dtx_log_t *self);

//  Two-step sync for a log that threads share (the coordinator's loop
//  uses dtx_log_sync).  Take the buffered records under your lock; write
//  them durably without it (appends may continue; one batch at a time);
//  then mark them done under the lock.  Write returns 0 or -1 (stop).
typedef struct _dtx_log_batch_t dtx_log_batch_t;
dtx_log_batch_t *
    dtx_log_batch_take (dtx_log_t *self);
int
    dtx_log_batch_write (dtx_log_t *self, dtx_log_batch_t *batch);
void
    dtx_log_batch_done (dtx_log_t *self, dtx_log_batch_t **batch_p);

//  Bytes of records in the file, its logical end (including buffered
//  records not yet written; not the zero tail).  This and the counters
//  below answer 0 (the path: a note) for a NULL log.
uint64_t
    dtx_log_size (dtx_log_t *self);

//  Count of dtx_log_sync calls that wrote something, and records synced.
uint64_t
    dtx_log_syncs (dtx_log_t *self);
uint64_t
    dtx_log_records_synced (dtx_log_t *self);

//  Where the file is zero-filled and durable up to (its size on disk,
//  unless records were appended past it); the logical end without
//  preallocation.
uint64_t
    dtx_log_preallocated (dtx_log_t *self);

//  Path of the log file.
const char *
    dtx_log_path (dtx_log_t *self);

#endif
