/*  =========================================================================
    dtx_util - small shared pieces: CRC32C, global ids, names, sockets,
    clocks.  Private to dtx (not installed).
    =========================================================================
*/
#ifndef DTX_UTIL_H_INCLUDED
#define DTX_UTIL_H_INCLUDED

#include <czmq.h>
#include <stdint.h>
#include "dtx.h"

//  CRC-32C (Castagnoli), as used by iSCSI, ext4 and PostgreSQL's WAL.
//  Start with crc = 0; feed pieces in order.
uint32_t
    dtx_crc32c (uint32_t crc, const void *data, size_t size);

//  Global ids look like  dtx:<coordinator-id>:<epoch>:<counter>
//  e.g. "dtx:main:7:1042".  The epoch is persisted in the decision log and
//  raised at every coordinator start, so ids never repeat across restarts.
#define DTX_GID_PREFIX "dtx:"

//  Format a gid into buf (at least DTX_GID_MAX + 1 bytes).
void
    dtx_gid_format (char *buf, const char *coordinator_id, uint64_t epoch, uint64_t counter);

//  Validate a gid from outside: 1..DTX_GID_MAX bytes of [A-Za-z0-9_.:-].
//  Returns 0, or -1 with the reason in errbuf.
int
    dtx_gid_validate (const char *gid, char *errbuf, size_t errlen);

//  Split a dtx gid.  Returns 0, or -1 if it is not a well-formed dtx gid.
//  coordinator_id must hold DTX_NAME_MAX + 1 bytes.
int
    dtx_gid_parse (const char *gid, char *coordinator_id, uint64_t *epoch, uint64_t *counter);

//  Names of coordinators and participants (databases): 1..64 bytes of
//  [A-Za-z0-9_.-].  Returns 0, or -1 with the reason in errbuf.
#define DTX_NAME_MAX 64
int
    dtx_name_validate (const char *what, const char *name, char *errbuf, size_t errlen);

//  Transport security: CurveZMQ (docs/security.md).  One of these per
//  process role; a socket borrows it.  A server (a ROUTER that binds)
//  presents cert and sends every connecting key to the ZAP handler under
//  zap_domain ("clients", "participants", "admin": dtx_zap.h); a client
//  (a DEALER that connects) presents cert and talks only to the server
//  whose public key is server_key: an impostor gets no handshake.
typedef struct {
    zcert_t *cert;                  //  our certificate, with its secret key
    char server_key [41];           //  connecting: the server's public key (Z85)
    const char *zap_domain;         //  binding: the ZAP domain of this endpoint
} dtx_security_t;

//  Load our certificate from secret_file (zcert format, with the secret
//  key: NAME_secret as `dtxctl keygen` writes it) and, when connecting,
//  the server's public key from server_file (its public certificate; may
//  be NULL for a server).  Returns NULL with errbuf naming the file and
//  the problem.  Caller owns return value.
dtx_security_t *
    dtx_security_new (const char *secret_file, const char *server_file,
                      char *errbuf, size_t errlen);

void
    dtx_security_destroy (dtx_security_t **self_p);

//  Largest message ZeroMQ accepts on a socket, checked before anything is
//  allocated for it (a bigger frame drops the connection).  Requests carry
//  a statement (DTX_PROTO_LONGSTR_MAX, 64 MiB) and its parameters: 64 MiB
//  plus 1 MiB of headroom.  Results have no protocol bound but a sane one.
#define DTX_MAXMSG_REQUEST  ((64 << 20) + (1 << 20))
#define DTX_MAXMSG_RESULT   (1 << 30)
#define DTX_MAXMSG_ADMIN    (1 << 20)

//  Every ZeroMQ socket in dtx is made here, so that transport security
//  (CurveZMQ) is switched on in one place.  endpoint follows CZMQ:
//  "@tcp://..." binds, ">tcp://..." connects; without a prefix, ROUTER
//  binds and DEALER connects.  security NULL = no CurveZMQ (--insecure,
//  and the admin ipc socket).  max_message: the largest message received,
//  bytes (-1 = no limit).  Returns NULL on a bad endpoint.
//  Caller owns return value.
zsock_t *
    dtx_sock_new (int type, const char *endpoint, const dtx_security_t *security,
                  int64_t max_message);

//  Keep a copy of value in *strings_p (a list created on first use, whose
//  owner destroys it), and return the copy: a config's string settings
const char *
    dtx_strings_keep (zlist_t **strings_p, const char *value);

//  Config files are CZMQ's ZPL (zconfig): one section named for the
//  process, one key per line.  Every key must be in `keys`; fn applies a
//  value and returns 0, or -1 if the value is bad.  Returns 0, or -1 with
//  errbuf naming the file and the problem (unparseable, missing section,
//  unknown key, bad value).
typedef int (dtx_config_fn) (void *arg, const char *key, const char *value);
int
    dtx_config_load (const char *path, const char *section, const char *const *keys,
                     dtx_config_fn *fn, void *arg, char *errbuf, size_t errlen);

//  value as a JSON string literal, quotes included ("" for NULL); the
//  caller frees it
char *
    dtx_json_string (const char *value);

//  A growing piece of text, e.g. a JSON document built before it is sent
//  or printed.  Start from { NULL, 0, 0 }; data is NUL-terminated once
//  anything was added; the owner frees data
typedef struct {
    char *data;
    size_t used, size;
} dtx_text_t;

//  Append printf-style
void
    dtx_text_add (dtx_text_t *text, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Append value as a JSON string literal (dtx_json_string)
void
    dtx_text_json (dtx_text_t *text, const char *value);

//  dtx's version (configure's PACKAGE_VERSION)
const char *
    dtx_version (void);

//  The command line of a dtx service: "--config FILE" (short 'f') is read
//  first, then every other flag is applied over it through fn, under its
//  long name (a flag without argument gets "1").  Returns -1 to go on, or
//  an exit code: 0 after --help ('h'), 2 after an error (printed).
struct option;
int
    dtx_options_parse (int argc, char *argv [], const char *shortopts,
                       const struct option *options, const char *section,
                       const char *const *keys, dtx_config_fn *fn, void *arg,
                       const char *program, void (*usage) (FILE *out));

//  dtx_options_parse's work again, for SIGHUP: the --config file (if the
//  command line has one), then every other flag over it, through fn, on
//  the caller's defaults in arg.  Prints nothing.  Returns 0, or -1 with
//  errbuf naming the problem.
int
    dtx_options_reload (int argc, char *argv [], const char *shortopts,
                        const struct option *options, const char *section,
                        const char *const *keys, dtx_config_fn *fn, void *arg,
                        char *errbuf, size_t errlen);

//  A dtx_config_fn that applies each key through fn (on arg) and keeps
//  the last value applied to each key in values (key -> string, owned by
//  values): the configuration in effect, to compare on reload
typedef struct {
    dtx_config_fn *fn;
    void *arg;
    zhashx_t *values;                   //  created by the caller (zhashx_new)
} dtx_config_seen_t;

int
    dtx_config_seen_apply (void *arg, const char *key, const char *value);

//  SIGHUP, once the configuration just read has been applied: compare it
//  (*fresh_p) with the one in effect (*running_p), both dtx_config_seen_t
//  values, key by key.  Logs one line per key that changed: those in live
//  (NULL-terminated) as applied; the others as needing a restart, and
//  their old values are put back in fresh; then the count.  fresh becomes
//  the configuration in effect: *running_p is replaced by it, and takes
//  ownership of *fresh_p (NULLed).  Returns the number of keys that
//  changed.
int
    dtx_config_adopt (const char *const *keys, const char *const *live,
                      zhashx_t **running_p, zhashx_t **fresh_p);

//  Parse a whole decimal number in [min, max]; 0 or -1
int
    dtx_parse_long (const char *text, long min, long max, long *value);

//  Logs go to stderr (the journal under systemd), or to a file: then
//  SIGHUP reopens it (logrotate).  Call once from main (path may be NULL:
//  SIGHUP is then ignored rather than fatal); returns 0 or -1.
int
    dtx_logfile_open (const char *path);
//  From the event loop: if SIGHUP came, reopen the file, then call the
//  function given to dtx_logfile_on_hangup (never from the signal handler)
void
    dtx_logfile_check (void);

//  What SIGHUP does besides: main's reload of its configuration (fn NULL:
//  nothing).  fn runs on the thread that calls dtx_logfile_check.
void
    dtx_logfile_on_hangup (void (*fn) (void *arg), void *arg);

//  Log lines (docs/operations.md, Logging).  CZMQ's zsys_error ..
//  zsys_debug go through a formatter once dtx_logging_start ran: one
//  line per call, to file descriptor 1 (the log file, or the journal).
//  text:  2026-11-30T00:31:05.123+00:00 I dtx-coordinator[1234]: message
//  json:  {"ts":"2026-11-30T00:31:05.123+00:00","level":"info",
//          "process":"dtx-coordinator","pid":1234,"msg":"message"}
//  (and "gid":"dtx:main:7:1042" before msg when the message starts with
//  a well-formed gid and ": ", as lines about one transaction do)
//  The time is local, taken when the line is logged, with milliseconds
//  and the UTC offset.  The level letter is CZMQ's: E(rror) W(arning)
//  N(otice) I(nfo) D(ebug).  A message stays on one line: newlines, tabs,
//  other control characters, backslashes and bytes that are not UTF-8 are
//  escaped (\n \t \\ \x1b in text; JSON escapes, and U+FFFD for a byte
//  that is not UTF-8, in json); its own trailing newlines are dropped.
#define DTX_LOGFMT_TEXT 0
#define DTX_LOGFMT_JSON 1

//  "text" or "json" into *format; 0, or -1 if it is neither
int
    dtx_logfmt_parse (const char *name, int *format);

//  "error", "warning", "notice", "info", "debug" into *level (the letter
//  E W N I D); 0, or -1 if it is none of them
int
    dtx_loglevel_parse (const char *name, char *level);

//  One log line, newline included, of msg at level (a letter) logged at
//  when.  Caller owns return value (free).
char *
    dtx_logline_format (int format, const struct timespec *when, char level,
                        const char *process, int pid, const char *msg);

//  Route CZMQ's log through the formatter, as process (after zsys_init;
//  sets CZMQ's log ident and log stream).  Lines less severe than level
//  are dropped.  Returns 0, or -1 if the stream cannot be made.
int
    dtx_logging_start (const char *process, int format, char level);

//  Change the format and level of the lines from now on
void
    dtx_logging_set (int format, char level);

//  Give CZMQ's log back its plain stream (stdout)
void
    dtx_logging_stop (void);

//  Monotonic milliseconds
int64_t
    dtx_clock_ms (void);

#endif
