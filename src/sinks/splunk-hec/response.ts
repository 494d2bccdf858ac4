/**
 * What a HEC answer means for the request that got it (splunk-hec.md section 5). One pure
 * function, so every status code and HEC code has exactly one meaning and a table test.
 */
export type HecVerdict =
  | { kind: 'ok'; ackId: number | null }
  /** HEC's own 503/5xx, 408, 429, network errors: back-pressure, the same request again after a backoff (or Retry-After), without limit. */
  | { kind: 'retry'; reason: string; retryAfterMs: number | null }
  /** One envelope is bad; `processedBefore` says whether those before it were indexed. */
  | { kind: 'partial'; index: number; processedBefore: boolean; code: number; text: string }
  /** Token or channel configuration rejected: pause, keep the data, tell the operator. */
  | { kind: 'pause'; code: number; text: string }
  /** The body is too large for the server: split it. */
  | { kind: 'too_large' }
  /** Permanently refused for the whole request. */
  | { kind: 'reject'; code: number | null; text: string }
  /**
   * A 4xx/5xx without HEC's JSON body: a proxy or load balancer answered (404/502 while Splunk
   * restarts); retried for SPLUNK_HEC_PROXY_RETRY_S, then dead-lettered `proxy_error`.
   */
  | { kind: 'unknown'; status: number; text: string; retryAfterMs: number | null };

const PAUSE_CODES = new Set([1, 2, 3, 4, 10, 11, 14, 16]);

export function classifyHecResponse(status: number, headers: Record<string, string | string[] | undefined>, body: string): HecVerdict {
  const parsed = parseBody(body);
  const code = parsed?.code ?? null;
  const text = parsed?.text ?? body.slice(0, 200);
  // Any 2xx is success, whatever its code (24/25 only warn of filling queues).
  if (status >= 200 && status < 300) return { kind: 'ok', ackId: typeof parsed?.ackId === 'number' ? parsed.ackId : null };
  const wait = retryAfter(headers['retry-after']);
  // Throttling and timeouts are back-pressure whoever sends them.
  if (status === 408 || status === 429 || (status >= 500 && code !== null)) {
    return { kind: 'retry', reason: `HTTP ${status}${code !== null ? ` code ${code}` : ''}: ${text}`, retryAfterMs: wait };
  }
  if (status === 413) return { kind: 'too_large' };
  if (status === 401 || status === 403 || (code !== null && PAUSE_CODES.has(code))) return { kind: 'pause', code: code ?? status, text };
  if (code === null) return { kind: 'unknown', status, text, retryAfterMs: wait };
  const invalid = parsed?.['invalid-event-number'];
  if (typeof invalid === 'number' && invalid >= 0) {
    // Code 6 stops at the bad envelope after indexing those before it; for other codes Splunk may
    // have refused the whole request, so the rest is sent again (same event_ids, never a loss).
    return { kind: 'partial', index: invalid, processedBefore: code === 6, code, text };
  }
  return { kind: 'reject', code, text };
}

interface HecBody {
  text?: string;
  code?: number;
  ackId?: number;
  'invalid-event-number'?: number;
}

function parseBody(body: string): HecBody | null {
  try {
    const parsed = JSON.parse(body) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as HecBody) : null;
  } catch {
    return null;
  }
}

/** Retry-After in seconds or as an HTTP date. */
export function retryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return null;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const date = Date.parse(text);
  return Number.isFinite(date) ? Math.max(0, date - now) : null;
}
