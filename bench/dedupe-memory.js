// Heap held by a full dedupe window at 1,000 events/s (DEDUPE_WINDOW_S=600: 600,000 ids), which a
// 15-second run never reaches. Run with --expose-gc; prints MB.
const { join } = require('node:path');
const ROOT = join(__dirname, '..');
const { DedupeWindow } = require(join(ROOT, 'dist', 'normalizer', 'dedupe.js'));
const { eventId } = require(join(ROOT, 'dist', 'normalizer', 'event-id.js'));

global.gc();
const before = process.memoryUsage().heapUsed;
const window = new DedupeWindow(600_000);
for (let second = 0; second < 600; second++) {
  const ids = [];
  for (let i = 0; i < 1000; i++) ids.push(eventId('alarms', { type: 'device_down', seq: second * 1000 + i }));
  window.add(ids, second * 1000);
}
global.gc();
const held = process.memoryUsage().heapUsed - before;
if (!window.has(eventId('alarms', { type: 'device_down', seq: 0 }), 600_000)) throw new Error('the window lost an id'); // keeps it alive, too
console.log((held / 2 ** 20).toFixed(1));
