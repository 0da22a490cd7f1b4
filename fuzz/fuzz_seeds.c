/*  fuzz_seeds - write the seed corpora of the fuzz targets from valid
    encodings made by the code itself, so the seeds follow the formats:

        fuzz_seeds DIR

    DIR/proto: every message with every field set, as a DEALER and as a
    ROUTER receives it (the flags byte of fuzz_proto.c), plus a
    multipart one.  DIR/log: decision logs written by dtx_log (one of each
    record type; a torn tail), with the flags byte of fuzz_log.c.  The
    config seeds are the sample files in etc/ (scripts/fuzz.sh copies
    them).  */
#include "dtx_proto.h"
#include "dtx_log.h"
#include "dtx_util.h"
#include <unistd.h>

static void
s_write (const char *dir, const char *name, uint8_t flags, const void *data, size_t size)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    if (!file || fwrite (&flags, 1, 1, file) != 1 || fwrite (data, 1, size, file) != size
    ||  fclose (file)) {
        perror (path);
        exit (1);
    }
}

static void
s_proto_seeds (const char *dir)
{
    for (int id = 1; id < DTX_PROTO_COUNT; id++) {
        dtx_proto_t *msg = dtx_proto_new (id);
        dtx_proto_set_seq (msg, 7);
        dtx_proto_set_gid (msg, "dtx:main:3:42");
        dtx_proto_set_name (msg, "db1");
        dtx_proto_set_timeout (msg, 10000);
        dtx_proto_set_status (msg, 1);
        dtx_proto_set_flags (msg, 1);
        dtx_proto_set_sqlstate (msg, "23505");
        dtx_proto_set_text (msg, "UPDATE t SET v = $1 WHERE id = $2");
        dtx_proto_set_affected (msg, 2);
        const char *params [] = { "10", NULL };
        dtx_proto_set_params (msg, 2, params);
        const char *columns [] = { "id", "v" };
        dtx_proto_set_columns (msg, 2, columns);
        const char *values [] = { "1", "10", "2", NULL };
        dtx_proto_set_values (msg, 4, values);
        dtx_proto_set_ntuples (msg, 2);
        zframe_t *frame = dtx_proto_encode (msg);
        char name [64];
        snprintf (name, sizeof name, "%s", dtx_proto_command (msg));
        s_write (dir, name, 0, zframe_data (frame), zframe_size (frame));
        snprintf (name, sizeof name, "%s-router", dtx_proto_command (msg));
        s_write (dir, name, 1, zframe_data (frame), zframe_size (frame));
        if (id == DTX_PROTO_COMMIT && zframe_size (frame) < 256) {
            //  multipart: the message, then a stray frame
            uint8_t multi [512];
            multi [0] = (uint8_t) zframe_size (frame);
            memcpy (multi + 1, zframe_data (frame), zframe_size (frame));
            multi [1 + zframe_size (frame)] = 1;
            multi [2 + zframe_size (frame)] = 'x';
            s_write (dir, "multipart", 2, multi, zframe_size (frame) + 3);
        }
        zframe_destroy (&frame);
        dtx_proto_destroy (&msg);
    }
}

//  A log of one record of each type: preallocated in segments of
//  `segment` bytes (0: the format without a zero tail), the last `cut`
//  bytes of its records torn away (zeros in their place when preallocated)
static void
s_log_seed (const char *dir, const char *name, const char *tmpdir, uint64_t cut,
            uint64_t segment)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s", tmpdir, DTX_LOG_FILENAME);
    unlink (path);
    char err [512];
    dtx_log_set_preallocation (segment);
    dtx_log_t *log = dtx_log_open (tmpdir, NULL, NULL, err, sizeof err);
    if (!log) {
        fprintf (stderr, "fuzz_seeds: %s\n", err);
        exit (1);
    }
    const char *participants [] = { "db1", "db2", "db3" };
    dtx_log_append_epoch (log, 3);
    dtx_log_append_participant (log, "db1", 3, "7301234567890123456/bank");
    dtx_log_append_commit (log, "dtx:main:3:1", 3, participants);
    dtx_log_append_end (log, "dtx:main:3:1");
    dtx_log_append_heuristic (log, "dtx:main:3:2", 2, "operator", 1790000000);
    dtx_log_append_checkpoint (log, 3, 2);
    if (dtx_log_sync (log)) {
        fprintf (stderr, "fuzz_seeds: cannot sync %s\n", path);
        exit (1);
    }
    uint64_t end = dtx_log_size (log);
    dtx_log_destroy (&log);
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk) {
        fprintf (stderr, "fuzz_seeds: cannot read %s\n", path);
        exit (1);
    }
    size_t size = zchunk_size (chunk);
    if (cut && cut < end && segment)
        memset (zchunk_data (chunk) + end - cut, 0, cut);
    else
    if (cut && cut < size)
        size -= cut;
    s_write (dir, name, 0, zchunk_data (chunk), size);
    char fixed [128];
    snprintf (fixed, sizeof fixed, "%s-crc", name);
    s_write (dir, fixed, 1, zchunk_data (chunk), size);
    zchunk_destroy (&chunk);
    unlink (path);
}

int
main (int argc, char *argv [])
{
    if (argc != 2) {
        fprintf (stderr, "usage: fuzz_seeds DIR\n");
        return 2;
    }
    char path [1024];
    snprintf (path, sizeof path, "%s/proto", argv [1]);
    zsys_dir_create ("%s", path);
    s_proto_seeds (path);
    char tmpdir [] = "/tmp/fuzz_seeds.XXXXXX";
    if (!mkdtemp (tmpdir)) {
        perror ("mkdtemp");
        return 1;
    }
    snprintf (path, sizeof path, "%s/log", argv [1]);
    zsys_dir_create ("%s", path);
    s_log_seed (path, "every-record", tmpdir, 0, 0);
    s_log_seed (path, "torn-tail", tmpdir, 5, 0);
    s_log_seed (path, "zero-tail", tmpdir, 0, 1024);
    //  9: the counter's last 7 bytes are zeros already, its first is not
    s_log_seed (path, "torn-in-zero-tail", tmpdir, 9, 1024);
    char lock [1100];
    snprintf (lock, sizeof lock, "%s/%s", tmpdir, DTX_LOG_LOCKNAME);
    unlink (lock);
    rmdir (tmpdir);
    return 0;
}
