/*
 * takeover.pml - dtx high availability: shard takeover and epoch fencing (docs/ha.md, "Model").
 *
 * Two coordinators C1 (index 0, initial owner of the shard, epoch 1) and C2 (index 1), the
 * decision store (shard row: epoch, owner; decisions; a synchronous standby that can be
 * promoted), two participants P1 (0) and P2 (1), a client.  Two gids:
 *   GA  two-phase, on P1 and P2;
 *   GB  one-phase, on P1 (marker row; probes fence it with a "not committed" marker).
 * Each gid is begun at most once, by whichever coordinator believes it owns the shard, in
 * that coordinator's epoch (the epoch is part of the gid's name: g_ep).
 *
 * One step of a process = one atomic block.  A store statement is one step: the fenced
 * decision write (FOR SHARE of the shard row, then INSERT) is atomic with respect to the
 * takeover's UPDATE of that row, because the row lock serializes them (READ COMMITTED
 * re-reads a locked row that changed).  A participant's handling of one message is one step
 * (one PostgreSQL transaction: PREPARE TRANSACTION, COMMIT PREPARED, the one-phase COMMIT with
 * its marker, the probe's INSERT of the fence).  Messages coordinator <-> participant are a
 * bag (unordered, so reordering is included): a send may be lost, a delivery may leave the
 * message in the bag (a duplicate).  In-doubt queries of participants and outcome queries of
 * the client are one step (request and answer; a lost one is a step not taken).
 *
 * Failures, each within a budget, and only before `fover' (failures over): coordinator crash
 * (memory lost; restarts empty), pause (the process stops and later resumes with its stale
 * beliefs: a zombie), message loss and duplication, a store statement whose outcome is
 * unknown (applied or not; if applied, maybe only on the primary), a store failover (Patroni
 * promotes the synchronous standby: what was committed on the primary but not yet on the
 * standby is lost), the lease "expiring" at any moment (time is not modelled: fencing must
 * not depend on it).
 *
 * Properties: ltl safe (atomicity, answers are true; pan -DSAFETY -N safe) and ltl term
 * (termination once failures are over; pan -a -f -N term).  Run them all with
 * scripts/model-check.sh.  The model includes the fixes docs/ha.md ("Model", "Findings")
 * proposes; each error found is kept as a BUG_ variant.
 *
 * Compile flags (spin -DNAME): bugs that must be caught
 *   BUG_NO_FENCE        the decision write does not check the epoch
 *   BUG_PRESUME_EARLY   the taker acts as owner (answers from the store) before its epoch bump
 *                       came back committed
 *   BUG_FENCED_ABORTS   docs/ha.md as first written: a FENCED write answers its clients ABORTED
 *                       (a repeat of an UNKNOWN write whose first attempt landed is fenced too)
 *   BUG_PLAIN_READ      outcome answers from the store use a plain SELECT, which can see a
 *                       decision (or an epoch) committed on the primary but not yet on the
 *                       synchronous standby (a cancelled sync-rep wait / a broken connection
 *                       makes it visible), lost by a failover
 *   BUG_NONOWNER_PRESUME a coordinator that is not the gid's owner answers "aborted" for a gid
 *                       of the shard's current epoch without a decision (recovery.md's
 *                       "current epoch: presumed abort" applied by the wrong process)
 *   BUG_READBACK_UNCOVERED the fix of BUG_FENCED_ABORTS (read the decision back) without
 *                       the row lock that makes the fenced transaction's commit wait for the
 *                       standby: the read-back decision may be lost by a failover
 *   BUG_NO_ASK          participants never ask about their prepared gids (termination must
 *                       fail: a prepared branch whose coordinator crashed is never resolved)
 * CRASH_DOWN: a crashed coordinator stays down until a restart step (default: it restarts
 *   at once with an empty memory; a down process is a running one that does nothing, plus
 *   the lease expiring, which the model allows at any moment anyway).
 * PAUSE (budget, default 0): explicit SIGSTOP/SIGCONT of a coordinator.  Not needed for
 *   the zombie: the lease may expire at any moment, so the old owner is always able to keep
 *   acting on stale beliefs after a takeover, which is what a paused-then-resumed owner does.
 * Budgets: LOSS DUP CRASH PAUSE UNK FAILOVER (defaults below), MAXEP (epochs reachable while
 * failures go on).
 */

#ifndef LOSS
#define LOSS 1
#endif
#ifndef DUP
#define DUP 1
#endif
#ifndef CRASH
#define CRASH 1
#endif
#ifndef PAUSE
#define PAUSE 0
#endif
#ifndef UNK
#define UNK 1
#endif
#ifndef FAILOVER
#define FAILOVER 1
#endif
#ifndef MAXEP
#define MAXEP 3
#endif

#define GA 0            /* two-phase gid, P1 + P2 */
#define GB 1            /* one-phase gid, P1 */

#define I(c,p,g)  ((c)*4 + (p)*2 + (g))     /* message slot: coordinator, participant, gid */
#define CG(c,g)   ((c)*2 + (g))
#define PG(p,g)   ((p)*2 + (g))

/* ---- the store (PostgreSQL primary, and what its synchronous standby has) ---- */
byte s_epoch = 1;       /* dtx_store.shard.epoch on the primary */
byte s_owner = 1;       /* dtx_store.shard.owner: coordinator index + 1 */
byte r_epoch = 1;       /* the same row as replicated to the standby */
byte r_owner = 1;
byte dec[2];            /* dtx_store.decision: 0 none, 1 committed and replicated,
                           2 committed on the primary only (visible; lost by a failover) */
byte g_ep[2];           /* the epoch in the gid's name; 0 = not begun */

/* ---- coordinators: memory (lost by a crash) ---- */
#define C_NONE   0
#define C_PREP   1      /* PREPAREs sent, collecting votes */
#define C_DECIDE 2      /* all YES: writing the decision (repeated while unknown) */
#define C_COMMIT 3      /* decision durable: phase 2, until every participant acknowledged */
#define C_ONE    4      /* one-phase COMMIT sent */
#define C_PROBE  5      /* one-phase answer lost: probing */
#define C_DONEC  6      /* remembered: committed */
#define C_DONEA  7      /* remembered: aborted */
byte up[2];             /* 0 down, 1 running, 2 paused */
byte my_ep[2];          /* the epoch it believes it holds; 0 = owns nothing */
byte cst[4];            /* per coordinator, per gid */
byte vm[4];             /* YES votes received (bit per participant) */
byte am[4];             /* phase-2 acknowledgements received */

/* ---- participants ---- */
byte pst[4];            /* per participant, per gid: 0 nothing, 1 prepared, 2 committed,
                           3 rolled back / refused */
byte pknown[2];         /* highest epoch of the shard known */
byte marker[4];         /* dtx.one_phase row: 0 none, 1 committed = true, 2 false (fence) */

/* ---- messages (a bag: one slot per kind, coordinator, participant, gid) ---- */
bit  m_prep[8];         /* PREPARE (two-phase) or one-phase COMMIT */
byte m_vote[8];         /* reply: 1 YES / DONE ok, 2 NO / DONE failed */
bit  m_cp[8];           /* COMMIT PREPARED */
bit  m_rb[8];           /* ROLLBACK PREPARED */
bit  m_ack[8];          /* phase 2 done */
bit  m_probe[8];        /* OUTCOME_QUERY as a probe */
byte m_pans[8];         /* probe's answer: 1 committed, 2 not committed (fenced now) */

/* ---- failures ---- */
bool fover;             /* failures are over */
byte lossb = LOSS, dupb = DUP, crashb = CRASH, pauseb = PAUSE, unkb = UNK, fob = FAILOVER;

/* ---- scratch, used within one atomic step only: not part of the state ---- */
hidden byte k, e;
hidden byte pass;

/* ---- ghost: answers given to the client (bit 0 committed, bit 1 aborted) ---- */
byte told[2];

inline send(b) {
    if
    :: b = 1
    :: !fover && lossb > 0 -> lossb--          /* lost */
    fi
}
inline sendv(b, v) {
    if
    :: b = v
    :: !fover && lossb > 0 -> lossb--
    fi
}
inline take(b) {
    if
    :: b = 0
    :: !fover && dupb > 0 -> dupb--            /* stays: delivered again later */
    fi
}

/* A clean commit on the primary: it waited for the synchronous standby, and WAL is
   replicated in order, so everything committed before it is on the standby now. */
inline replicate() {
    r_epoch = s_epoch; r_owner = s_owner;
    if :: dec[GA] == 2 -> dec[GA] = 1 :: else fi;
    if :: dec[GB] == 2 -> dec[GB] = 1 :: else fi
}

/* Patroni promotes the standby. */
inline failover() {
    printf("MSC: store failover: the standby (epoch %d, owner C%d) is promoted; decisions only on the old primary are lost\n", r_epoch, r_owner);
    s_epoch = r_epoch; s_owner = r_owner;
    if :: dec[GA] == 2 -> dec[GA] = 0 :: else fi;
    if :: dec[GB] == 2 -> dec[GB] = 0 :: else fi
}

/* ===================== coordinator ===================== */

inline forget(c) {
    my_ep[c] = 0;
    cst[CG(c,GA)] = C_NONE; cst[CG(c,GB)] = C_NONE;
    vm[CG(c,GA)] = 0; am[CG(c,GA)] = 0
}

inline crash(c) {
#ifdef CRASH_DOWN
    up[c] = 0;          /* down until restarted */
#endif
    printf("MSC: C%d crashes (restarts with an empty memory)\n", c+1);
    forget(c);          /* restarted with an empty memory */
    /* replies queued for the dead process are gone */
    m_vote[I(c,0,GA)] = 0; m_vote[I(c,1,GA)] = 0; m_vote[I(c,0,GB)] = 0;
    m_ack[I(c,0,GA)] = 0; m_ack[I(c,1,GA)] = 0;
    m_pans[I(c,0,GB)] = 0
}

/* After the takeover's clean commit, a new transaction reads the decisions: each of an
   earlier epoch becomes a committing transaction again.  Gids of closed epochs without a
   decision are aborted by the answers (below), one-phase ones after probing. */
inline redrive(c) {
    if
    :: g_ep[GA] > 0 && g_ep[GA] < my_ep[c] && dec[GA] != 0 ->
        printf("MSC: C%d re-drives the decision of GA\n", c+1);
        cst[CG(c,GA)] = C_COMMIT; am[CG(c,GA)] = 0;
        send(m_cp[I(c,0,GA)]); send(m_cp[I(c,1,GA)])
    :: else
    fi
}

/* UPDATE shard SET epoch = epoch + 1, owner = me WHERE owner = me OR lease expired */
inline takeover(c) {
    if
    :: s_epoch++; s_owner = c + 1; replicate();            /* clean commit */
       my_ep[c] = s_epoch; printf("MSC: C%d takes the shard: epoch %d (clean commit)\n", c+1, s_epoch);
       redrive(c)
    :: !fover && unkb > 0 -> unkb--;                       /* outcome unknown */
       e = s_epoch + 1;
       if
       :: printf("MSC: C%d takeover UNKNOWN (not applied)\n", c+1)
       :: s_epoch++; s_owner = c + 1;                      /* on the primary only */
          printf("MSC: C%d takeover UNKNOWN (epoch %d on the primary only)\n", c+1, s_epoch)
       :: s_epoch++; s_owner = c + 1; replicate();         /* applied, the answer lost */
          printf("MSC: C%d takeover UNKNOWN (epoch %d, replicated)\n", c+1, s_epoch)
       fi;
#ifdef BUG_PRESUME_EARLY
       my_ep[c] = e; redrive(c)                            /* acts as owner anyway */
#else
       skip                                                /* owns nothing; tries again */
#endif
    fi
}

inline committed(c) {
    printf("MSC: C%d: decision of GA durable: client told COMMITTED, COMMIT PREPARED sent\n", c+1);
    told[GA] = told[GA] | 1;
    cst[CG(c,GA)] = C_COMMIT; am[CG(c,GA)] = 0;
    send(m_cp[I(c,0,GA)]); send(m_cp[I(c,1,GA)])
}

inline abort2pc(c) {
    printf("MSC: C%d aborts GA: client told ABORTED, ROLLBACK sent\n", c+1);
    told[GA] = told[GA] | 2;
    cst[CG(c,GA)] = C_DONEA; vm[CG(c,GA)] = 0;
    send(m_rb[I(c,0,GA)]); send(m_rb[I(c,1,GA)])
}

/* Fenced: the coordinator lost the shard.  It stops deciding and drops its transactions
   (the new owner drives the decisions; participants ask it about the rest). */
inline fenced(c) {
    printf("MSC: C%d: decision write of GA FENCED (store epoch %d owner C%d, mine %d)\n", c+1, s_epoch, s_owner, my_ep[c]);
#ifdef BUG_FENCED_ABORTS
    told[GA] = told[GA] | 2;                               /* "no decision can be written" */
    printf("MSC: C%d tells the client GA ABORTED (decision in the store: %d)\n", c+1, dec[GA]);
#else
#ifndef BUG_READBACK_UNCOVERED
    replicate();        /* read back in the same, row-locked transaction: covered by its commit */
#endif
    if
    :: dec[GA] != 0 -> told[GA] = told[GA] | 1             /* an earlier UNKNOWN attempt landed */
       printf("MSC: C%d reads the decision back: client told COMMITTED\n", c+1)
    :: else -> told[GA] = told[GA] | 2;
       printf("MSC: C%d: no decision: client told ABORTED\n", c+1)
    fi;
#endif
    forget(c)
}

/* The fenced decision write (GA), group commit of one gid. */
inline decide(c) {
#ifdef BUG_NO_FENCE
    pass = 1;
#else
    pass = (s_epoch == my_ep[c] && s_owner == c + 1);
#endif
    if
    :: /* clean commit */
       if
       :: pass ->
           if :: dec[GA] == 0 -> dec[GA] = 1 :: else fi;   /* ON CONFLICT DO NOTHING */
           replicate();
           committed(c)
       :: else -> fenced(c)
       fi
    :: !fover && unkb > 0 -> unkb--;                       /* unknown: kept, repeated */
       if
       :: printf("MSC: C%d decision write of GA UNKNOWN (not applied)\n", c+1)
       :: pass && dec[GA] == 0 -> dec[GA] = 2;             /* committed locally only */
          printf("MSC: C%d decision write of GA UNKNOWN (committed on the primary, not on the standby)\n", c+1)
       :: pass && dec[GA] == 0 -> dec[GA] = 1; replicate();
          printf("MSC: C%d decision write of GA UNKNOWN (committed and replicated)\n", c+1)
       fi
    fi
}

/* The answer a coordinator gives to an outcome query (client) */
inline answer_client(c, g) {
    k = told[g];
    if
    :: my_ep[c] > 0 && g_ep[g] == my_ep[c] ->              /* its own epoch: from memory */
        if
        :: cst[CG(c,g)] == C_COMMIT || cst[CG(c,g)] == C_DONEC -> told[g] = told[g] | 1
        :: cst[CG(c,g)] == C_DONEA -> told[g] = told[g] | 2
        :: else                                            /* in progress (or never issued) */
        fi
    :: else ->                                             /* any other: from the store */
#ifndef BUG_PLAIN_READ
        replicate();    /* read, then a clean commit: answered only if it is on the standby */
#endif
        if
        :: dec[g] != 0 -> told[g] = told[g] | 1
        :: dec[g] == 0 && g_ep[g] < s_epoch && g == GA -> told[g] = told[g] | 2
        :: dec[g] == 0 && g_ep[g] < s_epoch && g == GB ->  /* probe the epoch's databases */
            if :: marker[PG(0,GB)] == 0 -> marker[PG(0,GB)] = 2 :: else fi;
            if :: marker[PG(1,GB)] == 0 -> marker[PG(1,GB)] = 2 :: else fi;
            if
            :: marker[PG(0,GB)] == 1 || marker[PG(1,GB)] == 1 -> told[g] = told[g] | 1
            :: else -> told[g] = told[g] | 2
            fi
#ifdef BUG_NONOWNER_PRESUME
        :: dec[g] == 0 && g_ep[g] == s_epoch && g == GA -> told[g] = told[g] | 2
#endif
        :: else                                            /* current epoch: in progress */
        fi
    fi;
    if
    :: told[g] != k -> printf("MSC: client asks C%d about G%c: told %d (1 committed, 2 aborted, 3 both) [store epoch %d, decision %d]\n", c+1, (g == GA -> 'A' : 'B'), told[g], s_epoch, dec[g])
    :: else
    fi
}

/* The answer to a participant's in-doubt query (the gid is prepared there) */
inline answer_part(c, p) {
    k = 0;
    if
    :: g_ep[GA] == my_ep[c] ->
        if
        :: cst[CG(c,GA)] == C_DONEC -> k = 1
        :: cst[CG(c,GA)] == C_DONEA || cst[CG(c,GA)] == C_NONE -> k = 2
        :: else                                            /* live: in progress */
        fi
    :: g_ep[GA] < my_ep[c] ->                              /* closed epoch: the store */
        if :: dec[GA] != 0 -> k = 1 :: else -> k = 2 fi
    :: else                                                /* not issued by it: refused */
    fi;
    if
    :: k == 1 -> pst[PG(p,GA)] = 2; printf("MSC: P%d asks C%d about GA: commit -> COMMIT PREPARED\n", p+1, c+1)
    :: k == 2 -> pst[PG(p,GA)] = 3; printf("MSC: P%d asks C%d about GA: abort -> ROLLBACK PREPARED\n", p+1, c+1)
    :: else
    fi
}

#define LEASE_CAN_EXPIRE (!fover || up[s_owner-1] != 1 || my_ep[s_owner-1] != s_epoch)

proctype coord(byte c) {
end:
    do
    /* the operating system */
    :: atomic { up[c] == 2 -> up[c] = 1 }                  /* resumed: a zombie */
    :: atomic { up[c] == 0 -> up[c] = 1 }                  /* restarted, memory empty */
    :: atomic { up[c] == 1 && !fover && crashb > 0 -> crashb--; crash(c) }
    :: atomic { up[c] == 1 && !fover && pauseb > 0 -> pauseb--; up[c] = 2 }

    /* takeover (or start: take the shard it owned) */
    :: atomic { up[c] == 1 && my_ep[c] == 0 && (s_epoch < MAXEP || fover) &&
                (s_owner == c + 1 || LEASE_CAN_EXPIRE) -> takeover(c) }

    /* a client's transaction, begun and committed here */
    :: atomic { up[c] == 1 && my_ep[c] > 0 && g_ep[GA] == 0 ->
                g_ep[GA] = my_ep[c]; cst[CG(c,GA)] = C_PREP; vm[CG(c,GA)] = 0;
                printf("MSC: C%d begins GA in epoch %d, sends PREPARE\n", c+1, my_ep[c]);
                send(m_prep[I(c,0,GA)]); send(m_prep[I(c,1,GA)]) }
    :: atomic { up[c] == 1 && my_ep[c] > 0 && g_ep[GB] == 0 ->
                g_ep[GB] = my_ep[c]; cst[CG(c,GB)] = C_ONE;
                printf("MSC: C%d begins GB in epoch %d, sends the one-phase COMMIT\n", c+1, my_ep[c]);
                send(m_prep[I(c,0,GB)]) }

    /* GA: votes, timeout, decision, phase 2 */
    :: atomic { up[c] == 1 && m_vote[I(c,0,GA)] != 0 ->
                k = m_vote[I(c,0,GA)]; take(m_vote[I(c,0,GA)]);
                if
                :: cst[CG(c,GA)] == C_PREP && k == 1 -> vm[CG(c,GA)] = vm[CG(c,GA)] | 1;
                   if :: vm[CG(c,GA)] == 3 -> cst[CG(c,GA)] = C_DECIDE; vm[CG(c,GA)] = 0 :: else fi
                :: cst[CG(c,GA)] == C_PREP && k == 2 -> abort2pc(c)
                :: else                                    /* stale */
                fi }
    :: atomic { up[c] == 1 && m_vote[I(c,1,GA)] != 0 ->
                k = m_vote[I(c,1,GA)]; take(m_vote[I(c,1,GA)]);
                if
                :: cst[CG(c,GA)] == C_PREP && k == 1 -> vm[CG(c,GA)] = vm[CG(c,GA)] | 2;
                   if :: vm[CG(c,GA)] == 3 -> cst[CG(c,GA)] = C_DECIDE; vm[CG(c,GA)] = 0 :: else fi
                :: cst[CG(c,GA)] == C_PREP && k == 2 -> abort2pc(c)
                :: else
                fi }
    :: atomic { up[c] == 1 && cst[CG(c,GA)] == C_PREP -> abort2pc(c) }    /* vote timeout */
    :: atomic { up[c] == 1 && cst[CG(c,GA)] == C_DECIDE -> decide(c) }
    :: atomic { up[c] == 1 && m_ack[I(c,0,GA)] -> take(m_ack[I(c,0,GA)]);
                if
                :: cst[CG(c,GA)] == C_COMMIT -> am[CG(c,GA)] = am[CG(c,GA)] | 1;
                   if :: am[CG(c,GA)] == 3 -> cst[CG(c,GA)] = C_DONEC; am[CG(c,GA)] = 0 :: else fi
                :: else
                fi }
    :: atomic { up[c] == 1 && m_ack[I(c,1,GA)] -> take(m_ack[I(c,1,GA)]);
                if
                :: cst[CG(c,GA)] == C_COMMIT -> am[CG(c,GA)] = am[CG(c,GA)] | 2;
                   if :: am[CG(c,GA)] == 3 -> cst[CG(c,GA)] = C_DONEC; am[CG(c,GA)] = 0 :: else fi
                :: else
                fi }
    /* phase 2 resent until acknowledged */
    :: atomic { up[c] == 1 && cst[CG(c,GA)] == C_COMMIT && (am[CG(c,GA)] & 1) == 0 &&
                !m_cp[I(c,0,GA)] && !m_ack[I(c,0,GA)] -> send(m_cp[I(c,0,GA)]) }
    :: atomic { up[c] == 1 && cst[CG(c,GA)] == C_COMMIT && (am[CG(c,GA)] & 2) == 0 &&
                !m_cp[I(c,1,GA)] && !m_ack[I(c,1,GA)] -> send(m_cp[I(c,1,GA)]) }

    /* GB: one-phase answer, answer lost (probe), probe answer */
    :: atomic { up[c] == 1 && m_vote[I(c,0,GB)] != 0 ->
                k = m_vote[I(c,0,GB)]; take(m_vote[I(c,0,GB)]);
                if
                :: (cst[CG(c,GB)] == C_ONE || cst[CG(c,GB)] == C_PROBE) && k == 1 ->
                    told[GB] = told[GB] | 1; cst[CG(c,GB)] = C_DONEC
                :: (cst[CG(c,GB)] == C_ONE || cst[CG(c,GB)] == C_PROBE) && k == 2 ->
                    told[GB] = told[GB] | 2; cst[CG(c,GB)] = C_DONEA
                :: else
                fi }
    :: atomic { up[c] == 1 && cst[CG(c,GB)] == C_ONE -> cst[CG(c,GB)] = C_PROBE }
    :: atomic { up[c] == 1 && cst[CG(c,GB)] == C_PROBE && !m_probe[I(c,0,GB)] &&
                m_pans[I(c,0,GB)] == 0 -> send(m_probe[I(c,0,GB)]) }
    :: atomic { up[c] == 1 && m_pans[I(c,0,GB)] != 0 ->
                k = m_pans[I(c,0,GB)]; take(m_pans[I(c,0,GB)]);
                if
                :: cst[CG(c,GB)] == C_PROBE && k == 1 -> told[GB] = told[GB] | 1; cst[CG(c,GB)] = C_DONEC
                :: cst[CG(c,GB)] == C_PROBE && k == 2 -> told[GB] = told[GB] | 2; cst[CG(c,GB)] = C_DONEA
                :: else
                fi }
    od
}

/* ===================== participant: requests ===================== */

inline learn(p, e) {
    if :: e > pknown[p] -> pknown[p] = e :: else fi
}

inline prepare(c, p) {
    if
    :: pst[PG(p,GA)] == 1 -> sendv(m_vote[I(c,p,GA)], 1)       /* a duplicate: same vote */
    :: pst[PG(p,GA)] >= 2                                       /* finished: ignored */
    :: pst[PG(p,GA)] == 0 && g_ep[GA] < pknown[p] ->            /* closed epoch: refused */
        sendv(m_vote[I(c,p,GA)], 2); printf("MSC: P%d refuses GA of closed epoch %d\n", p+1, g_ep[GA])
    :: pst[PG(p,GA)] == 0 && g_ep[GA] >= pknown[p] ->
        learn(p, g_ep[GA]); pst[PG(p,GA)] = 1; sendv(m_vote[I(c,p,GA)], 1);
        printf("MSC: P%d prepares GA (epoch %d) for C%d, votes YES\n", p+1, g_ep[GA], c+1)
    fi
}

inline commit1(c, p) {
    /* a gid it has handled gets the same answer again (a duplicate request) */
    if
    :: pst[PG(p,GB)] == 2 -> sendv(m_vote[I(c,p,GB)], 1)
    :: pst[PG(p,GB)] == 3 -> sendv(m_vote[I(c,p,GB)], 2)
    :: pst[PG(p,GB)] == 0 && g_ep[GB] < pknown[p] ->           /* closed epoch: refused */
        pst[PG(p,GB)] = 3; sendv(m_vote[I(c,p,GB)], 2)
    :: pst[PG(p,GB)] == 0 && g_ep[GB] >= pknown[p] -> learn(p, g_ep[GB]);
        if
        :: marker[PG(p,GB)] == 0 ->                             /* marker + COMMIT */
            pst[PG(p,GB)] = 2; marker[PG(p,GB)] = 1; sendv(m_vote[I(c,p,GB)], 1);
            printf("MSC: P%d commits GB one-phase (marker true)\n", p+1)
        :: else ->                                              /* fenced by a probe: 23505 */
            pst[PG(p,GB)] = 3; sendv(m_vote[I(c,p,GB)], 2)
        fi
    fi
}

inline commit_prepared(c, p) {
    if :: pst[PG(p,GA)] == 1 -> pst[PG(p,GA)] = 2; printf("MSC: P%d COMMIT PREPARED GA (from C%d)\n", p+1, c+1) :: else fi;  /* else 42704: done */
    send(m_ack[I(c,p,GA)])
}

inline rollback_prepared(c, p) {
    if :: pst[PG(p,GA)] == 1 -> pst[PG(p,GA)] = 3; printf("MSC: P%d ROLLBACK PREPARED GA (from C%d)\n", p+1, c+1) :: else fi
}

inline probe(c, p) {
    if :: marker[PG(p,GB)] == 0 -> marker[PG(p,GB)] = 2 :: else fi;
    sendv(m_pans[I(c,p,GB)], (marker[PG(p,GB)] == 1 -> 1 : 2))
}

proctype part(byte p) {
end:
    do
    :: atomic { m_prep[I(0,p,GA)] -> take(m_prep[I(0,p,GA)]); prepare(0, p) }
    :: atomic { m_prep[I(1,p,GA)] -> take(m_prep[I(1,p,GA)]); prepare(1, p) }
    :: atomic { m_prep[I(0,p,GB)] -> take(m_prep[I(0,p,GB)]); commit1(0, p) }
    :: atomic { m_prep[I(1,p,GB)] -> take(m_prep[I(1,p,GB)]); commit1(1, p) }
    :: atomic { m_cp[I(0,p,GA)] -> take(m_cp[I(0,p,GA)]); commit_prepared(0, p) }
    :: atomic { m_cp[I(1,p,GA)] -> take(m_cp[I(1,p,GA)]); commit_prepared(1, p) }
    :: atomic { m_rb[I(0,p,GA)] -> take(m_rb[I(0,p,GA)]); rollback_prepared(0, p) }
    :: atomic { m_rb[I(1,p,GA)] -> take(m_rb[I(1,p,GA)]); rollback_prepared(1, p) }
    :: atomic { m_probe[I(0,p,GB)] -> take(m_probe[I(0,p,GB)]); probe(0, p) }
    :: atomic { m_probe[I(1,p,GB)] -> take(m_probe[I(1,p,GB)]); probe(1, p) }
    od
}

/* ===================== participant: registration, in-doubt resolution ===================== */

/* Asked of the shard's owner; once failures are over, of the store's owner (a non-owner
   answers "not mine, ask X"). */
#define ASKABLE(c) (up[c] == 1 && my_ep[c] > 0 && (!fover || s_owner == (c) + 1))

proctype resolver(byte p) {
end:
    do
#ifndef BUG_NO_ASK
    :: atomic { pst[PG(p,GA)] == 1 && ASKABLE(0) -> answer_part(0, p) }
    :: atomic { pst[PG(p,GA)] == 1 && ASKABLE(1) -> answer_part(1, p) }
#endif
    :: atomic { up[0] == 1 && my_ep[0] > pknown[p] -> pknown[p] = my_ep[0];    /* REGISTER_OK */
                printf("MSC: P%d learns epoch %d from C1\n", p+1, pknown[p]) }
    :: atomic { up[1] == 1 && my_ep[1] > pknown[p] -> pknown[p] = my_ep[1];
                printf("MSC: P%d learns epoch %d from C2\n", p+1, pknown[p]) }
    od
}

/* ===================== client: outcome queries ===================== */

proctype client() {
end:
    do
    :: atomic { g_ep[GA] > 0 && up[0] == 1 -> answer_client(0, GA) }
    :: atomic { g_ep[GA] > 0 && up[1] == 1 -> answer_client(1, GA) }
    :: atomic { g_ep[GB] > 0 && up[0] == 1 -> answer_client(0, GB) }
    :: atomic { g_ep[GB] > 0 && up[1] == 1 -> answer_client(1, GB) }
    od
}

/* ===================== environment: store failover, end of failures ===================== */

proctype env() {
    do
    :: atomic { !fover && fob > 0 -> fob--; failover() }
    :: fover = 1; break
    od
}

/* ===================== properties ===================== */

#define COMMITTED(g)  (pst[PG(0,g)] == 2 || pst[PG(1,g)] == 2)
#define ABORTED(g)    (pst[PG(0,g)] == 3 || pst[PG(1,g)] == 3 || \
                       ((g) == GB && marker[PG(0,GB)] == 2))
/* atomicity: no gid committed on one participant and rolled back on another */
#define ATOMIC        (!(COMMITTED(GA) && ABORTED(GA)))
/* answers are true: told committed => never rolled back; told aborted => never committed */
#define TRUE_ANSWERS  (!((told[GA] & 1) && ABORTED(GA)) && !((told[GA] & 2) && COMMITTED(GA)) && \
                       !((told[GB] & 1) && ABORTED(GB)) && !((told[GB] & 2) && COMMITTED(GB)))
/* termination: no branch left prepared */
#define RESOLVED      (pst[PG(0,GA)] != 1 && pst[PG(1,GA)] != 1)

ltl safe { [] (ATOMIC && TRUE_ANSWERS) }
ltl term { [] (fover -> <> RESOLVED) }

init {
    atomic {
        up[0] = 1; up[1] = 1;
        my_ep[0] = 1;                  /* C1 owns the shard at epoch 1 */
        pknown[0] = 1; pknown[1] = 1;  /* registered with C1 */
        run env();
        run coord(0); run coord(1);
        run part(0); run part(1);
        run resolver(0); run resolver(1);
        run client()
    }
}
