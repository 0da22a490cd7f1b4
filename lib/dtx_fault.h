/*  =========================================================================
    dtx_fault - named fault points for crash testing

    A fault point is a call dtx_fault ("name") at a place where a crash
    matters (see docs/recovery.md for the list).  It does nothing unless
    the environment variable DTX_FAULT names that point, as "name" or
    "name:N" (crash at the N-th time the point is reached).  Then the
    process logs the point, gives ZeroMQ's I/O thread 200 ms to send what
    it already queued, and kills itself with SIGKILL: no cleanup, no
    flush, no atexit, as in a power cut of this one process.  With
    "/stop" after it ("name:N/stop") the process stops itself (SIGSTOP)
    instead, a pause, and goes on from there when it gets SIGCONT.  Compiled in
    only with ./configure --enable-fault-injection (scripts/bootstrap.sh
    sets it for the demo and the tests); otherwise DTX_FAULT is ignored.
    =========================================================================
*/
#ifndef DTX_FAULT_H_INCLUDED
#define DTX_FAULT_H_INCLUDED

#include <stdbool.h>

void
    dtx_fault (const char *point);

//  For faults that are not crashes: true when DTX_FAULT names this point
//  and its count is reached (the caller then breaks something itself).
bool
    dtx_fault_hit (const char *point);

#endif
