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

//  Parse a whole decimal number in [min, max]; 0 or -1
int
    dtx_parse_long (const char *text, long min, long max, long *value);

//  Logs go to stderr (the journal under systemd), or to a file: then
//  SIGHUP reopens it (logrotate).  Call once from main (path may be NULL:
//  SIGHUP is then ignored rather than fatal); returns 0 or -1.
int
    dtx_logfile_open (const char *path);
//  From the event loop: reopen the file if SIGHUP came
void
    dtx_logfile_check (void);

//  Monotonic milliseconds
int64_t
    dtx_clock_ms (void);

#endif
