/*  =========================================================================
    dtx_util - CRC32C, global ids, names, the socket helper
    =========================================================================
*/
#define _GNU_SOURCE             //  fopencookie
#ifdef HAVE_CONFIG_H
#   include "config.h"
#endif
#include "dtx_util.h"
#include <stdarg.h>
#include <ctype.h>
#include <inttypes.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <fcntl.h>
#include <getopt.h>

//  --------------------------------------------------------------------------
//  CRC-32C, slicing-by-8 tables built on first use (reflected polynomial
//  0x82F63B78).  Fast enough that the decision log is bound by fsync.

static uint32_t s_crc_table [8][256];
static pthread_once_t s_crc_once = PTHREAD_ONCE_INIT;

static void
s_crc_init (void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1)? (crc >> 1) ^ 0x82F63B78u: crc >> 1;
        s_crc_table [0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = s_crc_table [0][n];
        for (int k = 1; k < 8; k++) {
            crc = s_crc_table [0][crc & 0xFF] ^ (crc >> 8);
            s_crc_table [k][n] = crc;
        }
    }
}

uint32_t
dtx_crc32c (uint32_t crc, const void *data, size_t size)
{
    pthread_once (&s_crc_once, s_crc_init);
    const byte *p = (const byte *) data;
    crc = ~crc;
    while (size >= 8) {
        uint32_t lo = crc ^ ((uint32_t) p [0] | (uint32_t) p [1] << 8
                          | (uint32_t) p [2] << 16 | (uint32_t) p [3] << 24);
        crc = s_crc_table [7][lo & 0xFF] ^ s_crc_table [6][(lo >> 8) & 0xFF]
            ^ s_crc_table [5][(lo >> 16) & 0xFF] ^ s_crc_table [4][lo >> 24]
            ^ s_crc_table [3][p [4]] ^ s_crc_table [2][p [5]]
            ^ s_crc_table [1][p [6]] ^ s_crc_table [0][p [7]];
        p += 8;
        size -= 8;
    }
    while (size--)
        crc = s_crc_table [0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

//  --------------------------------------------------------------------------
//  Global ids and names

static bool
s_name_char (int c)
{
    return isalnum (c) || c == '_' || c == '.' || c == '-';
}

void
dtx_gid_format (char *buf, const char *coordinator_id, uint64_t epoch, uint64_t counter)
{
    snprintf (buf, DTX_GID_MAX + 1, DTX_GID_PREFIX "%s:%" PRIu64 ":%" PRIu64,
              coordinator_id, epoch, counter);
}

int
dtx_gid_validate (const char *gid, char *errbuf, size_t errlen)
{
    size_t len = strlen (gid);
    if (len == 0) {
        snprintf (errbuf, errlen, "global id is empty");
        return -1;
    }
    if (len > DTX_GID_MAX) {
        snprintf (errbuf, errlen, "global id too long: %zu bytes, at most %d", len, DTX_GID_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if (!s_name_char ((unsigned char) gid [i]) && gid [i] != ':') {
            snprintf (errbuf, errlen, "global id has a character outside [A-Za-z0-9_.:-] at byte %zu", i);
            return -1;
        }
    return 0;
}

int
dtx_gid_parse (const char *gid, char *coordinator_id, uint64_t *epoch, uint64_t *counter)
{
    char err [128];
    if (dtx_gid_validate (gid, err, sizeof err)
    ||  strncmp (gid, DTX_GID_PREFIX, strlen (DTX_GID_PREFIX)))
        return -1;
    const char *id = gid + strlen (DTX_GID_PREFIX);
    const char *colon = strchr (id, ':');
    if (!colon || colon == id || colon - id > DTX_NAME_MAX)
        return -1;
    memcpy (coordinator_id, id, colon - id);
    coordinator_id [colon - id] = 0;
    char *end;
    if (!isdigit ((unsigned char) colon [1]))
        return -1;
    *epoch = strtoull (colon + 1, &end, 10);
    if (*end != ':' || !isdigit ((unsigned char) end [1]))
        return -1;
    *counter = strtoull (end + 1, &end, 10);
    return *end? -1: 0;
}

int
dtx_name_validate (const char *what, const char *name, char *errbuf, size_t errlen)
{
    size_t len = name? strlen (name): 0;
    if (len == 0 || len > DTX_NAME_MAX) {
        snprintf (errbuf, errlen, "%s name must be 1 to %d characters, got %zu",
                  what, DTX_NAME_MAX, len);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if (!s_name_char ((unsigned char) name [i])) {
            snprintf (errbuf, errlen, "%s name '%s' has a character outside [A-Za-z0-9_.-]",
                      what, name);
            return -1;
        }
    return 0;
}

//  --------------------------------------------------------------------------
//  Sockets

dtx_security_t *
dtx_security_new (const char *secret_file, const char *server_file, char *errbuf, size_t errlen)
{
    static const char *no_secret = "0000000000000000000000000000000000000000";
    if (!secret_file || access (secret_file, R_OK)) {
        snprintf (errbuf, errlen, "certificate %s: %s", secret_file? secret_file: "(none)",
                  secret_file? strerror (errno): "not given");
        return NULL;
    }
    //  zcert_load reads FILE_secret when there is one, else FILE itself
    zcert_t *cert = zcert_load (secret_file);
    if (!cert || streq (zcert_secret_txt (cert), no_secret)) {
        snprintf (errbuf, errlen, "certificate %s: %s", secret_file,
                  cert? "has no secret key (give the NAME_secret file that dtxctl keygen wrote)"
                      : "not a zcert certificate (make one with dtxctl keygen)");
        zcert_destroy (&cert);
        return NULL;
    }
    dtx_security_t *self = (dtx_security_t *) calloc (1, sizeof (dtx_security_t));
    assert (self);
    self->cert = cert;
    if (server_file) {
        zcert_t *server = access (server_file, R_OK) == 0? zcert_load (server_file): NULL;
        if (!server) {
            snprintf (errbuf, errlen, "certificate %s: %s", server_file,
                      access (server_file, R_OK)? strerror (errno)
                      : "not a zcert certificate (copy the coordinator's public certificate)");
            dtx_security_destroy (&self);
            return NULL;
        }
        snprintf (self->server_key, sizeof self->server_key, "%s", zcert_public_txt (server));
        zcert_destroy (&server);
    }
    return self;
}

void
dtx_security_destroy (dtx_security_t **self_p)
{
    assert (self_p);
    dtx_security_t *self = *self_p;
    if (!self)
        return;
    zcert_destroy (&self->cert);
    free (self);
    *self_p = NULL;
}

zsock_t *
dtx_sock_new (int type, const char *endpoint, const dtx_security_t *security, int64_t max_message)
{
    zsock_t *sock = zsock_new (type);
    if (!sock)
        return NULL;
    //  Never block shutdown on unsent messages; bound queues so a dead
    //  peer cannot make us buffer without limit.
    zsock_set_linger (sock, 0);
    zsock_set_sndhwm (sock, 100000);
    zsock_set_rcvhwm (sock, 100000);
    if (type == ZMQ_ROUTER)
        zsock_set_router_mandatory (sock, 1);   //  unroutable = error, not silent drop
    //  ZMTP heartbeats detect dead TCP peers behind NATs and firewalls
    zsock_set_heartbeat_ivl (sock, 1000);
    zsock_set_heartbeat_timeout (sock, 5000);
    //  A hostile length is refused by ZeroMQ, before it is allocated
    int64_t limit = max_message;
    zmq_setsockopt (zsock_resolve (sock), ZMQ_MAXMSGSIZE, &limit, sizeof limit);
    bool serverish = *endpoint == '@' || (*endpoint != '>' && type == ZMQ_ROUTER);
    if (security) {
        //  CurveZMQ: every option before the bind or connect
        zcert_apply (security->cert, sock);
        if (serverish) {
            zsock_set_curve_server (sock, 1);
            //  Every key goes to the ZAP handler (dtx_zap.c) under this
            //  endpoint's domain.  (A process without a ZAP handler
            //  accepts any key: the coordinator starts one before it binds)
            if (security->zap_domain && *security->zap_domain)
                zsock_set_zap_domain (sock, security->zap_domain);
        }
        else
            zsock_set_curve_serverkey (sock, security->server_key);
    }
    if (zsock_attach (sock, endpoint, type == ZMQ_ROUTER)) {
        zsock_destroy (&sock);
        return NULL;
    }
    return sock;
}

//  --------------------------------------------------------------------------
//  Config files

int
dtx_parse_long (const char *text, long min, long max, long *value)
{
    char *end;
    errno = 0;
    long parsed = strtol (text, &end, 10);
    if (errno || end == text || *end || parsed < min || parsed > max)
        return -1;
    *value = parsed;
    return 0;
}

//  The long name of getopt's answer opt ("?" if none), and whether it
//  takes an argument
static const char *
s_option_key (const struct option *options, int opt, bool *has_argument)
{
    const char *key = "?";
    *has_argument = true;
    for (int i = 0; options [i].name; i++)
        if (options [i].val == opt) {
            key = options [i].name;
            *has_argument = options [i].has_arg != no_argument;
        }
    return key;
}

int
dtx_options_parse (int argc, char *argv [], const char *shortopts,
                   const struct option *options, const char *section,
                   const char *const *keys, dtx_config_fn *fn, void *arg,
                   const char *program, void (*usage) (FILE *out))
{
    char err [1024];
    int opt;
    for (int i = 1; i < argc; i++)
        if (streq (argv [i], "--version")) {
            printf ("%s (dtx) %s\n", program, dtx_version ());
            return 0;
        }
    //  First the config file, then the flags over it
    while ((opt = getopt_long (argc, argv, shortopts, options, NULL)) != -1) {
        if (opt == 'h') {
            usage (stdout);
            return 0;
        }
        if (opt == '?') {
            usage (stderr);
            return 2;
        }
        if (opt == 'f' && dtx_config_load (optarg, section, keys, fn, arg, err, sizeof err)) {
            fprintf (stderr, "%s: %s\n", program, err);
            return 2;
        }
    }
    optind = 1;
    while ((opt = getopt_long (argc, argv, shortopts, options, NULL)) != -1) {
        if (opt == 'f')
            continue;
        bool has_argument;
        const char *key = s_option_key (options, opt, &has_argument);
        if (fn (arg, key, has_argument? optarg: "1")) {
            fprintf (stderr, "%s: bad value for --%s: '%s'\n", program, key,
                     has_argument? optarg: "");
            return 2;
        }
    }
    return -1;
}

int
dtx_options_reload (int argc, char *argv [], const char *shortopts,
                    const struct option *options, const char *section,
                    const char *const *keys, dtx_config_fn *fn, void *arg,
                    char *errbuf, size_t errlen)
{
    int opt, saved_opterr = opterr;
    opterr = 0;
    optind = 0;                 //  (glibc: start getopt over entirely)
    int rc = 0;
    while (rc == 0 && (opt = getopt_long (argc, argv, shortopts, options, NULL)) != -1)
        if (opt == 'f')
            rc = dtx_config_load (optarg, section, keys, fn, arg, errbuf, errlen);
    optind = 0;
    while (rc == 0 && (opt = getopt_long (argc, argv, shortopts, options, NULL)) != -1) {
        if (opt == 'f' || opt == 'h' || opt == '?')
            continue;           //  (all seen at start)
        bool has_argument;
        const char *key = s_option_key (options, opt, &has_argument);
        if (fn (arg, key, has_argument? optarg: "1")) {
            snprintf (errbuf, errlen, "bad value for --%s: '%s'", key, has_argument? optarg: "");
            rc = -1;
        }
    }
    opterr = saved_opterr;
    optind = 1;
    return rc;
}

int
dtx_config_seen_apply (void *arg, const char *key, const char *value)
{
    dtx_config_seen_t *seen = (dtx_config_seen_t *) arg;
    if (seen->fn (seen->arg, key, value))
        return -1;
    zhashx_update (seen->values, key, strdup (value));
    return 0;
}

int
dtx_config_adopt (const char *const *keys, const char *const *live,
                  zhashx_t **running_p, zhashx_t **fresh_p)
{
    zhashx_t *running = *running_p, *fresh = *fresh_p;
    int changes = 0;
    for (int i = 0; keys [i]; i++) {
        const char *before = (const char *) zhashx_lookup (running, keys [i]);
        const char *after = (const char *) zhashx_lookup (fresh, keys [i]);
        if ((!before && !after) || (before && after && streq (before, after)))
            continue;
        changes++;
        bool is_live = false;
        for (int j = 0; live [j]; j++)
            is_live = is_live || streq (live [j], keys [i]);
        if (is_live) {
            zsys_info ("SIGHUP: %s is now %s (was %s)", keys [i], after? after: "the default",
                       before? before: "the default");
            continue;
        }
        zsys_warning ("SIGHUP: %s changed to %s but needs a restart: still %s until then",
                      keys [i], after? after: "the default", before? before: "the default");
        if (before)
            zhashx_update (fresh, keys [i], strdup (before));
        else
            zhashx_delete (fresh, keys [i]);
    }
    zsys_info ("SIGHUP: configuration read again, %d key(s) changed", changes);
    zhashx_destroy (running_p);
    *running_p = fresh;
    *fresh_p = NULL;
    return changes;
}

char *
dtx_json_string (const char *value)
{
    if (!value)
        value = "";
    //  Worst case: every byte a \u00XX escape
    char *out = (char *) malloc (strlen (value) * 6 + 3);
    assert (out);
    char *to = out;
    *to++ = '"';
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char) *p;
        if (c == '"' || c == '\\') {
            *to++ = '\\';
            *to++ = (char) c;
        }
        else
        if (c < 0x20)
            to += sprintf (to, "\\u%04x", c);
        else
            *to++ = (char) c;
    }
    *to++ = '"';
    *to = 0;
    return out;
}

void
dtx_text_add (dtx_text_t *text, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *piece = zsys_vprintf (format, args);
    va_end (args);
    assert (piece);
    size_t len = strlen (piece);
    if (text->used + len + 1 > text->size) {
        text->size = (text->used + len + 1) * 2;
        text->data = (char *) realloc (text->data, text->size);
        assert (text->data);
    }
    memcpy (text->data + text->used, piece, len + 1);
    text->used += len;
    zstr_free (&piece);
}

void
dtx_text_json (dtx_text_t *text, const char *value)
{
    char *literal = dtx_json_string (value);
    dtx_text_add (text, "%s", literal);
    free (literal);
}

const char *
dtx_version (void)
{
#ifdef PACKAGE_VERSION
    return PACKAGE_VERSION;
#else
    return "unknown";
#endif
}

const char *
dtx_strings_keep (zlist_t **strings_p, const char *value)
{
    if (!*strings_p) {
        *strings_p = zlist_new ();
        zlist_autofree (*strings_p);
    }
    zlist_append (*strings_p, (void *) value);
    return (const char *) zlist_tail (*strings_p);
}

int
dtx_config_load (const char *path, const char *section, const char *const *keys,
                 dtx_config_fn *fn, void *arg, char *errbuf, size_t errlen)
{
    if (access (path, R_OK)) {
        snprintf (errbuf, errlen, "config file %s: %s", path, strerror (errno));
        return -1;
    }
    //  zconfig_load would parse the same text, but CZMQ 4.2 leaks the
    //  zfile_t it reads through (found by fuzz/fuzz_config.c under
    //  LeakSanitizer): read the file here and parse the chunk
    zchunk_t *text = zchunk_slurp (path, 0);
    zconfig_t *root = text? zconfig_chunk_load (text): NULL;
    zchunk_destroy (&text);
    if (!root) {
        snprintf (errbuf, errlen, "config file %s: not valid ZPL (see the commented sample)", path);
        return -1;
    }
    int rc = 0;
    bool found = false;
    for (zconfig_t *top = zconfig_child (root); top && rc == 0; top = zconfig_next (top)) {
        if (strcmp (zconfig_name (top), section)) {
            snprintf (errbuf, errlen, "config file %s: unknown section '%s' (expected '%s')",
                      path, zconfig_name (top), section);
            rc = -1;
            break;
        }
        found = true;
        for (zconfig_t *item = zconfig_child (top); item; item = zconfig_next (item)) {
            const char *key = zconfig_name (item);
            const char *value = zconfig_value (item);
            bool known = false;
            for (int i = 0; keys [i]; i++)
                known = known || streq (keys [i], key);
            if (!known) {
                snprintf (errbuf, errlen, "config file %s: unknown key '%s/%s'", path, section, key);
                rc = -1;
                break;
            }
            if (!value || !*value || fn (arg, key, value)) {
                snprintf (errbuf, errlen, "config file %s: bad value for '%s/%s': '%s'",
                          path, section, key, value? value: "");
                rc = -1;
                break;
            }
        }
    }
    if (rc == 0 && !found) {
        snprintf (errbuf, errlen, "config file %s: no '%s' section", path, section);
        rc = -1;
    }
    zconfig_destroy (&root);
    return rc;
}

//  --------------------------------------------------------------------------
//  Log file and SIGHUP

static char *s_logfile;
static volatile sig_atomic_t s_hangup;

static void
s_on_hangup (int signal)
{
    s_hangup = 1;
}

//  Point stdout and stderr (where CZMQ's zsys log goes) at the file
static int
s_logfile_attach (const char *path)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    fflush (stdout);
    fflush (stderr);
    int rc = dup2 (fd, 1) < 0 || dup2 (fd, 2) < 0? -1: 0;
    close (fd);
    return rc;
}

int
dtx_logfile_open (const char *path)
{
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_hangup;
    sigaction (SIGHUP, &action, NULL);
    if (!path)
        return 0;
    free (s_logfile);
    s_logfile = strdup (path);
    return s_logfile_attach (path);
}

static void (*s_hangup_fn) (void *arg);
static void *s_hangup_arg;

void
dtx_logfile_on_hangup (void (*fn) (void *arg), void *arg)
{
    s_hangup_fn = fn;
    s_hangup_arg = arg;
}

void
dtx_logfile_check (void)
{
    if (!s_hangup)
        return;
    s_hangup = 0;
    if (s_logfile && s_logfile_attach (s_logfile) == 0)
        zsys_info ("SIGHUP: reopened log file %s", s_logfile);
    if (s_hangup_fn)
        s_hangup_fn (s_hangup_arg);
}

//  --------------------------------------------------------------------------
//  Log lines
//
//  CZMQ formats every zsys_error .. zsys_debug call as one record,
//  "L: (IDENT) yy-mm-dd HH:MM:SS text", truncated to 1023 bytes, and
//  writes it to its log stream with one fprintf ("%s\n") and an fflush
//  (zsys.c, s_log).  The stream here is a fopencookie stream without a
//  buffer: glibc formats the fprintf whole and hands it to s_cookie_write
//  in one call, under the stream's lock, so records from several threads
//  never mix.  IDENT is a random marker, never printed: a record begins
//  where a header with it begins, so a message that holds newlines and
//  text that looks like a header (a PostgreSQL error quoting a client's
//  value) cannot pass for a record of its own.  Each record is written
//  again as one line (escaped) with one write () to file descriptor 1,
//  where the log file or the journal is.

static pthread_mutex_t s_log_mutex = PTHREAD_MUTEX_INITIALIZER;
static char s_log_marker [48];          //  CZMQ's log ident: "dtx-" + random hex
static char s_log_process [64];
static int s_log_format;                //  DTX_LOGFMT_TEXT or _JSON
static char s_log_level = 'I';          //  most detailed level written
static char s_log_last = 'I';           //  level of the last record (for a continuation)
static char *s_log_pending;             //  bytes of an unfinished record
static size_t s_log_pending_size;
static FILE *s_log_stream;

//  E W N I D, most to least severe; unknown letters rank as info
static int
s_level_rank (char level)
{
    const char *levels = "EWNID";
    const char *at = strchr (levels, level);
    return level && at? (int) (at - levels): 3;
}

static const char *
s_level_name (char level)
{
    switch (level) {
        case 'E': return "error";
        case 'W': return "warning";
        case 'N': return "notice";
        case 'D': return "debug";
        default:  return "info";
    }
}

int
dtx_logfmt_parse (const char *name, int *format)
{
    if (streq (name, "text"))
        *format = DTX_LOGFMT_TEXT;
    else
    if (streq (name, "json"))
        *format = DTX_LOGFMT_JSON;
    else
        return -1;
    return 0;
}

int
dtx_loglevel_parse (const char *name, char *level)
{
    const char *names [] = { "error", "warning", "notice", "info", "debug" };
    for (int i = 0; i < 5; i++)
        if (streq (name, names [i])) {
            *level = "EWNID" [i];
            return 0;
        }
    return -1;
}

//  Length of the well-formed UTF-8 sequence at p (2 to 4 bytes), or 0
static size_t
s_utf8_length (const unsigned char *p, size_t avail)
{
    size_t length = p [0] >= 0xC2 && p [0] <= 0xDF? 2
                  : p [0] >= 0xE0 && p [0] <= 0xEF? 3
                  : p [0] >= 0xF0 && p [0] <= 0xF4? 4: 0;
    if (!length || length > avail)
        return 0;
    for (size_t i = 1; i < length; i++)
        if ((p [i] & 0xC0) != 0x80)
            return 0;
    //  No overlong forms, no surrogates, nothing above U+10FFFF
    if ((p [0] == 0xE0 && p [1] < 0xA0) || (p [0] == 0xED && p [1] > 0x9F)
    ||  (p [0] == 0xF0 && p [1] < 0x90) || (p [0] == 0xF4 && p [1] > 0x8F))
        return 0;
    return length;
}

//  text as one line: control characters and bytes that are not UTF-8
//  escaped, in C style (text) or JSON style (json: quotes not included).
//  to holds at least 6 * size + 1 bytes; returns the end.
static char *
s_escape (char *to, const char *text, size_t size, bool json)
{
    const unsigned char *p = (const unsigned char *) text;
    const unsigned char *end = p + size;
    while (p < end) {
        unsigned char c = *p;
        const char *named = c == '\n'? "\\n": c == '\r'? "\\r": c == '\t'? "\\t"
                          : c == '\\'? "\\\\": json && c == '"'? "\\\"": NULL;
        if (named) {
            to = stpcpy (to, named);
            p++;
        }
        else
        if (c < 0x20 || c == 0x7F) {
            to += sprintf (to, json? "\\u%04x": "\\x%02x", c);
            p++;
        }
        else
        if (c < 0x80) {
            *to++ = (char) c;
            p++;
        }
        else {
            size_t length = s_utf8_length (p, (size_t) (end - p));
            if (length) {
                memcpy (to, p, length);
                to += length;
                p += length;
            }
            else {
                //  Not UTF-8: a JSON reader would refuse the whole line
                to += json? sprintf (to, "\\ufffd"): sprintf (to, "\\x%02x", c);
                p++;
            }
        }
    }
    *to = 0;
    return to;
}

char *
dtx_logline_format (int format, const struct timespec *when, char level,
                    const char *process, int pid, const char *msg)
{
    //  2026-11-30T00:31:05.123+01:00: local time, milliseconds, offset
    struct tm local;
    time_t seconds = when->tv_sec;
    localtime_r (&seconds, &local);
    char stamp [64];
    size_t length = strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &local);
    long offset = local.tm_gmtoff / 60;
    snprintf (stamp + length, sizeof stamp - length, ".%03ld%c%02ld:%02ld",
              (long) (when->tv_nsec / 1000000), offset < 0? '-': '+',
              labs (offset) / 60, labs (offset) % 60);
    //  A message's own final newlines (PQerrorMessage ends with one) say
    //  nothing
    size_t size = strlen (msg);
    while (size && (msg [size - 1] == '\n' || msg [size - 1] == '\r'))
        size--;
    size_t process_size = strlen (process);
    char *line = (char *) malloc (6 * (size + process_size) + 256);
    assert (line);
    char *to = line;
    if (format == DTX_LOGFMT_JSON) {
        to += sprintf (to, "{\"ts\":\"%s\",\"level\":\"%s\",\"process\":\"", stamp,
                       s_level_name (level));
        to = s_escape (to, process, process_size, true);
        to += sprintf (to, "\",\"pid\":%d,", pid);
        //  A line about a transaction starts with its gid: a field too
        const char *colon = strncmp (msg, DTX_GID_PREFIX, strlen (DTX_GID_PREFIX))? NULL
                          : strstr (msg, ": ");
        char gid [DTX_GID_MAX + 1], shard [DTX_NAME_MAX + 1];
        uint64_t epoch, counter;
        if (colon && (size_t) (colon - msg) <= DTX_GID_MAX) {
            memcpy (gid, msg, colon - msg);
            gid [colon - msg] = 0;
            if (dtx_gid_parse (gid, shard, &epoch, &counter) == 0)
            {
                to = stpcpy (to, "\"gid\":\"");
                to = s_escape (to, gid, strlen (gid), true);
                to = stpcpy (to, "\",");
            }
        }
        to = stpcpy (to, "\"msg\":\"");
        to = s_escape (to, msg, size, true);
        to = stpcpy (to, "\"}\n");
    }
    else {
        to += sprintf (to, "%s %c ", stamp, strchr ("EWNID", level) && level? level: 'I');
        to = s_escape (to, process, process_size, false);
        to += sprintf (to, "[%d]: ", pid);
        to = s_escape (to, msg, size, false);
        to = stpcpy (to, "\n");
    }
    return line;
}

//  Write all of it to fd 1, across short writes and interruptions
static void
s_write_all (const char *data, size_t size)
{
    while (size) {
        ssize_t written = write (1, data, size);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return;             //  nowhere to log to: nothing else to do
        data += written;
        size -= (size_t) written;
    }
}

//  Length of the header of a record at p ("L: (MARKER) yy-mm-dd HH:MM:SS "),
//  or 0 if none begins there
static size_t
s_header_length (const char *p, size_t avail)
{
    size_t marker = strlen (s_log_marker);
    size_t length = 4 + marker + 2 + 17 + 1;
    if (avail < length || p [1] != ':' || p [2] != ' ' || p [3] != '('
    ||  memcmp (p + 4, s_log_marker, marker) || p [4 + marker] != ')' || p [length - 1] != ' ')
        return 0;
    return length;
}

//  One record: parsed, filtered by level, written as one line
static void
s_emit (const char *record, size_t size)
{
    size_t header = s_header_length (record, size);
    char level = header? record [0]: s_log_last;
    s_log_last = level;
    if (s_level_rank (level) > s_level_rank (s_log_level))
        return;
    char *msg = strndup (record + header, size - header);
    assert (msg);
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    char *line = dtx_logline_format (s_log_format, &now, level, s_log_process, (int) getpid (), msg);
    s_write_all (line, strlen (line));
    free (line);
    free (msg);
}

static ssize_t
s_cookie_write (void *cookie, const char *data, size_t size)
{
    pthread_mutex_lock (&s_log_mutex);
    char *pending = (char *) realloc (s_log_pending, s_log_pending_size + size);
    assert (pending);
    memcpy (pending + s_log_pending_size, data, size);
    s_log_pending = pending;
    s_log_pending_size += size;
    //  Every whole record: one that the next header follows, or the last
    //  one once its newline came (a record is always one write: the rest
    //  is for a stream that would cut one)
    size_t start = 0;
    while (start < s_log_pending_size) {
        size_t end = 0;
        for (size_t at = start + 1; at < s_log_pending_size && !end; at++)
            if (pending [at - 1] == '\n' && s_header_length (pending + at, s_log_pending_size - at))
                end = at;
        if (!end && pending [s_log_pending_size - 1] == '\n')
            end = s_log_pending_size;
        if (!end)
            break;
        s_emit (pending + start, end - start - 1);
        start = end;
    }
    memmove (pending, pending + start, s_log_pending_size - start);
    s_log_pending_size -= start;
    pthread_mutex_unlock (&s_log_mutex);
    return (ssize_t) size;
}

int
dtx_logging_start (const char *process, int format, char level)
{
    pthread_mutex_lock (&s_log_mutex);
    snprintf (s_log_process, sizeof s_log_process, "%s", process);
    s_log_format = format;
    s_log_level = level;
    if (!*s_log_marker) {
        zuuid_t *uuid = zuuid_new ();
        snprintf (s_log_marker, sizeof s_log_marker, "dtx-%s", zuuid_str (uuid));
        zuuid_destroy (&uuid);
    }
    pthread_mutex_unlock (&s_log_mutex);
    if (!s_log_stream) {
        cookie_io_functions_t functions = { NULL, s_cookie_write, NULL, NULL };
        s_log_stream = fopencookie (NULL, "w", functions);
        if (!s_log_stream)
            return -1;
        setvbuf (s_log_stream, NULL, _IONBF, 0);
    }
    zsys_set_logident (s_log_marker);
    zsys_set_logstream (s_log_stream);
    return 0;
}

void
dtx_logging_set (int format, char level)
{
    pthread_mutex_lock (&s_log_mutex);
    s_log_format = format;
    s_log_level = level;
    pthread_mutex_unlock (&s_log_mutex);
}

void
dtx_logging_stop (void)
{
    if (!s_log_stream)
        return;
    zsys_set_logstream (stdout);
    zsys_set_logident (*s_log_process? s_log_process: NULL);
    pthread_mutex_lock (&s_log_mutex);
    //  A record cut short (never, from CZMQ) is not lost
    if (s_log_pending_size)
        s_emit (s_log_pending, s_log_pending_size);
    s_log_pending_size = 0;
    pthread_mutex_unlock (&s_log_mutex);
}

int64_t
dtx_clock_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
