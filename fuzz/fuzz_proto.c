/*  fuzz_proto - libFuzzer target: the wire codec on a received message.

    Input: one flags byte, then the message.  flags bit 0: as received on
    a ROUTER (a routing-id frame comes first); bit 1: the rest is several
    frames, each a length byte then that many bytes (a peer sending a
    multipart message), else the rest is the one message frame.  This is
    dtx_proto_recv after zmsg_recv (dtx_proto_decode_zmsg).

    Checks beyond the sanitizers: a decoded message encodes to a frame
    that decodes again, to the same bytes (the codec is its own inverse),
    and its copy (dtx_proto_dup) does too.  */
#include "dtx_proto.h"

static void
s_touch (dtx_proto_t *msg)
{
    //  Read every field, so that ASan sees any bad pointer the decoder left
    size_t sum = strlen (dtx_proto_command (msg)) + strlen (dtx_proto_gid (msg))
               + strlen (dtx_proto_name (msg)) + strlen (dtx_proto_sqlstate (msg))
               + strlen (dtx_proto_text (msg));
    char **array;
    size_t count = dtx_proto_params (msg, &array);
    for (size_t i = 0; i < count; i++)
        sum += array [i]? strlen (array [i]): 0;
    count = dtx_proto_columns (msg, &array);
    for (size_t i = 0; i < count; i++)
        sum += array [i]? strlen (array [i]): 0;
    count = dtx_proto_values (msg, &array);
    for (size_t i = 0; i < count; i++)
        sum += array [i]? strlen (array [i]): 0;
    (void) sum;
}

static zframe_t *
s_encode_checked (dtx_proto_t *msg)
{
    zframe_t *frame = dtx_proto_encode (msg);
    dtx_proto_t *again = NULL;
    char err [256] = "";
    if (dtx_proto_decode (frame, &again, err, sizeof err) != 0) {
        fprintf (stderr, "fuzz_proto: a decoded message encodes to a frame that does not decode: %s\n", err);
        abort ();
    }
    zframe_t *frame2 = dtx_proto_encode (again);
    if (!zframe_eq (frame, frame2)) {
        fprintf (stderr, "fuzz_proto: encode (decode (encode (msg))) differs from encode (msg)\n");
        abort ();
    }
    zframe_destroy (&frame2);
    dtx_proto_destroy (&again);
    return frame;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data [0];
    data++, size--;
    zmsg_t *zmsg = zmsg_new ();
    if (flags & 1)
        zmsg_addmem (zmsg, "\0\x80\x00\x00\x29", 5);       //  a ROUTER's routing id
    if (flags & 2) {
        while (size > 0) {
            size_t length = data [0];
            data++, size--;
            if (length > size)
                length = size;
            zmsg_addmem (zmsg, data, length);
            data += length, size -= length;
        }
    }
    else
        zmsg_addmem (zmsg, data, size);

    dtx_proto_t *msg = NULL;
    char err [256] = "";
    int rc = dtx_proto_decode_zmsg (&zmsg, (flags & 1) != 0, &msg, err, sizeof err);
    assert (zmsg == NULL);
    if (rc == 0) {
        assert (msg);
        s_touch (msg);
        zframe_t *frame = s_encode_checked (msg);
        dtx_proto_t *copy = dtx_proto_dup (msg);
        zframe_t *frame_copy = s_encode_checked (copy);
        if (!zframe_eq (frame, frame_copy)) {
            fprintf (stderr, "fuzz_proto: dtx_proto_dup changed the message\n");
            abort ();
        }
        zframe_destroy (&frame);
        zframe_destroy (&frame_copy);
        dtx_proto_destroy (&copy);
        dtx_proto_destroy (&msg);
    }
    else if (msg || rc != -2 || *err == 0) {
        fprintf (stderr, "fuzz_proto: a refused message must be -2, with a reason, and no message\n");
        abort ();
    }
    return 0;
}
