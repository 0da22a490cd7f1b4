/*  =========================================================================
    dtx_zap - the ZAP handler: which CurveZMQ keys may connect where

    One ZAP handler serves a whole process (inproc://zeromq.zap.01), but
    the coordinator has two allow-lists that must not mix: a client key
    must not register a participant, a participant key must not begin
    transactions.  zauth keeps one CURVE store; this handler keeps one
    certificate directory per ZAP domain ("clients", "participants",
    "admin": the domain each server socket sets, see dtx_sock_new).

    A key is allowed when a certificate with that public key is in the
    domain's directory (re-read when the directory changes: a key added or
    removed counts for the next connection).  The reply's User-Id is the
    Z85 public key; the certificate's metadata ("name", "databases") rides
    along as ZAP metadata: zframe_meta (frame, "databases") on a received
    frame.  A domain may have several allow-lists, searched in the order
    given; a key found in one given with a role gets that role as the
    metadata "dtx-role" (a certificate's own "dtx-role" is ignored: the
    role is the allow-list's, not the key holder's say).  Refusals are
    logged, once per key and domain every 30 s.
    =========================================================================
*/
#ifndef DTX_ZAP_H_INCLUDED
#define DTX_ZAP_H_INCLUDED

#include <czmq.h>

//  Start the handler (binds inproc://zeromq.zap.01 in CZMQ's context).
//  Returns NULL if another ZAP handler is bound already.
//  Caller owns return value (zactor_destroy stops it).
zactor_t *
    dtx_zap_new (void);

#define DTX_ZAP_ROLE "dtx-role"

//  Allow the keys of the certificates in directory on ZAP domain (added
//  to the domain's allow-lists).  Returns 0, or -1 if the directory
//  cannot be read.
int
    dtx_zap_allow (zactor_t *self, const char *domain, const char *directory);

//  The same, and the keys found there get role (DTX_ZAP_ROLE metadata)
int
    dtx_zap_allow_as (zactor_t *self, const char *domain, const char *directory,
                      const char *role);

//  Replace all the allow-lists of domain at once (SIGHUP): count
//  directories, each with its role (roles may be NULL, an item NULL: no
//  role).  A connection is checked against the old lists or the new
//  ones, never a mix.  Returns 0, or -1 (nothing changed) if a directory
//  cannot be read.
int
    dtx_zap_replace (zactor_t *self, const char *domain, const char *const *directories,
                     const char *const *roles, size_t count);

//  zactor body (dtx_zap_new starts it)
void
    dtx_zap_actor (zsock_t *pipe, void *args);

#endif
