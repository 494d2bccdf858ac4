import { mkdirSync, mkdtempSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CompactedStore } from '../../src/bus/embedded/compacted-store';
import type { Role } from '../../src/config/variables';
import { incidentCodec } from '../../src/domain/incident';
import type { RedriveResult } from '../../src/dlq/api';
import { SCHEMA_HEADER } from '../../src/shared/avro';
import type { Runtime } from '../../src/runtime/run';
import { ManualClock } from '../helpers/clock';
import { FakeChat } from '../helpers/fake-chat';
import { FakeHec, HEC_REPLIES } from '../helpers/fake-hec';
import { FakeMistApi } from '../helpers/fake-mist-api';
import { allPages } from '../helpers/fixtures';
import { startPipeline } from '../helpers/pipeline';
import { nextIncidentSchema } from '../helpers/schemas';
import { ALL_ROLES, Oracle, QUIET_WINDOW_S, RETENTION_S, ROLE_SETS, missingAtSplunk, command, comparable, describe as describeSequence, eventIdOf, keyOf, untold, versionProblems, webhookBody, type Command, type Post } from './model';
import { post, settle } from './world';

/**
 * Model-based test of the embedded bus, in-process, over the whole product: random sequences of
 * webhooks (real samples), duplicates, events Mist sent that never arrived and back-fill passes
 * that recover them through the Mist API stand-in, crashes (the runtime abandoned without
 * draining, DATA_DIR reopened), restarts with other role sets, clock moves past the sweep and
 * retention, Splunk and chat outages, failed writes of back-fill marks, events and incident versions
 * Splunk refuses and chat messages the chat refuses (dead letters) redriven through the admin API,
 * and incident records rewritten by a later schema version while the process is down. After
 * each sequence, and a last redrive, every accepted and every missed event is at the HEC stand-in (and only missed
 * ones came from back-fill), the incidents API equals the oracle, the gauges agree, incident
 * versions at Splunk never go back (but for a refused one, redriven late), and the generic webhook
 * destination was told every opening and resolution at least once.
 */
const RUNS = Number(process.env.MODEL_RUNS ?? 80);
const GROUP_S = 30;
const UPDATE_MIN_S = 60;
/** The later version every start knows the writer schema of (SCHEMA_HISTORY_DIR: a rolling deploy). */
const NEXT = nextIncidentSchema();

type Pipeline = Runtime & { url: string; adminUrl: string; dataDir: string };

class World {
  readonly clock = new ManualClock();
  readonly oracle = new Oracle();
  readonly accepted: Array<{ body: string; id: string; post: Post; at: number }> = [];
  /** Missed events not yet offered to a back-fill pass, and those offered (whose ids must reach Splunk). */
  readonly missed: Array<{ post: Post; at: number; event: Record<string, unknown> }> = [];
  readonly recovered: string[] = [];
  /** Incident versions Splunk refused (`<incident_id> v<version>`): they reach it when redriven. */
  readonly refused = new Set<string>();
  runtime: Pipeline | null = null;
  roles: Role[] = ALL_ROLES;
  #sequence = 0;

  constructor(
    readonly hec: FakeHec,
    readonly chat: FakeChat,
    readonly api: FakeMistApi,
    readonly dataDir: string,
  ) {}

  async start(roles: Role[]): Promise<void> {
    this.roles = roles;
    this.runtime = await startPipeline(
      {
        DATA_DIR: this.dataDir,
        SCHEMA_HISTORY_DIR: NEXT.dir,
        MISTBRIDGE_ROLES: roles.join(','),
        SPLUNK_HEC_URL: this.hec.url,
        SPLUNK_HEC_TOKEN: this.hec.token,
        SPLUNK_HEC_LINGER_MS: '0',
        SPLUNK_HEC_RETRY_MAX_MS: '20',
        SPLUNK_HEC_GZIP: 'false',
        INCIDENT_RETENTION_S: String(RETENTION_S),
        SECURITY_QUIET_WINDOW_S: String(QUIET_WINDOW_S),
        DRAIN_TIMEOUT_MS: '2000',
        NOTIFY_WEBHOOK_URL: `${this.chat.url}/hook`,
        NOTIFY_SLACK_WEBHOOK_URL: `${this.chat.url}/slack`,
        NOTIFY_GROUP_S: String(GROUP_S),
        INCIDENT_UPDATE_MIN_S: String(UPDATE_MIN_S),
        NOTIFY_MIN_SEVERITY: 'informational',
        NOTIFY_RETRY_MAX_MS: '20',
        MIST_API_TOKEN: this.api.token,
        MIST_API_HOST: this.api.url,
        MIST_ORG_ID: this.api.orgId,
        // Passes run when the model says so (and once at each start).
        MIST_API_RECONCILE_S: '86400',
        MIST_API_INVENTORY_S: '86400',
        MIST_API_BACKFILL_MAX_S: String(30 * 86400),
      },
      { clock: this.clock, processMetrics: false },
    );
    // The pass every start runs is over before the model moves on (it reads the Mist API stand-in).
    await this.runtime.mistApi?.pass();
  }

  /** Nothing in flight: every group committed, the notify windows flushed. */
  async settle(which: 'all' | 'correlator' | 'mistapi', also: () => boolean = () => true): Promise<void> {
    const runtime = this.runtime!;
    await settle(runtime, which, () => {
      for (const n of runtime.notify) void n.flush();
      return also();
    });
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
      case 'missed': {
        const at = this.clock.now() - c.post.ageS * 1000 - ++this.#sequence;
        this.missed.push({ post: c.post, at, event: (JSON.parse(webhookBody(c.post, at)) as { events: Array<Record<string, unknown>> }).events[0]! });
        return;
      }
      case 'backfill': {
        if (!this.roles.includes('mistapi') || this.hec.down !== null) return;
        // Mist knows every event: those its webhooks delivered, and the missed ones offered now
        // (the pass itself waits until the companion has read every webhook on the bus).
        const offered = this.missed.splice(0);
        this.api.alarms = [...this.api.alarms, ...offered.map((m) => m.event), ...this.accepted.filter((a) => a.post.kind === 'device').map((a) => JSON.parse(a.body).events[0])];
        if (c.failedWrite) {
          // A real failed write: the marks' log is a directory for one pass (EISDIR). Its injected
          // webhooks were written, but nothing may count as delivered before its mark is: the
          // next pass finds the same events again.
          await this.settle('mistapi'); // the fault hits the pass, not webhooks the companion has yet to read
          const log = join(runtime.dataDir, 'topics', 'mist.backfill.log');
          renameSync(log, `${log}.aside`);
          mkdirSync(log);
          try {
            await runtime.mistApi!.pass();
            if (offered.length > 0) expect(runtime.mistApi!.status()).toMatchObject({ ok: false, reason: expect.stringMatching(/EISDIR/) });
          } finally {
            rmdirSync(log);
            renameSync(`${log}.aside`, log);
          }
        }
        await runtime.mistApi!.pass();
        // Back-filled webhooks are accepted now: in this order, after everything posted before.
        for (const m of offered) {
          const body = JSON.stringify({ topic: 'alarms', events: [m.event] });
          this.recovered.push(eventIdOf(body));
          this.oracle.apply(m.post, m.at, eventIdOf(body));
        }
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
        if (!this.roles.includes('correlator') || (past && (this.hec.down !== null || this.chat.down !== null || this.roles !== ALL_ROLES))) return;
        await this.settle(past ? 'all' : 'correlator');
        this.clock.advance(c.ms);
        await runtime.correlator!.sweep();
        this.oracle.sweep(this.clock.now());
        return;
      }
      case 'down':
        // The quiet window (not retention) passes while nothing runs: the start-up sweep has work.
        // What was accepted is applied first: an alarm still in flight when a window closes may
        // land on either side of it, which the contract leaves open.
        if (this.roles.includes('correlator')) await this.settle('correlator');
        await runtime.abandon();
        this.clock.advance(c.ms);
        await this.start(this.roles);
        await this.runtime!.correlator?.sweep();
        this.oracle.sweep(this.clock.now());
        return;
      case 'hec':
        this.hec.down = c.up ? null : HEC_REPLIES.busy;
        return;
      case 'chat':
        this.chat.down = c.up ? null : 503;
        return;
      case 'refuse':
        this.hec.refuseOnce = (e) => {
          const incident = e.sourcetype === 'juniper:mist:incident';
          if (incident !== (c.what === 'incident')) return false;
          if (incident) this.refused.add(`${e.event.incident_id as string} v${e.event.version as number}`);
          return true;
        };
        return;
      case 'chatRefuse':
        this.chat.refuseNext.add('/hook');
        return;
      case 'redrive':
        return this.redrive();
      case 'foreign': {
        // The correlator has applied what was accepted: the record rewritten is the one source of its incident's state.
        if (this.roles.includes('correlator')) await this.settle('correlator');
        await runtime.abandon();
        // What a later version wrote: the same incident, under its schema (a field this one lacks).
        const store = new CompactedStore(join(this.dataDir, 'topics'), 'mist.incidents');
        const live = store.load();
        const record = live[c.pick % Math.max(1, live.length)];
        if (record) {
          const incident = incidentCodec().decode(record.value, record.headers[SCHEMA_HEADER]);
          await store.append([{ key: record.key, headers: { ...record.headers, [SCHEMA_HEADER]: NEXT.fingerprint }, value: NEXT.type.toBuffer({ ...incident, next_field: 'from a later version' }) }]);
        }
        return this.start(this.roles);
      }
    }
  }

  /** Redrives every waiting letter of the splunk and notify stages (each to its own destination). */
  async redrive(): Promise<void> {
    for (const stage of ['splunk', 'notify']) {
      const response = await fetch(`${this.runtime!.adminUrl}/api/dlq/redrive`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ stage }) });
      expect(response.status).toBe(200);
      expect(((await response.json()) as RedriveResult).refused).toEqual([]);
    }
  }

  #accept(body: string, p: Post, at: number): void {
    const id = eventIdOf(body);
    this.accepted.push({ body, id, post: p, at });
    this.oracle.apply(p, at, id);
  }
}

describe(`model-based: the embedded bus, in-process, every role (${RUNS} sequences)`, () => {
  jest.setTimeout(900_000);

  it('every accepted and missed event reaches Splunk once back-filled, and incidents, gauges, versions and notifications match the oracle', async () => {
    const [hec, chat, api] = await Promise.all([new FakeHec().start(), new FakeChat().start(), new FakeMistApi().start()]);
    api.orgId = '09dac91f-6e73-4100-89f7-698e0fafbb1b'; // the device alarms' org
    api.visibleOrgs = [api.orgId];
    try {
      await fc.assert(
        fc.asyncProperty(process.env.MODEL_SEQUENCE ? fc.constant(JSON.parse(process.env.MODEL_SEQUENCE) as Command[]) : fc.array(command, { minLength: 3, maxLength: 18 }), async (commands) => {
          hec.indexed.length = 0;
          hec.down = null;
          hec.refuseOnce = null;
          chat.received.length = 0;
          chat.down = null;
          chat.refuseNext.clear();
          api.alarms = [];
          const world = new World(hec, chat, api, mkdtempSync(join(tmpdir(), 'mistbridge-model-')));
          const began = Date.now();
          try {
            await world.start(ALL_ROLES);
            for (const c of commands) await world.run(c);
            // The end of every sequence: Splunk and chat back, every role running, a last pass, everything drained.
            hec.down = null;
            chat.down = null;
            if (world.roles !== ALL_ROLES) {
              await world.runtime!.stop();
              await world.start(ALL_ROLES);
            }
            await world.run({ type: 'backfill', failedWrite: false });
            const runtime = world.runtime!;
            // The interval of counter-only incident versions passes: their latest goes out.
            await world.settle('correlator');
            world.clock.advance(UPDATE_MIN_S * 1000);
            await runtime.correlator!.flush();
            world.oracle.sweep(world.clock.now());
            await runtime.correlator!.sweep();
            // A refusal still armed meets what is still to send; every letter is durable once its
            // group committed: the last redrive takes them all.
            await world.settle('all');
            hec.refuseOnce = null;
            chat.refuseNext.clear();
            await world.redrive();
            const ids = [...world.accepted.map((a) => a.id), ...world.recovered];
            await world.settle('all', () => hec.hasAll(ids) && untold(world.oracle.notifications(), chat.delivered('/hook')).length === 0).catch((err: Error) => {
              throw new Error(`${err.message}; not at Splunk: ${ids.filter((id) => !hec.hasAll([id])).join(', ') || 'none'}; untold: ${untold(world.oracle.notifications(), chat.delivered('/hook')).join(', ') || 'none'}; mist api: ${JSON.stringify(runtime.mistApi?.status())}`);
            });
            await runtime.correlator!.sweep();
            world.oracle.sweep(world.clock.now());
            // Followed through every page (a small page, so sequences with a handful of incidents page too).
            const api = (await allPages<Record<string, unknown>>(`${runtime.adminUrl}/api/incidents?limit=2`)).records;
            expect(comparable(api)).toEqual(world.oracle.expected());
            const gauge = (await runtime.metrics.registry.getSingleMetric('mistbridge_device_up')!.get()).values;
            expect(Object.fromEntries(gauge.map((v) => [v.labels.device_mac, v.value]))).toEqual(world.oracle.deviceUp());
            const open = (await runtime.metrics.registry.getSingleMetric('mistbridge_incidents_open')!.get()).values.reduce((n, v) => n + v.value, 0);
            expect(open).toBe(world.oracle.expected().filter((i) => i.state === 'open').length);
            expect(versionProblems(hec, world.refused)).toEqual([]);
            expect(missingAtSplunk(api, hec)).toEqual([]);
            // Back-fill recovered the missed events, and never one a webhook had delivered.
            const recovered = new Set(world.recovered);
            expect(hec.events().filter((e) => (e.event.attributes as Record<string, string>).source === 'api' && !recovered.has(e.event.event_id as string))).toEqual([]);
            expect(untold(world.oracle.notifications(), chat.delivered('/hook'))).toEqual([]);
          } catch (err) {
            throw new Error(`${(err as Error).message}\nsequence: ${describeSequence(commands)}\nkeys: ${world.accepted.map((a) => keyOf(a.post)).join(', ')}`, { cause: err });
          } finally {
            // MODEL_SLOW=1 names sequences that take long (a wait where none belongs).
            if (process.env.MODEL_SLOW && Date.now() - began > 3000) console.warn(`slow sequence ${Date.now() - began} ms: ${describeSequence(commands)}`);
            await world.runtime?.stop();
            rmSync(world.dataDir, { recursive: true, force: true });
          }
        }),
        { numRuns: RUNS, ...(process.env.MODEL_SEED ? { seed: Number(process.env.MODEL_SEED) } : {}) },
      );
    } finally {
      await Promise.all([hec.stop(), chat.stop(), api.stop()]);
    }
  });
});
