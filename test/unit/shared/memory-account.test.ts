import { MemoryAccount } from '../../../src/shared/memory-account';

describe('MemoryAccount: reservations first, measured memory a second brake', () => {
  it('refuses at the reservations bound and wakes a waiting stage when something is released', async () => {
    const account = new MemoryAccount(1000, null);
    const release = account.hold('delivery', 600);
    expect(account.over()).toBeNull();
    account.source('backlog', () => 500);
    expect(account.over()).toMatch(/reservations at their bound/);
    let waited = false;
    const waiting = account.waitForRoom(undefined, [], () => (waited = true));
    release();
    await waiting;
    expect(waited).toBe(true);
    // what a stage holds itself never makes it wait for itself
    const own = account.hold('normalizing', 900);
    await account.waitForRoom(undefined, ['normalizing']);
    own();
    account.close();
  });

  it('engages only on a reading after a full collection (garbage never refuses webhooks), lets go on any low reading', () => {
    let reading = 0;
    const account = new MemoryAccount(Infinity, 1000, () => reading);
    reading = 900;
    account.sample(true); // during start-up (loading stores): never
    expect(account.over()).toBeNull();
    account.arm();
    // between collections: garbage included
    account.sample(false);
    expect(account.over()).toBeNull();
    account.sample(true); // what is alive after a full collection
    expect(account.over()).toMatch(/measured/);
    reading = 700; // under 75 % but not under 60 %: hysteresis
    account.sample(false);
    expect(account.over()).toMatch(/measured/);
    reading = 500;
    account.sample(false);
    expect(account.over()).toBeNull();
    account.close();
  });

  it('while braking with no full collection for 2 s, asks for one (a refusing process allocates too little to collect by itself)', () => {
    let reading = 900;
    let collections = 0;
    const account = new MemoryAccount(Infinity, 1000, () => reading, () => {
      collections++;
      reading = 400; // what is alive once the garbage is gone
      account.sample(true);
    });
    account.arm();
    account.sample(true); // engaged
    const engagedAt = performance.now();
    account.tick(engagedAt + 500);
    expect(collections).toBe(0);
    expect(account.over()).toMatch(/measured/);
    account.tick(engagedAt + 2500);
    expect(collections).toBe(1);
    expect(account.over()).toBeNull();
    account.tick(engagedAt + 9000); // not braking: never asks
    expect(collections).toBe(1);
    account.close();
  });
});
