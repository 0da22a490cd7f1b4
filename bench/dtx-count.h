/*  dtx-count - the counters bench/dtx-count.c keeps (LD_PRELOAD) and
    dtx-bench reads (docs/performance.md, "The counts pass")
*/
#ifndef DTX_COUNT_H_INCLUDED
#define DTX_COUNT_H_INCLUDED

#include <stdint.h>

#define DTX_COUNT_MAGIC 0x64747863u     //  "dtxc": the file is mapped and counting

typedef struct {
    uint32_t magic;
    uint32_t reserved;
    uint64_t msgs_out;                  //  messages sent on ROUTER/DEALER sockets
    uint64_t msgs_in;                   //  messages received on them
    uint64_t polls;                     //  zmq_poll calls over them (loop turns)
    uint64_t allocs;                    //  malloc, calloc, realloc and the like, every thread
} dtx_count_t;

//  The calling process's counters (when the library is loaded)
dtx_count_t *
    dtx_count_counters (void);

#endif
