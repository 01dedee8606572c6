/** The OpenAPI 3.1 document, generated from the route table (never written by hand). */
import type { RouteSpec } from './route.js';

/** `extraPaths`: operations registered apart from the route table (the session routes). */
export function buildOpenApi(routes: readonly RouteSpec[], serverUrl: string, extraPaths: Readonly<Record<string, Record<string, unknown>>> = {}): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = { ...extraPaths };
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters = [
      ...Object.entries((route.params?.properties ?? {}) as Record<string, unknown>).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
      ...Object.entries((route.query?.properties ?? {}) as Record<string, unknown>).map(([name, schema]) => ({ name, in: 'query', required: false, schema })),
    ];
    const operation: Record<string, unknown> = {
      'operationId': route.operationId,
      'summary': route.summary,
      'x-roles': route.roles,
      ...(route.roles === 'public' ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      'responses': {
        'default': { description: 'An error: `{"error": {"code", "message"}}` with a code from docs/errors.md', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        '2XX': { description: 'Success' },
      },
    };
    if (route.body) operation.requestBody = { required: true, content: { 'application/json': { schema: route.body } } };
    if (route.rawBody) {
      operation.requestBody = { required: true, content: Object.fromEntries(route.rawBody.contentTypes.map((t) => [t, { schema: { type: 'string', format: 'binary', maxLength: route.rawBody?.maxBytesByType?.[t] ?? route.rawBody?.maxBytes } }])) };
    }
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Provisio API', version: '1' },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }, { session: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token (provisio user tokens start with "pvs_")' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: '__Host-provisio_session',
          description: 'A browser session from POST /api/v1/session (docs/web.md); POST and DELETE also need its X-CSRF-Token header',
        },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
        },
      },
    },
    paths,
  };
}
