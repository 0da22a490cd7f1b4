/*  test_proto - codec round trips and malformed frames */
#include <check.h>
#include "dtx_proto.h"
#include <malloc.h>

static dtx_proto_t *
s_round_trip (dtx_proto_t *msg)
{
    zframe_t *frame = dtx_proto_encode (msg);
    dtx_proto_t *copy = NULL;
    char err [256];
    ck_assert_int_eq (dtx_proto_decode (frame, &copy, err, sizeof err), 0);
    zframe_destroy (&frame);
    return copy;
}

START_TEST (test_every_message_round_trips)
{
    for (int id = 1; id < DTX_PROTO_COUNT; id++) {
        dtx_proto_t *msg = dtx_proto_new (id);
        dtx_proto_set_seq (msg, 0xDEADBEEF);
        dtx_proto_set_gid (msg, "dtx:c1:3:42");
        dtx_proto_set_name (msg, "db1");
        dtx_proto_set_timeout (msg, 1234);
        dtx_proto_set_status (msg, 3);
        dtx_proto_set_flags (msg, 1);
        dtx_proto_set_sqlstate (msg, "23505");
        dtx_proto_set_text (msg, "SELECT $1");
        dtx_proto_set_affected (msg, 1ULL << 40);
        const char *params [] = { "a", NULL, "" };
        dtx_proto_set_params (msg, 3, params);
        const char *columns [] = { "x", "y" };
        dtx_proto_set_columns (msg, 2, columns);
        const char *values [] = { "1", NULL, "3", "four" };
        dtx_proto_set_values (msg, 4, values);
        dtx_proto_set_ntuples (msg, 2);
        dtx_proto_t *copy = s_round_trip (msg);
        ck_assert_int_eq (dtx_proto_id (copy), id);
        ck_assert_uint_eq (dtx_proto_seq (copy), 0xDEADBEEF);
        ck_assert_str_ne (dtx_proto_command (copy), "?");
        //  Fields each message carries survive; others are absent
        if (id == DTX_PROTO_EXECUTE) {
            char **p;
            ck_assert_uint_eq (dtx_proto_params (copy, &p), 3);
            ck_assert_str_eq (p [0], "a");
            ck_assert_ptr_null (p [1]);
            ck_assert_str_eq (p [2], "");
            ck_assert_str_eq (dtx_proto_text (copy), "SELECT $1");
            ck_assert_str_eq (dtx_proto_name (copy), "db1");
            ck_assert_int_eq (dtx_proto_flags (copy), 1);
        }
        if (id == DTX_PROTO_RESULT) {
            char **v;
            ck_assert_uint_eq (dtx_proto_values (copy, &v), 4);
            ck_assert_ptr_null (v [1]);
            ck_assert_str_eq (v [3], "four");
            ck_assert_uint_eq (dtx_proto_affected (copy), 1ULL << 40);
            ck_assert_uint_eq (dtx_proto_ntuples (copy), 2);
        }
        if (id == DTX_PROTO_OUTCOME || id == DTX_PROTO_ERROR || id == DTX_PROTO_VOTE) {
            ck_assert_str_eq (dtx_proto_sqlstate (copy), "23505");
            ck_assert_int_eq (dtx_proto_status (copy), 3);
        }
        if (id == DTX_PROTO_BEGIN)
            ck_assert_uint_eq (dtx_proto_timeout (copy), 1234);
        bool has_gid = id != DTX_PROTO_BEGIN && id != DTX_PROTO_REGISTER
                    && id != DTX_PROTO_REGISTER_OK && id != DTX_PROTO_ADMIN
                    && id != DTX_PROTO_ADMIN_REPLY;
        ck_assert_str_eq (dtx_proto_gid (copy), has_gid? "dtx:c1:3:42": "");
        dtx_proto_t *dup = dtx_proto_dup (copy);
        ck_assert_int_eq (dtx_proto_id (dup), id);
        dtx_proto_destroy (&dup);
        dtx_proto_destroy (&copy);
        dtx_proto_destroy (&msg);
    }
}
END_TEST

static int
s_decode_bytes (const byte *data, size_t size)
{
    zframe_t *frame = zframe_new (data, size);
    dtx_proto_t *msg = NULL;
    char err [256] = "";
    int rc = dtx_proto_decode (frame, &msg, err, sizeof err);
    if (rc == 0)
        dtx_proto_destroy (&msg);
    else {
        ck_assert_ptr_null (msg);
        ck_assert (strstr (err, "malformed frame"));
    }
    zframe_destroy (&frame);
    return rc;
}

START_TEST (test_malformed_frames_rejected)
{
    byte empty [1] = { 0 };
    ck_assert_int_eq (s_decode_bytes (empty, 0), -2);
    byte bad_signature [] = { 0xAB, 0xD7, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0 };
    ck_assert_int_eq (s_decode_bytes (bad_signature, sizeof bad_signature), -2);
    byte bad_version [] = { 0xAA, 0xD7, 9, 1, 0, 0, 0, 1, 0, 0, 0, 0 };
    ck_assert_int_eq (s_decode_bytes (bad_version, sizeof bad_version), -2);
    byte bad_id [] = { 0xAA, 0xD7, DTX_PROTO_VERSION, 200 };
    ck_assert_int_eq (s_decode_bytes (bad_id, sizeof bad_id), -2);
    byte good_begin [] = { 0xAA, 0xD7, DTX_PROTO_VERSION, DTX_PROTO_BEGIN, 0, 0, 0, 1, 0, 0, 0, 5, 0 };
    ck_assert_int_eq (s_decode_bytes (good_begin, sizeof good_begin), 0);
    byte trailing [] = { 0xAA, 0xD7, DTX_PROTO_VERSION, DTX_PROTO_BEGIN, 0, 0, 0, 1, 0, 0, 0, 5, 0, 9 };
    ck_assert_int_eq (s_decode_bytes (trailing, sizeof trailing), -2);
    //  String longer than the frame
    byte long_string [] = { 0xAA, 0xD7, DTX_PROTO_VERSION, DTX_PROTO_COMMIT, 0, 0, 0, 1, 50, 'a' };
    ck_assert_int_eq (s_decode_bytes (long_string, sizeof long_string), -2);
    //  NUL inside a string
    byte nul_string [] = { 0xAA, 0xD7, DTX_PROTO_VERSION, DTX_PROTO_COMMIT, 0, 0, 0, 1, 2, 'a', 0 };
    ck_assert_int_eq (s_decode_bytes (nul_string, sizeof nul_string), -2);
    //  List count far beyond the frame: refused before allocating
    byte huge_list [] = { 0xAA, 0xD7, DTX_PROTO_VERSION, DTX_PROTO_EXECUTE, 0, 0, 0, 1, 0, 0, 0,
                          0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x00 };
    ck_assert_int_eq (s_decode_bytes (huge_list, sizeof huge_list), -2);
    //  RESULT whose values do not fill ntuples x columns
    dtx_proto_t *msg = dtx_proto_new (DTX_PROTO_RESULT);
    const char *columns [] = { "a", "b" };
    dtx_proto_set_columns (msg, 2, columns);
    const char *values [] = { "1" };
    dtx_proto_set_values (msg, 1, values);
    dtx_proto_set_ntuples (msg, 1);
    zframe_t *frame = dtx_proto_encode (msg);
    ck_assert_int_eq (s_decode_bytes (zframe_data (frame), zframe_size (frame)), -2);
    //  Every truncation of a valid frame is rejected, never read past
    dtx_proto_set_values (msg, 2, (const char *[]) { "1", "2" });
    zframe_destroy (&frame);
    frame = dtx_proto_encode (msg);
    for (size_t cut = 0; cut < zframe_size (frame); cut++)
        ck_assert_int_eq (s_decode_bytes (zframe_data (frame), cut), -2);
    ck_assert_int_eq (s_decode_bytes (zframe_data (frame), zframe_size (frame)), 0);
    zframe_destroy (&frame);
    dtx_proto_destroy (&msg);
}
END_TEST

//  WORKING (coordinator -> client, docs/protocol.md): every field it
//  carries survives, its wire form is exactly the layout's, and a
//  truncated or overlong one is malformed
START_TEST (test_working_message)
{
    ck_assert_str_eq (dtx_proto_command_name (DTX_PROTO_WORKING), "WORKING");
    dtx_proto_t *msg = dtx_proto_new (DTX_PROTO_WORKING);
    dtx_proto_set_seq (msg, 77);
    dtx_proto_set_gid (msg, "dtx:main:2:9");
    dtx_proto_set_status (msg, DTX_WORKING_SILENT);
    dtx_proto_set_name (msg, "db1");
    dtx_proto_set_timeout (msg, 4321);
    dtx_proto_set_affected (msg, 12345);
    dtx_proto_set_text (msg, "statement running on db1 for 12.3 s");
    dtx_proto_t *copy = s_round_trip (msg);
    ck_assert_int_eq (dtx_proto_id (copy), DTX_PROTO_WORKING);
    ck_assert_uint_eq (dtx_proto_seq (copy), 77);
    ck_assert_str_eq (dtx_proto_gid (copy), "dtx:main:2:9");
    ck_assert_int_eq (dtx_proto_status (copy), DTX_WORKING_SILENT);
    ck_assert_str_eq (dtx_proto_name (copy), "db1");
    ck_assert_uint_eq (dtx_proto_timeout (copy), 4321);
    ck_assert_uint_eq (dtx_proto_affected (copy), 12345);
    ck_assert_str_eq (dtx_proto_text (copy), "statement running on db1 for 12.3 s");
    dtx_proto_destroy (&copy);
    //  Header, seq, gid, status, name, timeout, affected, text: in order
    byte wire [] = { 0xAA, 0xD7, DTX_PROTO_VERSION, DTX_PROTO_WORKING, 0, 0, 0, 5,
                     3, 'g', 'i', 'd', 1, 3, 'd', 'b', '1', 0, 0, 0x03, 0xE8,
                     0, 0, 0, 0, 0, 0, 0x01, 0xF4, 0, 0, 0, 2, 'o', 'k' };
    zframe_t *frame = zframe_new (wire, sizeof wire);
    char err [256];
    ck_assert_int_eq (dtx_proto_decode (frame, &copy, err, sizeof err), 0);
    ck_assert_uint_eq (dtx_proto_timeout (copy), 1000);
    ck_assert_uint_eq (dtx_proto_affected (copy), 500);
    ck_assert_str_eq (dtx_proto_text (copy), "ok");
    dtx_proto_destroy (&copy);
    zframe_destroy (&frame);
    ck_assert_int_eq (s_decode_bytes (wire, sizeof wire), 0);
    for (size_t cut = 0; cut < sizeof wire; cut++)
        ck_assert_int_eq (s_decode_bytes (wire, cut), -2);
    byte longer [sizeof wire + 1];
    memcpy (longer, wire, sizeof wire);
    longer [sizeof wire] = 0;
    ck_assert_int_eq (s_decode_bytes (longer, sizeof longer), -2);
    //  The text's length past the end
    wire [sizeof wire - 3] = 9;
    ck_assert_int_eq (s_decode_bytes (wire, sizeof wire), -2);
    //  The progress bits of a request are ordinary flags on the wire
    dtx_proto_set_id (msg, DTX_PROTO_EXECUTE);
    dtx_proto_set_flags (msg, (3 << DTX_PROGRESS_SHIFT) | DTX_EXEC_DEFER);
    copy = s_round_trip (msg);
    ck_assert_int_eq ((dtx_proto_flags (copy) & DTX_PROGRESS_MASK) >> DTX_PROGRESS_SHIFT, 3);
    ck_assert_int_eq (dtx_proto_flags (copy) & ~DTX_PROGRESS_MASK, DTX_EXEC_DEFER);
    dtx_proto_destroy (&copy);
    dtx_proto_destroy (&msg);
}
END_TEST

//  Memory the process holds (heap and mmap'd blocks)
static size_t
s_heap_used (void)
{
    struct mallinfo2 info = mallinfo2 ();
    return info.uordblks + info.hblkhd;
}

//  Lists are bounded per field, and a big one costs a small multiple of
//  its frame (seen: a 64 MB frame of empty parameters took 500 MB, and
//  the memory stayed)
START_TEST (test_list_limits_and_cost)
{
    //  A statement's parameters: PostgreSQL takes at most 65535
    const char **params = (const char **) calloc (DTX_PROTO_PARAMS_MAX + 1, sizeof (char *));
    for (size_t i = 0; i <= DTX_PROTO_PARAMS_MAX; i++)
        params [i] = "";
    dtx_proto_t *msg = dtx_proto_new (DTX_PROTO_EXECUTE);
    dtx_proto_set_text (msg, "SELECT 1");
    dtx_proto_set_params (msg, DTX_PROTO_PARAMS_MAX, params);
    dtx_proto_t *copy = s_round_trip (msg);
    char **got;
    ck_assert_uint_eq (dtx_proto_params (copy, &got), DTX_PROTO_PARAMS_MAX);
    ck_assert_str_eq (got [DTX_PROTO_PARAMS_MAX - 1], "");
    dtx_proto_destroy (&copy);
    dtx_proto_set_params (msg, DTX_PROTO_PARAMS_MAX + 1, params);
    zframe_t *frame = dtx_proto_encode (msg);
    char err [256];
    ck_assert_int_eq (dtx_proto_decode (frame, &copy, err, sizeof err), -2);
    ck_assert_msg (strstr (err, "list over the size limit in field params"), "%s", err);
    zframe_destroy (&frame);
    dtx_proto_destroy (&msg);
    free (params);
    //  A result of 8 M empty values (a 32 MB frame): decoded in a block,
    //  at most 3 times the frame, all of it given back
    size_t count = 8 << 20;
    const char **values = (const char **) calloc (count, sizeof (char *));
    for (size_t i = 0; i < count; i++)
        values [i] = "";
    msg = dtx_proto_new (DTX_PROTO_RESULT);
    const char *columns [] = { "a", "b" };
    dtx_proto_set_columns (msg, 2, columns);
    dtx_proto_set_ntuples (msg, (uint32_t) count / 2);
    dtx_proto_set_values (msg, count, values);
    free (values);
    frame = dtx_proto_encode (msg);
    dtx_proto_destroy (&msg);
    size_t before = s_heap_used ();
    int rc = dtx_proto_decode (frame, &copy, err, sizeof err);
    ck_assert_msg (rc == 0, "%s", err);
    size_t cost = s_heap_used () - before;
    ck_assert_msg (cost <= 3 * zframe_size (frame), "%zu bytes for a frame of %zu", cost,
                   zframe_size (frame));
    dtx_proto_destroy (&copy);
    ck_assert_uint_le (s_heap_used (), before + 4096);
    zframe_destroy (&frame);
}
END_TEST

START_TEST (test_random_bytes_never_crash)
{
    //  A cheap fuzz: random mutations of valid frames decode or reject
    unsigned seed = 42;
    dtx_proto_t *msg = dtx_proto_new (DTX_PROTO_EXECUTE);
    dtx_proto_set_gid (msg, "dtx:a:1:1");
    dtx_proto_set_text (msg, "SELECT 1");
    dtx_proto_set_params (msg, 2, (const char *[]) { "x", NULL });
    zframe_t *frame = dtx_proto_encode (msg);
    size_t size = zframe_size (frame);
    byte *copy = malloc (size);
    for (int round = 0; round < 20000; round++) {
        memcpy (copy, zframe_data (frame), size);
        int flips = 1 + rand_r (&seed) % 4;
        for (int f = 0; f < flips; f++)
            copy [rand_r (&seed) % size] = (byte) rand_r (&seed);
        s_decode_bytes (copy, size);
    }
    free (copy);
    zframe_destroy (&frame);
    dtx_proto_destroy (&msg);
}
END_TEST

Suite *
suite_proto (void)
{
    Suite *suite = suite_create ("proto");
    TCase *tc = tcase_create ("codec");
    tcase_add_test (tc, test_every_message_round_trips);
    tcase_add_test (tc, test_malformed_frames_rejected);
    tcase_add_test (tc, test_random_bytes_never_crash);
    tcase_add_test (tc, test_list_limits_and_cost);
    tcase_add_test (tc, test_working_message);
    suite_add_tcase (suite, tc);
    return suite;
}
