/*
 * blob.h: little-endian fields of a device state blob (lib/virtio:
 * the virtqueue, the virtio-mmio transport and the device models), one
 * byte at a time so the layout is the same on every host. Private to
 * lib/virtio.
 *
 * The caller sizes the buffer first (a writer is handed at least the
 * bytes it writes; a reader's length was checked against the layout's
 * fixed size), so these neither fail nor check.
 */
#ifndef LV_VIRTIO_BLOB_H
#define LV_VIRTIO_BLOB_H

#include <stddef.h>
#include <stdint.h>

struct lv_blob_w {
    uint8_t *p; /* borrowed */
    size_t n;   /* bytes written so far */
};

struct lv_blob_r {
    const uint8_t *p; /* borrowed */
    size_t n;         /* bytes read so far */
};

static inline void lv_blob_put(struct lv_blob_w *w, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        w->p[w->n++] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t lv_blob_get(struct lv_blob_r *r, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->n++] << (8 * i);
    return v;
}

#endif
