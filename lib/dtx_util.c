/*  =========================================================================
    dtx_util - CRC32C, global ids, names, the socket helper
    =========================================================================
*/
#ifdef HAVE_CONFIG_H
#   include "config.h"
#endif
#include "dtx_util.h"
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
        const char *key = "?";
        bool has_argument = true;
        for (int i = 0; options [i].name; i++)
            if (options [i].val == opt) {
                key = options [i].name;
                has_argument = options [i].has_arg != no_argument;
            }
        if (fn (arg, key, has_argument? optarg: "1")) {
            fprintf (stderr, "%s: bad value for --%s: '%s'\n", program, key,
                     has_argument? optarg: "");
            return 2;
        }
    }
    return -1;
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

void
dtx_logfile_check (void)
{
    if (!s_hangup)
        return;
    s_hangup = 0;
    if (s_logfile && s_logfile_attach (s_logfile) == 0)
        zsys_info ("SIGHUP: reopened log file %s", s_logfile);
}

int64_t
dtx_clock_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
