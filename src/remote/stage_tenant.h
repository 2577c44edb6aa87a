/* SPDX-License-Identifier: Apache-2.0 */
/* The sender's tenant split (tenant.header/label/map/default, docs/reference/remote-write.md
 * "Tenants"): pure work over a batch read from the queue. */
#ifndef JP_REMOTE_STAGE_TENANT_H
#define JP_REMOTE_STAGE_TENANT_H

#include <stddef.h>

#include "config.h"
#include "remote/batch.h"

struct jp_stage_tenant;

/* For rc's tenant keys; NULL with errno 0 when rc has no tenant.header (nothing to do),
 * or NULL with errno ENOMEM. name is the remote's, for log lines. Copies what it needs. */
struct jp_stage_tenant *jp_stage_tenant_create(const struct jp_remote_config *rc, const char *name);
void jp_stage_tenant_destroy(struct jp_stage_tenant *t);

/* The header that carries the tenant ("X-Scope-OrgID", ...). */
const char *jp_stage_tenant_header(const struct jp_stage_tenant *t);

/* Order b's series by tenant (stable: by tenant, then as they were) and return in *tenants
 * each series' tenant in the new order (valid until the next call): its tenant.label's
 * value renamed by tenant.map; tenant.default without the label, or when the value cannot
 * be a tenant (a space, a control byte: logged). Returns 0 or -ENOMEM (b unchanged). */
int jp_stage_tenant_order(struct jp_stage_tenant *t, struct jp_batch *b, const char *const **tenants);

#endif
