/*  test_util - CRC32C, gid format/validation, names, key files */
#include <check.h>
#include "dtx_util.h"

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
    suite_add_tcase (suite, tc);
    return suite;
}
