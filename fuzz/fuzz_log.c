/*  fuzz_log - libFuzzer target: the decision-log reader (dtx_log_read,
    the scan and record decoder that dtx_log_open replays at start).

    Input: one flags byte, then the log file's bytes.  Random bytes rarely
    carry a valid CRC32C, so with flags bit 0 the target first rewrites
    the CRC of every record it can frame (magic, length within the file),
    which lets the fuzzer reach the payload decoders; without it the
    bytes go to the file as they are (torn tails, corruption).

    Checks beyond the sanitizers: the valid end returned is within the
    file, every string a record carries is readable, counts are bounded;
    and zeros appended to the file (a preallocated tail) never hide
    corruption, never move a clean end, and never shorten the records.  */
#include "dtx_log.h"
#include "dtx_util.h"
#include <unistd.h>

static char s_path [64];
static int s_fd = -1;

static void
s_record (void *arg, const dtx_log_record_t *record)
{
    size_t *sum = (size_t *) arg;
    if (record->nparticipants > DTX_LOG_PARTICIPANTS_MAX)
        abort ();
    const char *strings [] = { record->who, record->name, record->identity, record->gid };
    for (size_t i = 0; i < sizeof strings / sizeof strings [0]; i++)
        *sum += strings [i]? strlen (strings [i]): 0;
    for (size_t i = 0; i < record->nparticipants; i++)
        *sum += strlen (record->participants [i]);
    *sum += strlen (dtx_log_type_name (record->type));
}

static uint32_t
s_get32 (const uint8_t *p)
{
    return (uint32_t) p [0] | (uint32_t) p [1] << 8 | (uint32_t) p [2] << 16 | (uint32_t) p [3] << 24;
}

static void
s_put32 (uint8_t *p, uint32_t v)
{
    p [0] = v; p [1] = v >> 8; p [2] = v >> 16; p [3] = v >> 24;
}

//  Give every framable record its right CRC (docs/log-format.md: CRC32C
//  over the header with the crc field zero, then the payload)
static void
s_fix_crcs (uint8_t *data, size_t size)
{
    size_t offset = 0;
    while (size - offset >= DTX_LOG_HEADER_SIZE) {
        uint8_t *h = data + offset;
        uint32_t payload = s_get32 (h + 4);
        if (s_get32 (h) != DTX_LOG_MAGIC || payload > size - offset - DTX_LOG_HEADER_SIZE)
            break;
        s_put32 (h + 12, 0);
        uint32_t crc = dtx_crc32c (0, h, DTX_LOG_HEADER_SIZE);
        s_put32 (h + 12, dtx_crc32c (crc, h + DTX_LOG_HEADER_SIZE, payload));
        offset += DTX_LOG_HEADER_SIZE + payload;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (s_fd < 0) {
        const char *tmp = getenv ("TMPDIR");
        snprintf (s_path, sizeof s_path, "%.40s/fuzz_log.XXXXXX", tmp && *tmp? tmp: "/tmp");
        s_fd = mkstemp (s_path);
        if (s_fd < 0) {
            perror ("fuzz_log: mkstemp");
            abort ();
        }
        //  Nothing left behind: read it through the descriptor
        unlink (s_path);
        snprintf (s_path, sizeof s_path, "/proc/self/fd/%d", s_fd);
    }
    uint8_t flags = data [0];
    uint8_t *copy = (uint8_t *) malloc (size);
    memcpy (copy, data + 1, size - 1);
    size--;
    if (flags & 1)
        s_fix_crcs (copy, size);
    if (ftruncate (s_fd, 0) || pwrite (s_fd, copy, size, 0) != (ssize_t) size) {
        perror ("fuzz_log: write");
        abort ();
    }
    free (copy);
    size_t sum = 0;
    char err [1024] = "";
    int64_t valid = dtx_log_read (s_path, s_record, &sum, err, sizeof err);
    if (valid < -1 || valid > (int64_t) size || (valid == -1 && *err == 0)) {
        fprintf (stderr, "fuzz_log: dtx_log_read returned %lld for %zu bytes (%s)\n",
                 (long long) valid, size, err);
        abort ();
    }
    //  The same bytes followed by a zero tail.  (A record cut at the end
    //  of the file whose missing bytes are zeros is whole with the tail:
    //  the end may move forward, never back.)
    if (ftruncate (s_fd, size + 4096)) {
        perror ("fuzz_log: ftruncate");
        abort ();
    }
    char err2 [1024] = "";
    int64_t zeroed = dtx_log_read (s_path, NULL, NULL, err2, sizeof err2);
    if ((valid == -1 && zeroed != -1)
    ||  (valid == (int64_t) size && zeroed != valid)
    ||  (valid >= 0 && zeroed >= 0 && zeroed < valid)
    ||  zeroed > (int64_t) size + 4096) {
        fprintf (stderr, "fuzz_log: %zu bytes read to %lld (%s), with a zero tail to %lld (%s)\n",
                 size, (long long) valid, err, (long long) zeroed, err2);
        abort ();
    }
    return 0;
}
