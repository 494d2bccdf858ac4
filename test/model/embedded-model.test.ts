import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Role } from '../../src/config/variables';
import type { Runtime } from '../../src/runtime/run';
import { ManualClock } from '../helpers/clock';
import { FakeHec, HEC_REPLIES } from '../helpers/fake-hec';
import { allPages } from '../helpers/fixtures';
import { startPipeline } from '../helpers/pipeline';
import { ALL_ROLES, Oracle, QUIET_WINDOW_S, RETENTION_S, ROLE_SETS, missingAtSplunk, command, comparable, describe as describeSequence, eventIdOf, keyOf, versionProblems, webhookBody, type Command, type Post } from './model';
import { post, settle } from './world';

/**
 * Model-based test of the embedded bus, in-process: random sequences of webhooks (real samples),
 * duplicates, crashes (the runtime abandoned without draining, DATA_DIR reopened), restarts with
 * other role sets, clock moves past the sweep and retention, and Splunk outages. After each
 * sequence every accepted event is at the HEC stand-in, the incidents API equals the oracle, the
 * device gauge agrees, and incident versions at Splunk never go back.
 */
const RUNS = Number(process.env.MODEL_RUNS ?? 200);

type Pipeline = Runtime & { url: string; adminUrl: string; dataDir: string };

class World {
  readonly clock = new ManualClock();
  readonly oracle = new Oracle();
  readonly accepted: Array<{ body: string; id: string; post: Post; at: number }> = [];
  runtime: Pipeline | null = null;
  roles: Role[] = ALL_ROLES;
  #sequence = 0;

  constructor(
    readonly hec: FakeHec,
    readonly dataDir: string,
  ) {}

  async start(roles: Role[]): Promise<void> {
    this.roles = roles;
    this.runtime = await startPipeline(
      {
        DATA_DIR: this.dataDir,
        MISTBRIDGE_ROLES: roles.join(','),
        SPLUNK_HEC_URL: this.hec.url,
        SPLUNK_HEC_TOKEN: this.hec.token,
        SPLUNK_HEC_LINGER_MS: '0',
        SPLUNK_HEC_RETRY_MAX_MS: '20',
        SPLUNK_HEC_GZIP: 'false',
        INCIDENT_RETENTION_S: String(RETENTION_S),
        SECURITY_QUIET_WINDOW_S: String(QUIET_WINDOW_S),
        DRAIN_TIMEOUT_MS: '2000',
      },
      { clock: this.clock, processMetrics: false },
    );
  }

  async run(c: Command): Promise<void> {
    const runtime = this.runtime!;
    switch (c.type) {
      case 'post': {
        const at = this.clock.now() - c.post.ageS * 1000 - ++this.#sequence;
        const body = webhookBody(c.post, at);
        if ((await post(runtime.url, body)) === 200) this.#accept(body, c.post, at);
        return;
      }
      case 'duplicate': {
        // Only within retention: a duplicate of an event the correlator was allowed to forget is not a duplicate to it.
        const recent = this.accepted.filter((a) => a.at + RETENTION_S * 1000 > this.clock.now() + 60_000);
        const again = recent[c.pick % Math.max(1, recent.length)];
        if (again && (await post(runtime.url, again.body)) === 200) this.#accept(again.body, again.post, again.at);
        return;
      }
      case 'crash':
        await runtime.abandon();
        return this.start(ROLE_SETS[c.roles]!);
      case 'restart':
        await runtime.stop();
        return this.start(ROLE_SETS[c.roles]!);
      case 'advance': {
        // Time passes retention only once everything accepted went everywhere (a replay of webhooks
        // older than retention is outside the contract: their keys may have been forgotten).
        const past = c.ms >= RETENTION_S * 1000;
        if (!this.roles.includes('correlator') || (past && (this.hec.down !== null || this.roles !== ALL_ROLES))) return;
        await settle(runtime, past ? 'all' : 'correlator');
        this.clock.advance(c.ms);
        await runtime.correlator!.sweep();
        this.oracle.sweep(this.clock.now());
        return;
      }
      case 'down':
        // The quiet window (not retention) passes while nothing runs: the start-up sweep has work.
        // What was accepted is applied first: an alarm still in flight when a window closes may
        // land on either side of it, which the contract leaves open.
        if (this.roles.includes('correlator')) await settle(runtime, 'correlator');
        await runtime.abandon();
        this.clock.advance(c.ms);
        await this.start(this.roles);
        await this.runtime!.correlator?.sweep();
        this.oracle.sweep(this.clock.now());
        return;
      case 'hec':
        this.hec.down = c.up ? null : HEC_REPLIES.busy;
        return;
    }
  }

  #accept(body: string, p: Post, at: number): void {
    const id = eventIdOf(body);
    this.accepted.push({ body, id, post: p, at });
    this.oracle.apply(p, at, id);
  }
}

describe(`model-based: the embedded bus, in-process (${RUNS} sequences)`, () => {
  jest.setTimeout(600_000);

  it('every accepted event reaches Splunk, and incidents, gauges and versions match the oracle', async () => {
    const hec = await new FakeHec().start();
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 3, maxLength: 18 }), async (commands) => {
          hec.indexed.length = 0;
          hec.down = null;
          const world = new World(hec, mkdtempSync(join(tmpdir(), 'mistbridge-model-')));
          try {
            await world.start(ALL_ROLES);
            for (const c of commands) await world.run(c);
            // The end of every sequence: Splunk back, every role running, everything drained.
            hec.down = null;
            if (world.roles !== ALL_ROLES) {
              await world.runtime!.stop();
              await world.start(ALL_ROLES);
            }
            const runtime = world.runtime!;
            await settle(runtime, 'all', () => hec.hasAll(world.accepted.map((a) => a.id)));
            await runtime.correlator!.sweep();
            world.oracle.sweep(world.clock.now());
            // Followed through every page (a small page, so sequences with a handful of incidents page too).
            const api = (await allPages<Record<string, unknown>>(`${runtime.adminUrl}/api/incidents?limit=2`)).records;
            expect(comparable(api)).toEqual(world.oracle.expected());
            const gauge = (await runtime.metrics.registry.getSingleMetric('mistbridge_device_up')!.get()).values;
            expect(Object.fromEntries(gauge.map((v) => [v.labels.device_mac, v.value]))).toEqual(world.oracle.deviceUp());
            expect(versionProblems(hec)).toEqual([]);
            expect(missingAtSplunk(api, hec)).toEqual([]);
          } catch (err) {
            throw new Error(`${(err as Error).message}\nsequence: ${describeSequence(commands)}\nkeys: ${world.accepted.map((a) => keyOf(a.post)).join(', ')}`, { cause: err });
          } finally {
            await world.runtime?.stop();
            rmSync(world.dataDir, { recursive: true, force: true });
          }
        }),
        { numRuns: RUNS, ...(process.env.MODEL_SEED ? { seed: Number(process.env.MODEL_SEED) } : {}) },
      );
    } finally {
      await hec.stop();
    }
  });
});
