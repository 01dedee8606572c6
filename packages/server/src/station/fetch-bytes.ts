/**
 * A small HTTP client for revocation data: plain http (the publication listener, RFC 5280
 * §4.2.1.13 / RFC 6960 practice) or https trusting only the given root; a time limit and a size
 * limit on every answer, so a slow or hostile server cannot hold the station.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface FetchedBytes {
  readonly status: number;
  readonly body: Buffer;
}

export type FetchBytes = (method: 'GET' | 'POST', url: string, body?: { bytes: Buffer; contentType: string }) => Promise<FetchedBytes>;

export function createFetchBytes(options: { rootPem: string; timeoutMs: number; maxBytes: number }): FetchBytes {
  return (method, url, body) =>
    new Promise((resolve, reject) => {
      const https = url.startsWith('https:');
      const send = https ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method,
          agent: false,
          timeout: options.timeoutMs,
          ...(https ? { ca: options.rootPem } : {}),
          headers: body ? { 'content-type': body.contentType, 'content-length': String(body.bytes.length) } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > options.maxBytes) {
              req.destroy(new Error(`the answer is larger than ${options.maxBytes} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
      req.on('error', reject);
      if (body) req.write(body.bytes);
      req.end();
    });
}
