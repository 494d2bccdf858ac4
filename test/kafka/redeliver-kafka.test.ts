import { KafkaBus } from '../../src/bus/kafka/kafka-bus';
import { topicNames } from '../../src/bus/topics';
import { redeliverCommand } from '../../src/commands/redeliver';
import { loadConfig } from '../../src/config/load';
import { silentLogger } from '../../src/shared/logger';
import { eventIdsOf } from '../helpers/events';
import { FakeHec } from '../helpers/fake-hec';
import { sampleJson } from '../helpers/fixtures';
import { KafkaBroker, TEST_TOPICS, kafkaBrokerAvailability } from '../helpers/kafka-broker';

const unavailable = kafkaBrokerAvailability();
if (unavailable) console.warn(`skipping Kafka tests: ${unavailable}`);

const HOUR = 3_600_000;
const HOURS = 40;
const PER_HOUR = 5;

/** An alarm webhook of one switch, timed `ms`. */
function alarm(ms: number, mac: string): Buffer {
  const body = sampleJson('alarms__switch-down-alarmdef.json');
  return Buffer.from(JSON.stringify({ ...body, events: body.events.map((e) => ({ ...e, timestamp: Math.floor(ms / 1000), last_seen: Math.floor(ms / 1000), switches: [mac], id: `alarm-${mac}` })) }));
}

/**
 * `mistbridge redeliver` on Kafka: the raw topic holds 40 hours of webhooks (one produce per hour,
 * so many record batches per partition); the window's first and last offsets are found by binary
 * search on the `received_at` header: exactly the window's events, and the rest of the topic never
 * read.
 */
(unavailable ? describe.skip : describe)('mistbridge redeliver on Kafka', () => {
  jest.setTimeout(120_000);

  it('finds a window of 40 hours of raw webhooks by received_at and re-delivers exactly its events', async () => {
    const broker = await new KafkaBroker().start(1, TEST_TOPICS);
    const hec = await new FakeHec().start();
    const env = { KAFKA_BROKERS: broker.bootstrap, KAFKA_IDEMPOTENT: 'false', KAFKA_SESSION_TIMEOUT_MS: '6000', SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token };
    const config = loadConfig(env, { roles: [] });
    const bus = new KafkaBus(config.kafka!, topicNames('mist.'), silentLogger());
    try {
      const base = Math.floor(Date.now() / HOUR) * HOUR - HOURS * HOUR;
      const inWindow: Buffer[] = [];
      for (let h = 0; h < HOURS; h++) {
        const bodies = Array.from({ length: PER_HOUR }, (_, i) => alarm(base + h * HOUR, `aaaa${String(h).padStart(4, '0')}${String(i).padStart(4, '0')}`));
        if (h >= 20 && h <= 22) inWindow.push(...bodies);
        // Received a minute after the events' own time.
        await bus.produce('mist.raw', bodies.map((value, i) => ({ key: `k${h}-${i}`, value, headers: { received_at: String(base + h * HOUR + 60_000), content_type: 'application/json' } })));
      }

      const terminal: string[] = [];
      const lines: string[] = [];
      const out = { stdout: (l: string) => lines.push(l), stderr: (l: string) => lines.push(`stderr: ${l}`) };
      const window = ['--from', String(base + 20 * HOUR), '--until', String(base + 22 * HOUR), '--margin', '10m'];

      expect(await redeliverCommand([...window, '--sink', 'splunk'], config, silentLogger(), out, { terminal: (t) => terminal.push(t) })).toBe(0);
      expect(lines).toEqual([`redelivered ${3 * PER_HOUR} of ${3 * PER_HOUR} events to Splunk`]);
      expect(hec.events().map((e) => e.event.event_id).sort()).toEqual(eventIdsOf(inWindow).sort());
      // The bar: the webhooks the window may hold, found by two binary searches (hours 20 to 22), all read
      const bar = terminal.filter((t) => t.startsWith('\r[')).at(-1)!;
      expect(bar).toMatch(new RegExp(`^\\r\\[#{30}\\] ${3 * PER_HOUR} events, ${3 * PER_HOUR}/${3 * PER_HOUR} webhooks read, \\d+/s, ETA 0s $`));
      expect(terminal.at(-1)).toBe('\n');

      // Past the raw topic's retention (a day here): refused with the earliest --from that works, nothing delivered
      hec.indexed.splice(0);
      const dayConfig = loadConfig({ ...env, KAFKA_RAW_RETENTION_MS: '86400000' }, { roles: [] });
      expect(await redeliverCommand(['--from', String(base + 5 * HOUR), '--until', String(base + 6 * HOUR), '--sink', 'splunk'], dayConfig, silentLogger(), out)).toBe(2);
      expect(lines.at(-1)).toMatch(/^stderr: the window is past retention: .* the earliest --from that would work is .* KAFKA_RAW_RETENTION_MS/);
      expect(hec.events()).toHaveLength(0);
    } finally {
      await bus.close();
      await hec.stop();
      await broker.stop();
    }
  });
});
