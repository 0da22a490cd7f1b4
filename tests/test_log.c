/*  test_log - decision log: append, replay, CRC, torn tails, corruption,
    the preallocated zero tail */
#include <check.h>
#include "dtx_log.h"
#include "dtx_util.h"
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <inttypes.h>
#include <signal.h>

static char s_dir [64];

static void
s_setup (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/dtx-log-test-XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    char command [128];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    ck_assert_int_eq (system (command), 0);
}

typedef struct {
    int records;
    int commits;
    int ends;
    uint64_t last_epoch;
    char last_gid [256];
    char participants [256];
} tally_t;

static void
s_tally (void *arg, const dtx_log_record_t *record)
{
    tally_t *tally = (tally_t *) arg;
    tally->records++;
    if (record->type == DTX_LOG_EPOCH)
        tally->last_epoch = record->epoch;
    if (record->type == DTX_LOG_COMMIT) {
        tally->commits++;
        snprintf (tally->last_gid, sizeof tally->last_gid, "%s", record->gid);
        tally->participants [0] = 0;
        for (size_t i = 0; i < record->nparticipants; i++) {
            strcat (tally->participants, record->participants [i]);
            strcat (tally->participants, ",");
        }
    }
    if (record->type == DTX_LOG_END)
        tally->ends++;
}

static char *
s_path (void)
{
    static char path [128];
    snprintf (path, sizeof path, "%s/%s", s_dir, DTX_LOG_FILENAME);
    return path;
}

static off_t
s_file_size (void)
{
    struct stat st;
    ck_assert_int_eq (stat (s_path (), &st), 0);
    return st.st_size;
}

//  Every byte of the file from offset to its end is zero
static bool
s_zeros_from (off_t offset)
{
    off_t size = s_file_size ();
    int fd = open (s_path (), O_RDONLY);
    ck_assert_int_ge (fd, 0);
    bool zeros = true;
    char buffer [65536];
    while (zeros && offset < size) {
        ssize_t n = pread (fd, buffer, sizeof buffer, offset);
        ck_assert_int_gt (n, 0);
        for (ssize_t i = 0; i < n && zeros; i++)
            zeros = buffer [i] == 0;
        offset += n;
    }
    close (fd);
    return zeros;
}

//  The logical end as a reader finds it (asserts the log reads)
static int64_t
s_logical_end (void)
{
    char err [512];
    int64_t end = dtx_log_read (s_path (), NULL, NULL, err, sizeof err);
    ck_assert_msg (end >= 0, "%s", err);
    return end;
}

//  Write 1 epoch + n commits (+ ends for even ones)
static void
s_write_log (int n)
{
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    ck_assert_int_eq (dtx_log_append_epoch (log, 5), 0);
    for (int i = 0; i < n; i++) {
        char gid [64];
        snprintf (gid, sizeof gid, "dtx:t:5:%d", i);
        const char *names [] = { "db1", "db2", "db3" };
        ck_assert_int_eq (dtx_log_append_commit (log, gid, 1 + i % 3, names), 0);
        if (i % 2 == 0)
            ck_assert_int_eq (dtx_log_append_end (log, gid), 0);
        //  Several syncs, several records per sync
        if (i % 7 == 6)
            ck_assert_int_eq (dtx_log_sync (log), 0);
    }
    ck_assert_int_eq (dtx_log_sync (log), 0);
    ck_assert (!dtx_log_pending (log));
    dtx_log_destroy (&log);
}

START_TEST (test_append_and_replay)
{
    s_write_log (20);
    tally_t tally = { 0 };
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, s_tally, &tally, err, sizeof err);
    ck_assert_ptr_nonnull (log);
    ck_assert_int_eq (tally.records, 1 + 20 + 10);
    ck_assert_int_eq (tally.commits, 20);
    ck_assert_int_eq (tally.ends, 10);
    ck_assert_uint_eq (tally.last_epoch, 5);
    ck_assert_str_eq (tally.last_gid, "dtx:t:5:19");
    ck_assert_str_eq (tally.participants, "db1,db2,");
    //  The records end where the zero tail begins; the file is one
    //  preallocated segment
    uint64_t end = dtx_log_size (log);
    ck_assert_uint_eq (end, (uint64_t) s_logical_end ());
    ck_assert_int_eq (s_file_size (), DTX_LOG_SEGMENT_DEFAULT);
    ck_assert_uint_eq (dtx_log_preallocated (log), DTX_LOG_SEGMENT_DEFAULT);
    ck_assert (s_zeros_from (end));
    //  Appending after reopen continues at the logical end, over the
    //  zeros: the file does not grow
    ck_assert_int_eq (dtx_log_append_end (log, "dtx:t:5:19"), 0);
    ck_assert_int_eq (dtx_log_sync (log), 0);
    ck_assert_uint_eq (dtx_log_syncs (log), 1);
    ck_assert_uint_eq (dtx_log_records_synced (log), 1);
    ck_assert_uint_eq (dtx_log_size (log), end + 16 + 1 + 10);
    ck_assert_int_eq (s_logical_end (), end + 16 + 1 + 10);
    ck_assert_int_eq (s_file_size (), DTX_LOG_SEGMENT_DEFAULT);
    dtx_log_destroy (&log);
    memset (&tally, 0, sizeof tally);
    log = dtx_log_open (s_dir, s_tally, &tally, err, sizeof err);
    ck_assert_int_eq (tally.ends, 11);
    ck_assert_uint_eq (dtx_log_size (log), end + 16 + 1 + 10);
    dtx_log_destroy (&log);
}
END_TEST

//  Write the file: the first `size` bytes of data, then zeros up to
//  `zeros_to` (no zeros if it is not past size)
static void
s_put_file (const char *data, off_t size, off_t zeros_to)
{
    int fd = open (s_path (), O_WRONLY | O_TRUNC);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (write (fd, data, size), size);
    if (zeros_to > size)
        ck_assert_int_eq (ftruncate (fd, zeros_to), 0);
    close (fd);
}

//  A torn record is cut at every length: in preallocated space (the
//  partial record followed by zeros), at the end of a file without a
//  zero tail (a log of the previous version), and without preallocation
//  (truncated, as before)
START_TEST (test_torn_tail_every_offset)
{
    s_write_log (3);
    off_t full = s_logical_end ();
    off_t file = s_file_size ();
    ck_assert_int_gt (file, full);
    char err [512];
    tally_t tally = { 0 };
    dtx_log_t *log = dtx_log_open (s_dir, s_tally, &tally, err, sizeof err);
    dtx_log_destroy (&log);
    int complete = tally.records;
    //  Keep a pristine copy of the records
    int fd = open (s_path (), O_RDONLY);
    char *pristine = malloc (full);
    ck_assert_int_eq (read (fd, pristine, full), full);
    close (fd);
    //  The last record is an END of "dtx:t:5:2": 16 + 1 + 9 bytes
    off_t last_start = full - (16 + 1 + 9);
    for (int mode = 0; mode < 3; mode++) {
        dtx_log_set_preallocation (mode == 2? 0: DTX_LOG_SEGMENT_DEFAULT);
        for (off_t cut = last_start; cut < full; cut++) {
            s_put_file (pristine, cut, mode == 0? file: 0);
            memset (&tally, 0, sizeof tally);
            log = dtx_log_open (s_dir, s_tally, &tally, err, sizeof err);
            ck_assert_msg (log != NULL, "mode %d cut at %ld: %s", mode, (long) cut, err);
            ck_assert_int_eq (tally.records, complete - 1);
            ck_assert_uint_eq (dtx_log_size (log), last_start);
            if (mode == 2)
                ck_assert_int_eq (s_file_size (), last_start);     //  truncated
            else {
                //  Overwritten with zeros, the file preallocated
                ck_assert_int_eq (s_file_size (), file);
                ck_assert_msg (s_zeros_from (last_start), "mode %d cut at %ld", mode, (long) cut);
            }
            //  The next record goes where the torn one began
            ck_assert_int_eq (dtx_log_append_end (log, "dtx:t:5:2"), 0);
            ck_assert_int_eq (dtx_log_sync (log), 0);
            dtx_log_destroy (&log);
            ck_assert_int_eq (s_logical_end (), full);
        }
    }
    dtx_log_set_preallocation (DTX_LOG_SEGMENT_DEFAULT);
    //  A torn tail of garbage (not a prefix) in the zero tail, and one
    //  after the end of the file's zeros, are cleared too
    for (int where = 0; where < 2; where++) {
        s_put_file (pristine, full, file);
        off_t at = where == 0? full + 100: file;
        fd = open (s_path (), O_WRONLY);
        ck_assert_int_eq (pwrite (fd, "\x44\x54\x58\x4C garbage", 12, at), 12);
        close (fd);
        memset (&tally, 0, sizeof tally);
        log = dtx_log_open (s_dir, s_tally, &tally, err, sizeof err);
        ck_assert_msg (log != NULL, "%s", err);
        ck_assert_int_eq (tally.records, complete);
        ck_assert_uint_eq (dtx_log_size (log), full);
        ck_assert (s_zeros_from (full));
        dtx_log_destroy (&log);
    }
    //  A last record whose CRC is bad, followed by zeros: a torn tail,
    //  as it was at the end of the file
    s_put_file (pristine, full, file);
    fd = open (s_path (), O_WRONLY);
    ck_assert_int_eq (pwrite (fd, "X", 1, full - 2), 1);
    close (fd);
    memset (&tally, 0, sizeof tally);
    log = dtx_log_open (s_dir, s_tally, &tally, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    ck_assert_int_eq (tally.records, complete - 1);
    ck_assert_uint_eq (dtx_log_size (log), last_start);
    ck_assert (s_zeros_from (last_start));
    dtx_log_destroy (&log);
    free (pristine);
}
END_TEST

//  Zeros right after a valid record are the clean end: open changes
//  nothing, the reader stops there without complaint
START_TEST (test_zero_tail_is_clean_end)
{
    s_write_log (4);
    off_t end = s_logical_end ();
    off_t file = s_file_size ();
    ck_assert_int_gt (file, end);
    ck_assert (s_zeros_from (end));
    int fd = open (s_path (), O_RDONLY);
    char *before = malloc (file);
    ck_assert_int_eq (read (fd, before, file), file);
    close (fd);
    char err [512];
    tally_t tally = { 0 };
    dtx_log_t *log = dtx_log_open (s_dir, s_tally, &tally, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    ck_assert_int_eq (tally.records, 1 + 4 + 2);
    ck_assert_uint_eq (dtx_log_size (log), end);
    dtx_log_destroy (&log);
    ck_assert_int_eq (s_file_size (), file);
    fd = open (s_path (), O_RDONLY);
    char *after = malloc (file);
    ck_assert_int_eq (read (fd, after, file), file);
    close (fd);
    ck_assert (memcmp (before, after, file) == 0);
    free (before);
    free (after);
    //  A file of zeros only is an empty log
    s_put_file ("", 0, 4096);
    memset (&tally, 0, sizeof tally);
    log = dtx_log_open (s_dir, s_tally, &tally, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    ck_assert_int_eq (tally.records, 0);
    ck_assert_uint_eq (dtx_log_size (log), 0);
    dtx_log_destroy (&log);
}
END_TEST

//  A log written by the previous version (no zero tail, the file ends
//  with the last record) opens; from then on it is preallocated
START_TEST (test_old_format_log_opens)
{
    dtx_log_set_preallocation (0);
    s_write_log (5);
    off_t end = s_file_size ();
    ck_assert_int_eq (s_logical_end (), end);
    dtx_log_set_preallocation (DTX_LOG_SEGMENT_DEFAULT);
    char err [512];
    tally_t tally = { 0 };
    dtx_log_t *log = dtx_log_open (s_dir, s_tally, &tally, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    ck_assert_int_eq (tally.records, 1 + 5 + 3);
    ck_assert_uint_eq (dtx_log_size (log), end);
    ck_assert_int_eq (s_file_size (), DTX_LOG_SEGMENT_DEFAULT);
    ck_assert (s_zeros_from (end));
    ck_assert_int_eq (dtx_log_append_end (log, "dtx:t:5:1"), 0);
    ck_assert_int_eq (dtx_log_sync (log), 0);
    dtx_log_destroy (&log);
    ck_assert_int_eq (s_logical_end (), end + 16 + 1 + 9);
}
END_TEST

//  Records outgrow the zeros: the extender thread zero-fills the next
//  segments ahead, in the background, and nothing is lost or reordered
START_TEST (test_preallocation_extends_ahead)
{
    const uint64_t segment = 64 * 1024;
    dtx_log_set_preallocation (segment);
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    ck_assert_int_eq (s_file_size (), segment);
    ck_assert_uint_eq (dtx_log_preallocated (log), segment);
    const char *names [] = { "db1", "db2" };
    int n = 0;
    //  About 5 segments of records, 20 records per sync
    while (dtx_log_size (log) < 5 * segment) {
        char gid [64];
        snprintf (gid, sizeof gid, "dtx:t:1:%d", n++);
        ck_assert_int_eq (dtx_log_append_commit (log, gid, 2, names), 0);
        if (n % 20 == 0)
            ck_assert_int_eq (dtx_log_sync (log), 0);
    }
    ck_assert_int_eq (dtx_log_sync (log), 0);
    uint64_t end = dtx_log_size (log);
    //  The extender catches up: half a segment or more of zeros ahead
    int64_t deadline = zclock_mono () + 10000;
    while (dtx_log_preallocated (log) < end + segment / 2 && zclock_mono () < deadline)
        zclock_sleep (10);
    uint64_t zeroed = dtx_log_preallocated (log);
    ck_assert_uint_ge (zeroed, end + segment / 2);
    ck_assert_uint_eq (zeroed % segment, 0);
    ck_assert_uint_eq ((uint64_t) s_file_size (), zeroed);
    ck_assert (s_zeros_from (end));
    dtx_log_destroy (&log);
    tally_t tally = { 0 };
    ck_assert_int_eq (dtx_log_read (s_path (), s_tally, &tally, err, sizeof err), end);
    ck_assert_int_eq (tally.commits, n);
    char last [64];
    snprintf (last, sizeof last, "dtx:t:1:%d", n - 1);
    ck_assert_str_eq (tally.last_gid, last);
}
END_TEST

//  Records that outrun the zeros (4 KiB segments, 2 KiB per sync): writes
//  land on ranges the extender has claimed or past its zeros, and no
//  zero ever lands on a record
START_TEST (test_records_outrun_extender)
{
    dtx_log_set_preallocation (4096);
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    const char *names [] = { "db1", "db2" };
    int n = 0;
    for (int sync = 0; sync < 1000; sync++) {
        for (int i = 0; i < 40; i++) {
            char gid [64];
            snprintf (gid, sizeof gid, "dtx:t:1:%d", n++);
            ck_assert_int_eq (dtx_log_append_commit (log, gid, 2, names), 0);
        }
        ck_assert_int_eq (dtx_log_sync (log), 0);
    }
    uint64_t end = dtx_log_size (log);
    dtx_log_destroy (&log);
    tally_t tally = { 0 };
    ck_assert_int_eq (dtx_log_read (s_path (), s_tally, &tally, err, sizeof err), end);
    ck_assert_int_eq (tally.commits, n);
    ck_assert (s_zeros_from (end));
    dtx_log_set_preallocation (DTX_LOG_SEGMENT_DEFAULT);
}
END_TEST

//  Zeros that cannot be written (the file size limit stands in for a
//  full disk) turn preallocation off; the log opens and works
START_TEST (test_preallocation_failure_not_fatal)
{
    struct rlimit before;
    ck_assert_int_eq (getrlimit (RLIMIT_FSIZE, &before), 0);
    struct rlimit limit = { 64 * 1024, before.rlim_max };
    signal (SIGXFSZ, SIG_IGN);
    ck_assert_int_eq (setrlimit (RLIMIT_FSIZE, &limit), 0);
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    ck_assert_int_le (s_file_size (), 64 * 1024);
    ck_assert_int_eq (dtx_log_append_epoch (log, 7), 0);
    ck_assert_int_eq (dtx_log_sync (log), 0);
    dtx_log_destroy (&log);
    tally_t tally = { 0 };
    log = dtx_log_open (s_dir, s_tally, &tally, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    ck_assert_int_eq (tally.records, 1);
    ck_assert_uint_eq (tally.last_epoch, 7);
    dtx_log_destroy (&log);
    ck_assert_int_eq (setrlimit (RLIMIT_FSIZE, &before), 0);
}
END_TEST

static void
s_damage (off_t offset, const char *bytes, size_t size)
{
    int fd = open (s_path (), O_WRONLY);
    ck_assert_int_eq (pwrite (fd, bytes, size, offset), (ssize_t) size);
    close (fd);
}

START_TEST (test_corruption_mid_log_refused)
{
    s_write_log (10);
    //  The file ends with preallocated zeros: corruption before valid
    //  records is refused all the same
    ck_assert_int_gt (s_file_size (), s_logical_end ());
    off_t size_before = s_file_size ();
    //  Flip a byte in the payload of the second record (offset 32 + 16 + 2: the EPOCH record is 16 + 16 bytes)
    s_damage (32 + 16 + 2, "X", 1);
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_ptr_null (log);
    ck_assert_msg (strstr (err, "corrupt at offset 32"), "%s", err);
    ck_assert (strstr (err, s_path ()));
    //  Nothing was truncated or changed
    ck_assert_int_eq (s_file_size (), size_before);
}
END_TEST

START_TEST (test_zeroed_bytes_mid_log_refused)
{
    s_write_log (10);
    char zeros [40] = { 0 };
    s_damage (32, zeros, sizeof zeros);
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_ptr_null (log);
    ck_assert_msg (strstr (err, "corrupt at offset 32"), "%s", err);
}
END_TEST

START_TEST (test_missing_directory_refused)
{
    char err [512];
    char missing [128];
    snprintf (missing, sizeof missing, "%s/does-not-exist", s_dir);
    dtx_log_t *log = dtx_log_open (missing, NULL, NULL, err, sizeof err);
    ck_assert_ptr_null (log);
    ck_assert (strstr (err, "does-not-exist"));
}
END_TEST

START_TEST (test_oversized_fields_refused)
{
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    char gid [300];
    memset (gid, 'g', 299);
    gid [299] = 0;
    ck_assert_int_eq (dtx_log_append_end (log, gid), -1);
    ck_assert (!dtx_log_pending (log));
    dtx_log_destroy (&log);
}
END_TEST

static void
s_keep_two (void *arg, dtx_log_t *out)
{
    dtx_log_append_epoch (out, 9);
    dtx_log_append_checkpoint (out, 9, 100);
    const char *names [] = { "db2" };
    dtx_log_append_commit (out, "dtx:t:9:77", 1, names);
}

START_TEST (test_compaction)
{
    s_write_log (50);
    off_t before = s_logical_end ();
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    //  Something buffered but unsynced is synced first, then dropped
    ck_assert_int_eq (dtx_log_append_end (log, "dtx:t:5:1"), 0);
    ck_assert_int_eq (dtx_log_compact (log, s_keep_two, NULL, err, sizeof err), 0);
    ck_assert_int_lt (s_logical_end (), before);
    ck_assert_uint_eq (dtx_log_size (log), (uint64_t) s_logical_end ());
    ck_assert_uint_eq (dtx_log_compactions (log), 1);
    //  The new file is preallocated too
    ck_assert_int_eq (s_file_size (), DTX_LOG_SEGMENT_DEFAULT);
    ck_assert_uint_eq (dtx_log_preallocated (log), DTX_LOG_SEGMENT_DEFAULT);
    ck_assert (s_zeros_from (dtx_log_size (log)));
    //  Appends go to the new file
    ck_assert_int_eq (dtx_log_append_end (log, "dtx:t:9:77"), 0);
    ck_assert_int_eq (dtx_log_sync (log), 0);
    dtx_log_destroy (&log);
    char tmp [160];
    snprintf (tmp, sizeof tmp, "%s.tmp", s_path ());
    ck_assert_int_ne (access (tmp, F_OK), 0);
    tally_t tally = { 0 };
    log = dtx_log_open (s_dir, s_tally, &tally, err, sizeof err);
    ck_assert_ptr_nonnull (log);
    ck_assert_int_eq (tally.records, 4);
    ck_assert_int_eq (tally.commits, 1);
    ck_assert_int_eq (tally.ends, 1);
    ck_assert_str_eq (tally.last_gid, "dtx:t:9:77");
    ck_assert_uint_eq (tally.last_epoch, 9);
    dtx_log_destroy (&log);
    //  Without preallocation the new file ends with its records
    dtx_log_set_preallocation (0);
    log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_int_eq (dtx_log_compact (log, s_keep_two, NULL, err, sizeof err), 0);
    ck_assert_uint_eq (dtx_log_size (log), (uint64_t) s_file_size ());
    dtx_log_destroy (&log);
    dtx_log_set_preallocation (DTX_LOG_SEGMENT_DEFAULT);
}
END_TEST

//  Every record field as replay sees it, one line per record
static void
s_describe (void *arg, const dtx_log_record_t *record)
{
    char *text = (char *) arg;
    char line [1024];
    switch (record->type) {
        case DTX_LOG_EPOCH:
            snprintf (line, sizeof line, "%s %" PRIu64 " at %" PRIu64 "\n",
                      dtx_log_type_name (record->type), record->epoch, record->when);
            break;
        case DTX_LOG_PARTICIPANT:
            snprintf (line, sizeof line, "%s %s epoch %" PRIu64 " identity '%s'\n",
                      dtx_log_type_name (record->type), record->name, record->epoch,
                      record->identity);
            break;
        case DTX_LOG_HEURISTIC:
            snprintf (line, sizeof line, "%s %s %d by %s at %" PRIu64 "\n",
                      dtx_log_type_name (record->type), record->gid, record->decision,
                      record->who, record->when);
            break;
        case DTX_LOG_CHECKPOINT:
            snprintf (line, sizeof line, "%s %" PRIu64 ":%" PRIu64 "\n",
                      dtx_log_type_name (record->type), record->epoch, record->counter);
            break;
        case DTX_LOG_COMMIT:
            snprintf (line, sizeof line, "%s %s %zu owner '%s'\n", dtx_log_type_name (record->type),
                      record->gid, record->nparticipants, record->owner);
            break;
        default:
            snprintf (line, sizeof line, "%s %s\n", dtx_log_type_name (record->type),
                      record->gid? record->gid: "");
    }
    strcat (text, line);
}

START_TEST (test_epoch_participant_round_trip)
{
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    uint64_t before = (uint64_t) time (NULL);
    ck_assert_int_eq (dtx_log_append_epoch_at (log, 3, 1700000000), 0);
    ck_assert_int_eq (dtx_log_append_epoch (log, 0x100000004ULL), 0);
    uint64_t after = (uint64_t) time (NULL);
    ck_assert_int_eq (dtx_log_append_participant (log, "bank1", 0x100000004ULL,
                                                  "7301234567890123456/bank"), 0);
    ck_assert_int_eq (dtx_log_append_participant (log, "db2", 3, ""), 0);
    ck_assert_int_eq (dtx_log_append_heuristic (log, "dtx:t:3:9", 2, "alice", 1700000001), 0);
    ck_assert_int_eq (dtx_log_append_checkpoint (log, 3, 0x200000001ULL), 0);
    char long_name [300];
    memset (long_name, 'n', 299);
    long_name [299] = 0;
    ck_assert_int_eq (dtx_log_append_participant (log, long_name, 1, ""), -1);
    ck_assert_int_eq (dtx_log_append_participant (log, "db1", 1, long_name), -1);
    ck_assert_int_eq (dtx_log_sync (log), 0);
    uint64_t end = dtx_log_size (log);
    dtx_log_destroy (&log);

    char text [4096] = "";
    ck_assert_int_eq (dtx_log_read (s_path (), s_describe, text, err, sizeof err), end);
    char expected [4096];
    //  The epoch appended "now" carries a time between before and after
    char *now = strstr (text, "EPOCH 4294967300 at ");
    ck_assert_msg (now, "%s", text);
    uint64_t when = strtoull (now + strlen ("EPOCH 4294967300 at "), NULL, 10);
    ck_assert_uint_ge (when, before);
    ck_assert_uint_le (when, after);
    snprintf (expected, sizeof expected,
              "EPOCH 3 at 1700000000\n"
              "EPOCH 4294967300 at %" PRIu64 "\n"
              "PARTICIPANT bank1 epoch 4294967300 identity '7301234567890123456/bank'\n"
              "PARTICIPANT db2 epoch 3 identity ''\n"
              "HEURISTIC dtx:t:3:9 2 by alice at 1700000001\n"
              "CHECKPOINT 3:8589934593\n", when);
    ck_assert_str_eq (text, expected);
    ck_assert_str_eq (dtx_log_type_name (DTX_LOG_PARTICIPANT), "PARTICIPANT");

    //  A participant record whose strings overrun its payload is refused
    //  even with a good CRC (the decoder checks every read)
    byte bad [16 + 4] = { 0 };
    bad [16] = 10;                          //  name of 10 bytes, 3 present
    memcpy (bad + 17, "db1", 3);
    bad [0] = 0x44; bad [1] = 0x54; bad [2] = 0x58; bad [3] = 0x4C;
    bad [4] = 4; bad [8] = DTX_LOG_PARTICIPANT; bad [9] = 1;
    uint32_t crc = dtx_crc32c (dtx_crc32c (0, bad, 16), bad + 16, 4);
    bad [12] = crc; bad [13] = crc >> 8; bad [14] = crc >> 16; bad [15] = crc >> 24;
    int fd = open (s_path (), O_WRONLY);
    ck_assert_int_eq (pwrite (fd, bad, sizeof bad, end), (ssize_t) sizeof bad);
    close (fd);
    ck_assert_int_eq (dtx_log_read (s_path (), NULL, NULL, err, sizeof err), -1);
    ck_assert_msg (strstr (err, "unreadable payload (type 6)"), "%s", err);
}
END_TEST

//  A COMMIT record carries the client key that began the transaction;
//  one without (insecure, or written before owners) reads with owner ""
START_TEST (test_commit_owner_round_trip)
{
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    const char *names [] = { "db1", "db2" };
    const char *key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    ck_assert_int_eq (dtx_log_append_commit_owned (log, "dtx:t:3:1", 2, names, key), 0);
    ck_assert_int_eq (dtx_log_append_commit_owned (log, "dtx:t:3:2", 2, names, NULL), 0);
    ck_assert_int_eq (dtx_log_append_commit (log, "dtx:t:3:3", 1, names), 0);
    ck_assert_int_eq (dtx_log_append_commit_owned (log, "dtx:t:3:4", 0, NULL, key), 0);
    char long_owner [300];
    memset (long_owner, 'k', 299);
    long_owner [299] = 0;
    ck_assert_int_eq (dtx_log_append_commit_owned (log, "dtx:t:3:5", 1, names, long_owner), -1);
    ck_assert_int_eq (dtx_log_sync (log), 0);
    uint64_t end = dtx_log_size (log);
    dtx_log_destroy (&log);
    char text [4096] = "", expected [4096];
    ck_assert_int_eq (dtx_log_read (s_path (), s_describe, text, err, sizeof err), end);
    snprintf (expected, sizeof expected,
              "COMMIT dtx:t:3:1 2 owner '%s'\n"
              "COMMIT dtx:t:3:2 2 owner ''\n"
              "COMMIT dtx:t:3:3 1 owner ''\n"
              "COMMIT dtx:t:3:4 0 owner '%s'\n", key, key);
    ck_assert_str_eq (text, expected);
}
END_TEST

//  A log written before epochs carried their start time: the 8-byte
//  EPOCH payload still reads, with when = 0
START_TEST (test_old_epoch_record_reads)
{
    byte record [16 + 8] = { 0x44, 0x54, 0x58, 0x4C, 8, 0, 0, 0, DTX_LOG_EPOCH, 1 };
    record [16] = 42;
    record [20] = 1;                        //  epoch 2^32 + 42
    uint32_t crc = dtx_crc32c (dtx_crc32c (0, record, 16), record + 16, 8);
    record [12] = crc; record [13] = crc >> 8; record [14] = crc >> 16; record [15] = crc >> 24;
    int fd = open (s_path (), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_eq (write (fd, record, sizeof record), (ssize_t) sizeof record);
    close (fd);
    char err [512];
    char text [1024] = "";
    dtx_log_t *log = dtx_log_open (s_dir, s_describe, text, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    ck_assert_str_eq (text, "EPOCH 4294967338 at 0\n");
    //  New records follow the old one in the same file
    ck_assert_int_eq (dtx_log_append_epoch_at (log, 4294967339ULL, 5), 0);
    ck_assert_int_eq (dtx_log_sync (log), 0);
    dtx_log_destroy (&log);
    text [0] = 0;
    ck_assert_int_eq (dtx_log_read (s_path (), s_describe, text, err, sizeof err), 24 + 32);
    ck_assert_str_eq (text, "EPOCH 4294967338 at 0\nEPOCH 4294967339 at 5\n");
}
END_TEST

START_TEST (test_second_open_refused)
{
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_msg (log != NULL, "%s", err);
    //  A second open in the same process conflicts too (OFD lock)
    dtx_log_t *second = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_ptr_null (second);
    char expected [256];
    snprintf (expected, sizeof expected, "decision log directory %s is in use by another"
              " coordinator (pid %d)", s_dir, (int) getpid ());
    ck_assert_str_eq (err, expected);
    //  The refused open changed nothing: the holder goes on
    ck_assert_int_eq (dtx_log_append_epoch (log, 1), 0);
    ck_assert_int_eq (dtx_log_sync (log), 0);
    //  Reading takes no lock
    ck_assert_int_eq (dtx_log_read (s_path (), NULL, NULL, err, sizeof err), dtx_log_size (log));
    dtx_log_destroy (&log);
    log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_msg (log != NULL, "after destroy: %s", err);
    dtx_log_destroy (&log);
}
END_TEST

//  A holder killed by SIGKILL leaves no lock behind
START_TEST (test_lock_dies_with_holder)
{
    int ready [2];
    ck_assert_int_eq (pipe (ready), 0);
    pid_t pid = fork ();
    if (pid == 0) {
        char err [512];
        dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
        char byte = log? 'y': 'n';
        if (write (ready [1], &byte, 1) != 1)
            _exit (2);
        while (true)
            pause ();
    }
    char byte = 0;
    ck_assert_int_eq (read (ready [0], &byte, 1), 1);
    ck_assert_int_eq (byte, 'y');
    char err [512];
    dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_ptr_null (log);
    char expected [64];
    snprintf (expected, sizeof expected, "(pid %d)", (int) pid);
    ck_assert_msg (strstr (err, expected), "%s", err);
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
    ck_assert_msg (log != NULL, "after the holder died: %s", err);
    dtx_log_destroy (&log);
    close (ready [0]);
    close (ready [1]);
}
END_TEST

START_TEST (test_read_only_directory_refused)
{
    //  As root, permission bits do not bind: try as nobody, in a child
    ck_assert_int_eq (chmod (s_dir, 0555), 0);
    int pipefd [2];
    ck_assert_int_eq (pipe (pipefd), 0);
    pid_t pid = fork ();
    if (pid == 0) {
        if (geteuid () == 0 && (setgid (65534) || setuid (65534)))
            _exit (2);
        char err [512] = "";
        dtx_log_t *log = dtx_log_open (s_dir, NULL, NULL, err, sizeof err);
        ssize_t written = write (pipefd [1], err, strlen (err) + 1);
        _exit (log == NULL && written > 0? 0: 1);
    }
    int status;
    waitpid (pid, &status, 0);
    char err [512] = "";
    ck_assert_int_gt (read (pipefd [0], err, sizeof err - 1), 0);
    close (pipefd [0]);
    close (pipefd [1]);
    chmod (s_dir, 0700);
    ck_assert_msg (WIFEXITED (status) && WEXITSTATUS (status) == 0, "opened a read-only directory: %s", err);
    ck_assert_msg (strstr (err, "not writable"), "%s", err);
    ck_assert (strstr (err, s_dir));
}
END_TEST

Suite *
suite_log (void)
{
    Suite *suite = suite_create ("log");
    TCase *tc = tcase_create ("decision-log");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_append_and_replay);
    tcase_add_test (tc, test_torn_tail_every_offset);
    tcase_add_test (tc, test_zero_tail_is_clean_end);
    tcase_add_test (tc, test_old_format_log_opens);
    tcase_add_test (tc, test_preallocation_extends_ahead);
    tcase_add_test (tc, test_preallocation_failure_not_fatal);
    tcase_add_test (tc, test_records_outrun_extender);
    tcase_add_test (tc, test_corruption_mid_log_refused);
    tcase_add_test (tc, test_zeroed_bytes_mid_log_refused);
    tcase_add_test (tc, test_missing_directory_refused);
    tcase_add_test (tc, test_oversized_fields_refused);
    tcase_add_test (tc, test_compaction);
    tcase_add_test (tc, test_read_only_directory_refused);
    tcase_add_test (tc, test_epoch_participant_round_trip);
    tcase_add_test (tc, test_old_epoch_record_reads);
    tcase_add_test (tc, test_commit_owner_round_trip);
    tcase_add_test (tc, test_second_open_refused);
    tcase_add_test (tc, test_lock_dies_with_holder);
    suite_add_tcase (suite, tc);
    return suite;
}
