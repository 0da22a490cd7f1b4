/*  test_util - CRC32C, gid format/validation, names, key files, log lines */
#include <check.h>
#include "dtx_util.h"
#include <ctype.h>
#include <unistd.h>
#include <pthread.h>

START_TEST (test_crc32c_known_values)
{
    //  Standard check value of CRC-32C
    ck_assert_uint_eq (dtx_crc32c (0, "123456789", 9), 0xE3069283u);
    //  Incremental equals one-shot, across the 8-byte fast path
    const char *text = "The quick brown fox jumps over the lazy dog";
    uint32_t whole = dtx_crc32c (0, text, strlen (text));
    uint32_t part = dtx_crc32c (dtx_crc32c (0, text, 11), text + 11, strlen (text) - 11);
    ck_assert_uint_eq (whole, part);
    ck_assert_uint_eq (whole, 0x22620404u);
}
END_TEST

START_TEST (test_gid_format_parse_validate)
{
    char gid [DTX_GID_MAX + 1];
    dtx_gid_format (gid, "coord-1", 7, 123456789012ULL);
    ck_assert_str_eq (gid, "dtx:coord-1:7:123456789012");
    char err [256];
    ck_assert_int_eq (dtx_gid_validate (gid, err, sizeof err), 0);
    char id [DTX_NAME_MAX + 1];
    uint64_t epoch, counter;
    ck_assert_int_eq (dtx_gid_parse (gid, id, &epoch, &counter), 0);
    ck_assert_str_eq (id, "coord-1");
    ck_assert_uint_eq (epoch, 7);
    ck_assert_uint_eq (counter, 123456789012ULL);
    //  The longest id with the largest numbers still fits PostgreSQL's 200
    char longest [DTX_NAME_MAX + 1];
    memset (longest, 'x', DTX_NAME_MAX);
    longest [DTX_NAME_MAX] = 0;
    dtx_gid_format (gid, longest, UINT64_MAX, UINT64_MAX);
    ck_assert_int_eq (dtx_gid_validate (gid, err, sizeof err), 0);
    ck_assert_int_eq (dtx_gid_parse (gid, id, &epoch, &counter), 0);
    ck_assert_uint_eq (counter, UINT64_MAX);

    char too_long [DTX_GID_MAX + 2];
    memset (too_long, 'a', DTX_GID_MAX + 1);
    too_long [DTX_GID_MAX + 1] = 0;
    ck_assert_int_eq (dtx_gid_validate (too_long, err, sizeof err), -1);
    ck_assert (strstr (err, "too long"));
    too_long [DTX_GID_MAX] = 0;
    ck_assert_int_eq (dtx_gid_validate (too_long, err, sizeof err), 0);
    ck_assert_int_eq (dtx_gid_validate ("", err, sizeof err), -1);
    ck_assert_int_eq (dtx_gid_validate ("dtx:a:1:1'", err, sizeof err), -1);
    ck_assert_int_eq (dtx_gid_validate ("dtx:a b:1:1", err, sizeof err), -1);
    //  Not dtx gids
    ck_assert_int_eq (dtx_gid_parse ("other:a:1:1", id, &epoch, &counter), -1);
    ck_assert_int_eq (dtx_gid_parse ("dtx:a:1", id, &epoch, &counter), -1);
    ck_assert_int_eq (dtx_gid_parse ("dtx::1:1", id, &epoch, &counter), -1);
    ck_assert_int_eq (dtx_gid_parse ("dtx:a:x:1", id, &epoch, &counter), -1);
    ck_assert_int_eq (dtx_gid_parse ("dtx:a:1:1x", id, &epoch, &counter), -1);
}
END_TEST

START_TEST (test_names)
{
    char err [256];
    ck_assert_int_eq (dtx_name_validate ("database", "db_1.main-x", err, sizeof err), 0);
    ck_assert_int_eq (dtx_name_validate ("database", "", err, sizeof err), -1);
    ck_assert_int_eq (dtx_name_validate ("database", "a:b", err, sizeof err), -1);
    ck_assert (strstr (err, "database name"));
    char long_name [80];
    memset (long_name, 'n', 65);
    long_name [65] = 0;
    ck_assert_int_eq (dtx_name_validate ("participant", long_name, err, sizeof err), -1);
}
END_TEST

//  Key files as dtxctl keygen writes them (zcert_save): the secret one
//  loads, a public one alone is refused as ours, a missing one is named
//  One JSON string literal maker, for the coordinator's admin answers and
//  dtxctl's own documents
START_TEST (test_json_string)
{
    char *literal = dtx_json_string ("a\"b\\c\n\x01");
    ck_assert_str_eq (literal, "\"a\\\"b\\\\c\\u000a\\u0001\"");
    free (literal);
    literal = dtx_json_string (NULL);
    ck_assert_str_eq (literal, "\"\"");
    free (literal);
}
END_TEST

START_TEST (test_security_key_files)
{
    char dir [] = "/tmp/dtx-keys-XXXXXX", path [128], alone [128], err [512];
    ck_assert_ptr_nonnull (mkdtemp (dir));
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "databases", "db1");
    snprintf (path, sizeof path, "%s/node", dir);
    ck_assert_int_eq (zcert_save (cert, path), 0);
    snprintf (alone, sizeof alone, "%s/public-only", dir);
    ck_assert_int_eq (zcert_save_public (cert, alone), 0);
    char secret [140];
    snprintf (secret, sizeof secret, "%s_secret", path);
    dtx_security_t *security = dtx_security_new (secret, alone, err, sizeof err);
    ck_assert_msg (security, "%s", err);
    ck_assert_str_eq (zcert_public_txt (security->cert), zcert_public_txt (cert));
    ck_assert_str_eq (zcert_secret_txt (security->cert), zcert_secret_txt (cert));
    ck_assert_str_eq (security->server_key, zcert_public_txt (cert));
    dtx_security_destroy (&security);
    ck_assert_ptr_null (security);
    //  A public certificate where ours belongs
    ck_assert_ptr_null (dtx_security_new (alone, NULL, err, sizeof err));
    ck_assert_msg (strstr (err, "has no secret key"), "%s", err);
    //  Missing files, named
    ck_assert_ptr_null (dtx_security_new (NULL, NULL, err, sizeof err));
    ck_assert_msg (strstr (err, "not given"), "%s", err);
    ck_assert_ptr_null (dtx_security_new (secret, "/nonexistent/coordinator", err, sizeof err));
    ck_assert_msg (strstr (err, "/nonexistent/coordinator"), "%s", err);
    zcert_destroy (&cert);
    char command [200];
    snprintf (command, sizeof command, "rm -rf %s", dir);
    ck_assert_int_eq (system (command), 0);
}
END_TEST

//  Log lines: ISO-8601 local time with milliseconds and UTC offset, one
//  line whatever the message holds, JSON that a strict reader takes
START_TEST (test_logline_text)
{
    setenv ("TZ", "UTC", 1);
    tzset ();
    struct timespec when = { 1795998665, 123456789 };      //  2026-11-30T00:31:05.123Z
    char *line = dtx_logline_format (DTX_LOGFMT_TEXT, &when, 'W', "dtx-coordinator", 1234,
                                     "ERROR:  boom\nDETAIL:  Key (id)=(1) exists.\n"
                                     "HINT:\ttab \\ and \x1b[31m\n");
    ck_assert_str_eq (line, "2026-11-30T00:31:05.123+00:00 W dtx-coordinator[1234]: ERROR:  boom"
                            "\\nDETAIL:  Key (id)=(1) exists.\\nHINT:\\ttab \\\\ and \\x1b[31m\n");
    free (line);
    //  Milliseconds are padded; another offset, east and west
    when.tv_nsec = 7000000;
    setenv ("TZ", "IST-5:30", 1);
    tzset ();
    line = dtx_logline_format (DTX_LOGFMT_TEXT, &when, 'E', "p", 1, "x");
    ck_assert_str_eq (line, "2026-11-30T06:01:05.007+05:30 E p[1]: x\n");
    free (line);
    setenv ("TZ", "EST+5", 1);
    tzset ();
    line = dtx_logline_format (DTX_LOGFMT_TEXT, &when, 'I', "p", 1, "x");
    ck_assert_str_eq (line, "2026-11-29T19:31:05.007-05:00 I p[1]: x\n");
    free (line);
    //  Not UTF-8: escaped, well-formed UTF-8 kept
    line = dtx_logline_format (DTX_LOGFMT_TEXT, &when, 'I', "p", 1, "caf\xc3\xa9 \xff\xc3");
    ck_assert_ptr_nonnull (strstr (line, ": caf\xc3\xa9 \\xff\\xc3\n"));
    free (line);
    unsetenv ("TZ");
    tzset ();
    //  The shape, in the local zone of the machine
    clock_gettime (CLOCK_REALTIME, &when);
    line = dtx_logline_format (DTX_LOGFMT_TEXT, &when, 'D', "p", 1, "x");
    ck_assert_int_eq (strlen (line), strlen ("2026-11-30T00:31:05.123+00:00 D p[1]: x\n"));
    const char *shape = "dddd-dd-ddTdd:dd:dd.ddd?dd:dd ";
    for (size_t i = 0; shape [i]; i++)
        if (shape [i] == 'd')
            ck_assert_msg (isdigit ((unsigned char) line [i]), "%s", line);
        else
        if (shape [i] == '?')
            ck_assert_msg (line [i] == '+' || line [i] == '-', "%s", line);
        else
            ck_assert_msg (line [i] == shape [i], "%s", line);
    free (line);
    char level;
    int format;
    ck_assert_int_eq (dtx_loglevel_parse ("warning", &level), 0);
    ck_assert_int_eq (level, 'W');
    ck_assert_int_eq (dtx_loglevel_parse ("verbose", &level), -1);
    ck_assert_int_eq (dtx_logfmt_parse ("json", &format), 0);
    ck_assert_int_eq (format, DTX_LOGFMT_JSON);
    ck_assert_int_eq (dtx_logfmt_parse ("xml", &format), -1);
}
END_TEST

START_TEST (test_logline_json)
{
    setenv ("TZ", "UTC", 1);
    tzset ();
    struct timespec when = { 1795998665, 999999999 };
    char *line = dtx_logline_format (DTX_LOGFMT_JSON, &when, 'E', "dtx-\"participant\"", 42,
                                     "say \"hi\"\\\nDETAIL:\tx\x01 \xff\n\n");
    ck_assert_str_eq (line, "{\"ts\":\"2026-11-30T00:31:05.999+00:00\",\"level\":\"error\","
                            "\"process\":\"dtx-\\\"participant\\\"\",\"pid\":42,"
                            "\"msg\":\"say \\\"hi\\\"\\\\\\nDETAIL:\\tx\\u0001 \\ufffd\"}\n");
    free (line);
    //  A line about a transaction has its gid as a field
    line = dtx_logline_format (DTX_LOGFMT_JSON, &when, 'I', "p", 1, "dtx:main:7:1042: aborting");
    ck_assert_str_eq (line, "{\"ts\":\"2026-11-30T00:31:05.999+00:00\",\"level\":\"info\","
                            "\"process\":\"p\",\"pid\":1,\"gid\":\"dtx:main:7:1042\","
                            "\"msg\":\"dtx:main:7:1042: aborting\"}\n");
    free (line);
    line = dtx_logline_format (DTX_LOGFMT_JSON, &when, 'I', "p", 1, "dtx:main:x:1042: no gid");
    ck_assert_ptr_null (strstr (line, "\"gid\""));
    free (line);
    unsetenv ("TZ");
    tzset ();
    //  A strict JSON reader takes every line, whatever the bytes
    char path [] = "/tmp/dtx-logline-XXXXXX";
    int fd = mkstemp (path);
    ck_assert_int_ge (fd, 0);
    char msg [256];
    for (int i = 1; i < 256; i++)
        msg [i - 1] = (char) i;
    msg [255] = 0;
    for (int i = 0; i < 5; i++) {
        line = dtx_logline_format (DTX_LOGFMT_JSON, &when, "EWNID" [i], "p", i, msg + i * 40);
        ck_assert_int_eq (write (fd, line, strlen (line)), (ssize_t) strlen (line));
        free (line);
    }
    close (fd);
    char command [512];
    snprintf (command, sizeof command, "/usr/bin/python3 -c 'import json,sys\n"
              "n = 0\n"
              "for l in open(sys.argv[1], encoding=\"utf-8\"):\n"
              "    o = json.loads(l); assert set(o) == {\"ts\",\"level\",\"process\",\"pid\",\"msg\"}; n += 1\n"
              "assert n == 5' %s", path);
    int rc = system (command);
    unlink (path);
    ck_assert_int_eq (rc, 0);
}
END_TEST

//  CZMQ's zsys log through the formatter: one line per call, levels
//  filtered, a message that fakes a CZMQ header stays inside its line
START_TEST (test_logging_czmq)
{
    char path [] = "/tmp/dtx-logging-XXXXXX";
    int fd = mkstemp (path);
    ck_assert_int_ge (fd, 0);
    fflush (stdout);
    int saved = dup (1);
    dup2 (fd, 1);
    ck_assert_int_eq (dtx_logging_start ("test-util", DTX_LOGFMT_TEXT, 'I'), 0);
    zsys_info ("first\nI: (dtx-coordinator) 26-11-30 00:31:05 forged");
    zsys_debug ("not shown");
    zsys_error ("ERROR:  x\nDETAIL:  y\n");
    dtx_logging_set (DTX_LOGFMT_JSON, 'D');
    zsys_debug ("now shown");
    dtx_logging_stop ();
    fflush (stdout);
    dup2 (saved, 1);
    close (saved);
    close (fd);
    zchunk_t *chunk = zchunk_slurp (path, 0);
    unlink (path);
    ck_assert_ptr_nonnull (chunk);
    char *text = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    char pid [32];
    snprintf (pid, sizeof pid, "[%d]: ", (int) getpid ());
    char *lines [8];
    int nlines = 0;
    for (char *line = strtok (text, "\n"); line && nlines < 8; line = strtok (NULL, "\n"))
        lines [nlines++] = line;
    ck_assert_int_eq (nlines, 3);
    ck_assert_ptr_nonnull (strstr (lines [0], pid));
    ck_assert_ptr_nonnull (strstr (lines [0], " I test-util["));
    ck_assert_ptr_nonnull (strstr (lines [0], "]: first\\nI: (dtx-coordinator) 26-11-30 00:31:05 forged"));
    ck_assert_ptr_nonnull (strstr (lines [1], " E test-util["));
    ck_assert_ptr_nonnull (strstr (lines [1], "]: ERROR:  x\\nDETAIL:  y"));
    ck_assert_msg (lines [1][strlen (lines [1]) - 1] == 'y', "%s", lines [1]);
    ck_assert_ptr_nonnull (strstr (lines [2], "\"level\":\"debug\",\"process\":\"test-util\""));
    ck_assert_ptr_nonnull (strstr (lines [2], "\"msg\":\"now shown\"}"));
    free (text);
}
END_TEST

//  Several threads logging multi-line messages at once: every call one
//  whole line, none lost, none mixed with another
static void *
s_log_thread (void *arg)
{
    int thread = (int) (intptr_t) arg;
    for (int i = 0; i < 300; i++)
        zsys_warning ("thread %d record %d\nDETAIL:  %0*d\nend %d/%d", thread, i,
                      50 + (i * 37) % 800, 0, thread, i);
    return NULL;
}

START_TEST (test_logging_threads)
{
    char path [] = "/tmp/dtx-logging-XXXXXX";
    int fd = mkstemp (path);
    ck_assert_int_ge (fd, 0);
    fflush (stdout);
    int saved = dup (1);
    dup2 (fd, 1);
    ck_assert_int_eq (dtx_logging_start ("test-util", DTX_LOGFMT_TEXT, 'I'), 0);
    pthread_t threads [4];
    for (int i = 0; i < 4; i++)
        pthread_create (&threads [i], NULL, s_log_thread, (void *) (intptr_t) i);
    for (int i = 0; i < 4; i++)
        pthread_join (threads [i], NULL);
    dtx_logging_stop ();
    dup2 (saved, 1);
    close (saved);
    close (fd);
    zchunk_t *chunk = zchunk_slurp (path, 0);
    unlink (path);
    char *text = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    int seen [4][300] = {{ 0 }};
    int nlines = 0;
    for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n")) {
        nlines++;
        int thread, record, thread2, record2;
        const char *body = strstr (line, "]: ");
        ck_assert_ptr_nonnull (body);
        ck_assert_int_eq (sscanf (body, "]: thread %d record %d", &thread, &record), 2);
        const char *end = strstr (body, "\\nend ");
        ck_assert_ptr_nonnull (end);
        ck_assert_int_eq (sscanf (end, "\\nend %d/%d", &thread2, &record2), 2);
        ck_assert_int_eq (thread, thread2);
        ck_assert_int_eq (record, record2);
        ck_assert (thread >= 0 && thread < 4 && record >= 0 && record < 300);
        seen [thread][record]++;
    }
    ck_assert_int_eq (nlines, 1200);
    for (int t = 0; t < 4; t++)
        for (int r = 0; r < 300; r++)
            ck_assert_int_eq (seen [t][r], 1);
    free (text);
}
END_TEST

Suite *
suite_util (void)
{
    Suite *suite = suite_create ("util");
    TCase *tc = tcase_create ("util");
    tcase_add_test (tc, test_crc32c_known_values);
    tcase_add_test (tc, test_gid_format_parse_validate);
    tcase_add_test (tc, test_names);
    tcase_add_test (tc, test_security_key_files);
    tcase_add_test (tc, test_json_string);
    tcase_add_test (tc, test_logline_text);
    tcase_add_test (tc, test_logline_json);
    tcase_add_test (tc, test_logging_czmq);
    tcase_add_test (tc, test_logging_threads);
    suite_add_tcase (suite, tc);
    return suite;
}
