/*  fuzz_config - libFuzzer target: the config loader of both services
    (dtx_config_load, CZMQ's ZPL parser under it, and each service's
    dtx_*_config_apply: the code main () runs on --config FILE).

    Input: the file's bytes.  Each input is loaded as a coordinator and as
    a participant config (the section name decides which one accepts it).
    Checks beyond the sanitizers (LeakSanitizer included: the strings a
    config keeps are freed by dtx_*_config_free): a refusal names the file.  */
#include "dtx_coordinator.h"
#include "dtx_participant.h"
#include "dtx_util.h"
#include <unistd.h>

static char s_path [64];
static int s_fd = -1;

static void
s_check (int rc, const char *err)
{
    if (rc != 0 && rc != -1)
        abort ();
    if (rc == -1 && !strstr (err, "config file ")) {
        fprintf (stderr, "fuzz_config: refusal without the file's name: %s\n", err);
        abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (s_fd < 0) {
        const char *tmp = getenv ("TMPDIR");
        snprintf (s_path, sizeof s_path, "%.40s/fuzz_config.XXXXXX", tmp && *tmp? tmp: "/tmp");
        s_fd = mkstemp (s_path);
        if (s_fd < 0) {
            perror ("fuzz_config: mkstemp");
            abort ();
        }
        unlink (s_path);
        snprintf (s_path, sizeof s_path, "/proc/self/fd/%d", s_fd);
    }
    if (ftruncate (s_fd, 0) || pwrite (s_fd, data, size, 0) != (ssize_t) size) {
        perror ("fuzz_config: write");
        abort ();
    }
    char err [1024] = "";
    dtx_coordinator_config_t coordinator;
    memset (&coordinator, 0, sizeof coordinator);     //  (defaults live in the engine)
    s_check (dtx_config_load (s_path, "coordinator", dtx_coordinator_config_keys,
                              dtx_coordinator_config_apply, &coordinator, err, sizeof err), err);
    dtx_coordinator_config_free (&coordinator);

    dtx_participant_config_t participant;
    memset (&participant, 0, sizeof participant);
    s_check (dtx_config_load (s_path, "participant", dtx_participant_config_keys,
                              dtx_participant_config_apply, &participant, err, sizeof err), err);
    dtx_participant_config_free (&participant);
    return 0;
}
