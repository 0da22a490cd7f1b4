/*  test_unit - the unit suites: codec, decision log, gids and names,
    outcome answers.
    Nothing running needed.  */
#include <check.h>
#include <stdlib.h>

Suite *suite_proto (void);
Suite *suite_log (void);
Suite *suite_util (void);
Suite *suite_outcome (void);

int
main (void)
{
    SRunner *runner = srunner_create (suite_proto ());
    srunner_add_suite (runner, suite_log ());
    srunner_add_suite (runner, suite_util ());
    srunner_add_suite (runner, suite_outcome ());
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed? EXIT_FAILURE: EXIT_SUCCESS;
}
