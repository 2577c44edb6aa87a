/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The asynchronous close of an object that owns libuv handles, in one place.
 *
 * An object's jp_<x>_close(x, closed, arg) stops its work, closes its handles and frees
 * itself when the last handle's close callback has run; then it calls closed(arg). A
 * second close while the first is under way does nothing (libuv aborts on closing a
 * handle twice). Usage (HACKING.md "Closing"):
 *
 *     void jp_x_close(struct jp_x *x, void (*closed)(void *), void *arg)
 *     {
 *         if (!x) { jp_closer_none(closed, arg); return; }
 *         if (!jp_closer_begin(&x->closer, closed, arg))
 *             return;                                   // already closing
 *         ... cancel transfers, stop timers ...
 *         jp_closer_close(&x->closer, (uv_handle_t *)&x->timer, x_handle_closed_cb);
 *     }
 *
 *     static void x_handle_closed_cb(uv_handle_t *h)
 *     {
 *         struct jp_x *x = h->data;
 *         void (*closed)(void *); void *arg;
 *         if (!jp_closer_done(&x->closer, &closed, &arg))
 *             return;                                   // more handles to go
 *         free_x(x);
 *         jp_closer_none(closed, arg);
 *     }
 */
#ifndef JP_UTIL_CLOSER_H
#define JP_UTIL_CLOSER_H

#include <uv.h>

struct jp_closer {
	int closing;
	unsigned pending;          /* handles whose close callback has not run yet */
	void (*closed)(void *arg);
	void *closed_arg;
};

/* Start closing. Returns 1, having recorded closed(arg), or 0 if a close is already
 * under way (the caller then does nothing). */
static inline int jp_closer_begin(struct jp_closer *c, void (*closed)(void *arg), void *arg)
{
	if (c->closing)
		return 0;
	c->closing = 1;
	c->closed = closed;
	c->closed_arg = arg;
	return 1;
}

/* Close handle h (whose data points to the owner), counting it. */
static inline void jp_closer_close(struct jp_closer *c, uv_handle_t *h, uv_close_cb cb)
{
	c->pending++;
	uv_close(h, cb);
}

/* In a handle's close callback: 1 when it was the last one, with the owner's callback
 * copied out (call it after freeing the owner), else 0. */
static inline int jp_closer_done(struct jp_closer *c, void (**closed)(void *arg), void **arg)
{
	if (c->pending && --c->pending)
		return 0;
	*closed = c->closed;
	*arg = c->closed_arg;
	return 1;
}

/* Call closed(arg) if there is one (the close of a NULL object, or the end of a close). */
static inline void jp_closer_none(void (*closed)(void *arg), void *arg)
{
	if (closed)
		closed(arg);
}

#endif
