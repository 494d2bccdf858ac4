export interface Check {
  ok: boolean;
  reason?: string;
  [detail: string]: unknown;
}

/**
 * /readyz (CONTRACT section 3): ready when every registered check passes. Informational checks
 * (a paused sink) appear in the body but never make the process unready.
 */
export class Readiness {
  readonly #checks = new Map<string, { check: () => Check | Promise<Check>; informational: boolean }>();

  add(name: string, check: () => Check | Promise<Check>, options: { informational?: boolean } = {}): void {
    this.#checks.set(name, { check, informational: options.informational ?? false });
  }

  async report(): Promise<{ ready: boolean; checks: Record<string, Check> }> {
    const checks: Record<string, Check> = {};
    let ready = true;
    for (const [name, { check, informational }] of this.#checks) {
      const result = await check();
      checks[name] = result;
      if (!result.ok && !informational) ready = false;
    }
    return { ready, checks };
  }
}
