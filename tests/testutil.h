/*  testutil - the integration harness: real PostgreSQL clusters, a real
    coordinator and real participants, as processes, in a temporary
    directory; stopped again at the end, also when a test fails.  */
#ifndef TESTUTIL_H_INCLUDED
#define TESTUTIL_H_INCLUDED

#include <check.h>
#include "dtx.h"
#include <libpq-fe.h>
#include <stdbool.h>
#include <sys/types.h>

#define HARNESS_DBS_MAX 3
//  Ports a test program owns: base .. base + HARNESS_PORT_BLOCK - 1, checked
//  free at start (harness_start); harness.metrics_port is base + 9
#define HARNESS_PORT_BLOCK 128

typedef struct {
    char dir [256];                 //  temporary directory of everything
    int ndbs;
    int pg_port [HARNESS_DBS_MAX];
    char pg_dir [HARNESS_DBS_MAX][300];
    char db_name [HARNESS_DBS_MAX][16];     //  participant names: db1, db2, db3
    pid_t participant [HARNESS_DBS_MAX];
    pid_t coordinator;
    char client_endpoint [64];
    char participant_endpoint [64];
    char log_dir [300];
    int vote_timeout_ms;
    int metrics_port;               //  the coordinator's Prometheus endpoint
    //  CurveZMQ keys, made at start (dtxctl keygen) in keys_dir:
    //  coordinator(_secret); clients/test(_secret), the client key, also
    //  in DTX_CLIENT_CERT and DTX_COORDINATOR_CERT for every process;
    //  participants/dbN(_secret) with databases = "dbN"; a second client
    //  key clients/other, and an operator key operators/ops (the harness's
    //  coordinator has --operator-keys; coordinator_args do not)
    char keys_dir [320];
    char other_client_secret [400];
    char operator_secret [400];
    char coordinator_args [1400];   //  the coordinator's key flags, for a shell line
    char participant_args [HARNESS_DBS_MAX][1700];   //  ... participant index's
} harness_t;

extern harness_t harness;
//  Set before harness_start: the coordinator's --log-compact-bytes
extern long harness_log_compact_bytes;
//  Set before harness_start: the coordinator keeps its decisions in this
//  PostgreSQL database (--store) instead of its log
extern const char *harness_store;
//  ... with this lease (ms; default 3000) and store-timeout (0: the
//  coordinator's default, half the lease)
extern int harness_lease_ms;
extern int harness_store_timeout_ms;
//  Set before harness_start_coordinator (NULL: harness.client_endpoint):
//  the coordinator serves clients on this endpoint instead, e.g. as a
//  standby that binds another endpoint when it takes the shard over
extern const char *harness_coordinator_clients;
//  Set before harness_start_participant (NULL: harness.participant_endpoint):
//  the coordinators participants register with, a comma-separated list
extern const char *harness_participant_coordinators;
//  Set before harness_start_participant (0: none): participant index
//  serves metrics (--metrics) on harness.metrics_port + this + index
//  (keep it inside the block of HARNESS_PORT_BLOCK ports from
//  harness.metrics_port - 9)
extern int harness_participant_metrics;

//  Start ndbs clusters (with the test schema, sql/test-schema.sql), the
//  coordinator and a participant per cluster; wait until all serve.
//  Aborts the test run (exit) if anything cannot start.
void harness_start (int ndbs);
//  Only the clusters (with the test schema) and the harness's endpoints:
//  no coordinator, no participants (a test may be the coordinator itself)
void harness_start_clusters (int ndbs);
//  Stop everything and remove the directory.  Safe to call twice.
void harness_stop (void);

//  Processes
void harness_start_coordinator (void);
//  ... with DTX_FAULT set to fault (a fault point, "name" or "name:N")
void harness_start_coordinator_fault (const char *fault);
void harness_start_participant_fault (int index, const char *fault);
//  ... with fault (or NULL) and env: "NAME=value" strings ending with NULL,
//  added to its environment (e.g. LD_PRELOAD of tests/lostwrites.c)
void harness_start_coordinator_env (const char *fault, const char *const *env);
pid_t harness_coordinator_pid (void);
pid_t harness_participant_pid (int index);
//  True once the process has exited (reaping it if it is our child)
bool harness_pid_gone (pid_t pid);
//  PostgreSQL of cluster index: immediate stop (as a crash) and start
void harness_pg_stop_immediate (int index);
void harness_pg_start (int index);
void harness_kill_coordinator (int signal);
void harness_start_participant (int index);
void harness_kill_participant (int index, int signal);
//  Wait until every participant answers a statement through dtx
bool harness_wait_ready (int timeout_ms);

//  A direct libpq connection to cluster index (caller PQfinish'es)
PGconn *harness_pg (int index);
//  Run SQL directly on cluster index and return the first value as a
//  number (-1 on error)
long long harness_pg_value (int index, const char *sql);
//  Run SQL directly; returns 0 or -1
int harness_pg_exec (int index, const char *sql);
//  Sum of accounts.balance over all clusters (the transfer invariant)
long long harness_total_balance (void);
//  dtx gids in pg_prepared_xacts over all clusters
int harness_prepared_dtx (void);
//  Wait until no dtx gid is prepared anywhere (true) or timeout (false)
bool harness_wait_no_prepared (int timeout_ms);
//  Run a shell command (printf-style), its stdout and stderr into output;
//  returns its exit status (-1 if killed by a signal)
int harness_capture (char *output, size_t size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
//  Run dtxctl against the harness's coordinator (args printf-style),
//  output captured; returns its exit status
//  A command (printf format) in the background, its output in
//  harness.dir/logname: its pid
pid_t harness_spawn (const char *logname, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
//  Another coordinator on harness_store (lease and store-timeout as the
//  harness's): shard id, instance name, clients on port, participants on
//  port + 1, log dir harness.dir/INSTANCE, log INSTANCE.log; env is
//  prefixed to the command (e.g. "DTX_FAULT=..."), or NULL.  Its pid.
pid_t harness_start_instance (const char *env, const char *id, const char *instance, int port);
//  SIGTERM, and SIGKILL if it is still there 5 s later
void harness_terminate (pid_t pid);
int harness_dtxctl (char *output, size_t size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
//  Wait until dtxctl's `participants --json` shows participant index
//  connected (or not); false on timeout
bool harness_wait_participant (int index, bool connected, int timeout_ms);
//  Wait until process pid is stopped (SIGSTOP: state T in /proc) (true)
//  or timeout (false)
bool harness_wait_stopped (pid_t pid, int timeout_ms);
//  A raw socket as the harness's processes make them (dtx_sock_new, CurveZMQ):
//  a DEALER to endpoint presenting the certificate secret_file (NULL = the
//  test client's) and trusting only the harness coordinator's key ...
void *harness_client_sock (const char *endpoint, const char *secret_file);
//  ... or a ROUTER bound on endpoint with the coordinator's certificate
//  (any client key is accepted: no ZAP handler in a test process)
void *harness_coordinator_sock (const char *endpoint);
//  GET path from 127.0.0.1:port over HTTP/1.0: the whole answer, status
//  line and headers included (caller frees), NULL if nothing listens
char *harness_http_get (int port, const char *path);
//  The value of a sample line "SERIES VALUE" in a scrape (series with its
//  labels and the blank after: 'x{a="b"} '), -1 if absent
double harness_metric (const char *text, const char *series);
//  Size of the coordinator's decision log in bytes
long long harness_log_size (void);

//  main's body: run the suite (Check's fork mode, CK_NORMAL output), free
//  it; the exit status (0: every case passed)
int harness_run (Suite *suite);

//  A checked fixture's start, in each case's forked child: CZMQ set up,
//  its log lines off (the processes under test log to their files)
void harness_case_setup (void);

//  A case's client: harness_case_setup, then a client of the harness's
//  coordinator (request timeout request_ms).  Its end: destroyed, and no
//  dtx prepared transaction left behind (asserted, 10 s)
dtx_client_t *harness_case_client (int request_ms);
void harness_case_client_end (dtx_client_t **client_p);

#endif
