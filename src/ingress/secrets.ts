import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config/config';
import { TENANT_KEY, tenantKey, type Tenant } from '../domain/webhook-path';

/**
 * MIST_WEBHOOK_SECRETS_FILE (CONTRACT section 2). A line is a global secret (0.2: tried on
 * `POST /webhooks/mist`), or keyed, `<org_id> <secret>` / `<org_id>/<site_id> <secret>`: at most
 * two per key (the current and the previous, while rotating), which authenticate that tenant's path
 * and no other. `#` comments and blank lines are skipped.
 */
export interface SecretsContent {
  globals: string[];
  keyed: Map<string, string[]>;
}

/** Keyed secrets per key: Mist's current and previous, nothing more (bounded work per request). */
export const MAX_SECRETS_PER_KEY = 2;

export function parseSecrets(text: string, source: string): { ok: true; content: SecretsContent } | { ok: false; error: string } {
  const globals: string[] = [];
  const keyed = new Map<string, string[]>();
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [first, ...rest] = line.split(/\s+/);
    const key = TENANT_KEY.exec(first!);
    if (!key || rest.length === 0) {
      globals.push(line); // 0.2: the whole line is the secret
      continue;
    }
    if (rest.length > 1) return { ok: false, error: `${source} line ${n + 1}: a keyed line is "<org_id>[/<site_id>] <secret>" (the secret has no spaces)` };
    const id = first!.toLowerCase();
    const list = keyed.get(id) ?? [];
    list.push(rest[0]!);
    if (list.length > MAX_SECRETS_PER_KEY) return { ok: false, error: `${source} line ${n + 1}: more than ${MAX_SECRETS_PER_KEY} secrets for ${id} (the current and the previous while rotating)` };
    keyed.set(id, list);
  }
  if (globals.length === 0 && keyed.size === 0) return { ok: false, error: `${source} holds no secret` };
  return { ok: true, content: { globals, keyed } };
}

/**
 * Which secrets a request's path is checked against. The bare path: every global (the variables'
 * and the file's unkeyed lines). A tenant path: its key's own lines; a site key without lines falls
 * back to its org's; only when neither has lines, the globals. So one tenant's secret never opens
 * another's path, and a keyed tenant costs at most two HMACs whatever the number of tenants.
 */
export class SecretBook {
  #content: SecretsContent;

  constructor(
    private readonly envSecrets: readonly string[],
    content: SecretsContent = { globals: [], keyed: new Map() },
  ) {
    this.#content = content;
  }

  replace(content: SecretsContent): void {
    this.#content = content;
  }

  forTenant(tenant: Tenant | null): readonly string[] {
    if (tenant) {
      const own = this.#content.keyed.get(tenantKey(tenant)) ?? (tenant.siteId ? this.#content.keyed.get(tenant.orgId) : undefined);
      if (own) return own;
    }
    return this.globals();
  }

  globals(): readonly string[] {
    return [...this.envSecrets, ...this.#content.globals];
  }

  /** Orgs that have keyed lines (their own or a site's): the tenants metrics name. */
  orgs(): Set<string> {
    return new Set([...this.#content.keyed.keys()].map((key) => key.split('/')[0]!));
  }

  get size(): number {
    return this.globals().length + this.#content.keyed.size;
  }
}

/** The book of a configuration: its variables' secrets and its secrets file as read at start. */
export function secretBookOf(auth: Config['auth']): SecretBook {
  return new SecretBook(auth.envSecrets, { globals: auth.secrets.slice(auth.envSecrets.length), keyed: auth.keyedSecrets });
}

/**
 * Re-reads the file when it changes: a watch on its directory (a Kubernetes Secret volume swaps a
 * `..data` symlink: the file's own inode never changes) and a poll as a backstop. A new content
 * that is unreadable or invalid keeps the last good one; `onFailure` says why.
 */
export class SecretsFileWatcher {
  #last: string | null;
  #watcher: FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  #failure: string | null = null;

  constructor(
    private readonly path: string,
    initialText: string,
    private readonly onContent: (content: SecretsContent) => void,
    private readonly onFailure: (reason: string) => void,
    private readonly pollMs = 5000,
  ) {
    this.#last = initialText;
  }

  start(): this {
    try {
      this.#watcher = watch(dirname(this.path), () => this.check());
      this.#watcher.on('error', () => undefined); // the poll goes on
      this.#watcher.unref();
    } catch {
      // a directory that cannot be watched: the poll alone
    }
    this.#timer = setInterval(() => this.check(), this.pollMs);
    this.#timer.unref();
    return this;
  }

  /** Why the last reload failed (the last good content is in use), or null. */
  get failure(): string | null {
    return this.#failure;
  }

  check(): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      return this.#fail(`cannot read ${this.path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    if (text === this.#last) return;
    const parsed = parseSecrets(text, this.path);
    if (!parsed.ok) return this.#fail(parsed.error);
    this.#last = text;
    this.#failure = null;
    this.onContent(parsed.content);
  }

  #fail(reason: string): void {
    if (this.#failure === reason) return; // said once per distinct failure
    this.#failure = reason;
    this.onFailure(reason);
  }

  stop(): void {
    this.#watcher?.close();
    if (this.#timer) clearInterval(this.#timer);
  }
}
