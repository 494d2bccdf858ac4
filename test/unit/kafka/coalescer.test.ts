import { Coalescer } from '../../../src/bus/kafka/coalescer';

/** A send that resolves when told: the test decides when the broker acknowledges. */
function broker() {
  const sends: Array<{ messages: string[]; ack: () => void; fail: (e: Error) => void }> = [];
  const send = (messages: string[]) => new Promise<void>((ack, fail) => sends.push({ messages, ack: () => ack(), fail }));
  return { sends, send };
}
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Coalescer: produce coalescing', () => {
  it('sends what arrives while a send is in flight as one send, each caller settled by its own', async () => {
    const { sends, send } = broker();
    const c = new Coalescer<string>({ send, lingerMs: 0, maxBytes: 1e6, size: (m) => m.length, splits: () => false });
    const settled: string[] = [];
    void c.add(['a']).then(() => settled.push('a'));
    await tick();
    void c.add(['b']).then(() => settled.push('b'));
    void c.add(['c', 'd']).then(() => settled.push('cd'));
    expect(sends.map((s) => s.messages)).toEqual([['a']]);
    sends[0]!.ack();
    await tick();
    expect(settled).toEqual(['a']); // b and c,d wait for their own acknowledgement
    expect(sends.map((s) => s.messages)).toEqual([['a'], ['b', 'c', 'd']]);
    sends[1]!.ack();
    await tick();
    expect(settled).toEqual(['a', 'b', 'cd']);
  });

  it('never sends more than maxBytes at once, however much gathered while a send was in flight', async () => {
    const { sends, send } = broker();
    const c = new Coalescer<string>({ send, lingerMs: 0, maxBytes: 4, size: (m) => m.length, splits: () => false });
    const settled: string[] = [];
    void c.add(['aa']).then(() => settled.push('aa'));
    await tick();
    for (const m of ['bb', 'cc', 'dd', 'eeeeee', 'ff']) void c.add([m]).then(() => settled.push(m));
    sends[0]!.ack();
    await tick();
    expect(sends.map((s) => s.messages)).toEqual([['aa'], ['bb', 'cc']]);
    for (let i = 1; i < 5; i++) {
      sends[i]!.ack();
      await tick();
    }
    // A caller larger than the bound travels alone; nobody waits for a later send than needed.
    expect(sends.map((s) => s.messages)).toEqual([['aa'], ['bb', 'cc'], ['dd'], ['eeeeee'], ['ff']]);
    expect(settled).toEqual(['aa', 'bb', 'cc', 'dd', 'eeeeee', 'ff']);
  });

  it('waits lingerMs for company, and flushes at once past maxBytes', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    try {
      const { sends, send } = broker();
      const c = new Coalescer<string>({ send, lingerMs: 20, maxBytes: 5, size: (m) => m.length, splits: () => false });
      void c.add(['a']);
      jest.advanceTimersByTime(19);
      void c.add(['b']);
      expect(sends).toHaveLength(0);
      jest.advanceTimersByTime(1);
      expect(sends.map((s) => s.messages)).toEqual([['a', 'b']]);
      sends[0]!.ack();
      await tick();
      void c.add(['123456']);
      expect(sends.map((s) => s.messages)).toEqual([['a', 'b'], ['123456']]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('a failure that may be one caller\'s is retried per caller: the others still succeed', async () => {
    const { sends, send } = broker();
    const c = new Coalescer<string>({ send, lingerMs: 0, maxBytes: 1e6, size: (m) => m.length, splits: (e) => (e as Error).message === 'too large' });
    const first = c.add(['x']);
    await tick();
    const ok = c.add(['ok']);
    const big = c.add(['BIG']);
    sends[0]!.ack();
    await first;
    await tick();
    sends[1]!.fail(new Error('too large'));
    await tick();
    expect(sends.slice(2).map((s) => s.messages)).toEqual([['ok'], ['BIG']]);
    sends[2]!.ack();
    sends[3]!.fail(new Error('too large'));
    await expect(ok).resolves.toBeUndefined();
    await expect(big).rejects.toThrow('too large');
  });

  it('any other failure fails every caller of the send', async () => {
    const { sends, send } = broker();
    const c = new Coalescer<string>({ send, lingerMs: 0, maxBytes: 1e6, size: (m) => m.length, splits: () => false });
    const a = c.add(['a']);
    sends[0]!.fail(new Error('broker down'));
    await expect(a).rejects.toThrow('broker down');
  });
});
