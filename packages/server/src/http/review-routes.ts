/** The approver's review of one request (docs/web.md "Devices"): READERS may look. */
import type { RequestId, Role } from '../domain/model.js';
import { reviewRequest } from '../domain/review-request.js';
import type { RouteSpec } from './route.js';
import { componentView, createNames, packageView, requestView } from './views.js';

const READERS: readonly Role[] = ['admin', 'approver', 'auditor'];
const id = { type: 'string', minLength: 1, maxLength: 80, pattern: '^[A-Za-z0-9._:-]+$' } as const;

export const REVIEW_ROUTES: readonly RouteSpec[] = [
  {
    method: 'GET', url: '/api/v1/requests/:id/review', operationId: 'reviewRequest', summary: 'Review a request before deciding: signatures verified again, age, package, component template, policy verdict', roles: READERS,
    params: { type: 'object', additionalProperties: false, properties: { id }, required: ['id'] },
    handler: async ({ deps, params }) => {
      const r = await reviewRequest(deps, params.id as RequestId);
      const names = createNames(deps.store);
      return {
        body: {
          request: await requestView(r.request, names),
          signatures: r.signatures,
          ageSeconds: r.ageSeconds,
          expired: r.isExpired,
          package: r.package ? await packageView(r.package, names) : null,
          component: r.component ? componentView(r.component) : null,
        },
      };
    },
  },
];
