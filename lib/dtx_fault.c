/*  dtx_fault - named fault points for crash testing (see dtx_fault.h) */
#ifdef HAVE_CONFIG_H
#   include "config.h"
#endif
#include "dtx_fault.h"
#include <czmq.h>
#include <signal.h>

//  Only a build configured with --enable-fault-injection (the test suite's)
//  reads DTX_FAULT: in any other, no environment variable can make a dtx
//  process kill itself or drop an answer.

static int s_state = -1;            //  -1 unread, 0 inert, 1 armed
static char s_point [128];
static long s_remaining = 1;
static bool s_stop;                 //  "/stop": SIGSTOP instead of SIGKILL

bool
dtx_fault_hit (const char *point)
{
#ifndef DTX_FAULT_INJECTION
    s_state = 0;
#endif
    if (s_state == 0)
        return false;
    if (s_state == -1) {
        const char *spec = getenv ("DTX_FAULT");
        s_state = spec && *spec? 1: 0;
        if (!s_state)
            return false;
        snprintf (s_point, sizeof s_point, "%s", spec);
        //  "/stop" before or after ":N"
        char *stop = strstr (s_point, "/stop");
        if (stop) {
            s_stop = true;
            memmove (stop, stop + 5, strlen (stop + 5) + 1);
        }
        char *colon = strchr (s_point, ':');
        if (colon) {
            *colon = 0;
            s_remaining = atol (colon + 1) > 0? atol (colon + 1): 1;
        }
    }
    if (strcmp (point, s_point) || --s_remaining > 0)
        return false;
    zsys_error ("fault point %s reached (DTX_FAULT)", point);
    s_state = 0;        //  once
    return true;
}

void
dtx_fault (const char *point)
{
    if (!dtx_fault_hit (point))
        return;
    if (s_stop) {
        //  A pause (a VM stall, a long GC): whoever sends SIGCONT resumes
        //  it right here
        zsys_error ("stopping now (SIGSTOP)");
        raise (SIGSTOP);
        zsys_error ("resumed after the stop at %s", point);
        return;
    }
    zsys_error ("crashing now");
    zclock_sleep (200);
    raise (SIGKILL);
}
